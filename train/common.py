"""What every training entry point shares: typed options, device, seeds, random state, logs.

Options are a ``@dataclass`` whose fields carry their help text (``arg(default, "help")``). A field
whose type is a model config (``model: RAMConfig``) contributes that config's own options
(:func:`glimpse.config.option`) under their own names, so each option is declared once, in the
library, and the checkpoint's config is exactly what the flags said.
:func:`parse_command_line` turns the dataclass into an ``argparse`` parser.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import random
import re
import sys
import time
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from glimpse.config import is_option
from glimpse.errors import UsageError
from glimpse.files import atomic_path

T = TypeVar("T")


def arg(default: Any, help: str) -> Any:
    """A dataclass field with a default and a help text for the command line."""
    return dataclasses.field(default=default, metadata={"help": help})


def _field_type(tp: Any) -> tuple[Any, bool]:
    """(base type, optional?) of an annotation such as ``int``, ``str | None`` or ``bool``."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return tp, False


def _optional(tp: Any) -> Any:
    """A converter that reads ``none`` as None and anything else as ``tp``."""

    def convert(text: str) -> Any:
        return None if text.lower() == "none" else tp(text)

    convert.__name__ = tp.__name__
    return convert


def options(cls: type) -> Iterator[tuple[str | None, dataclasses.Field, Any]]:
    """(owning config field or None, field, type) of every command-line option of ``cls``; the
    options of a nested config dataclass are its :func:`glimpse.config.option` fields."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            sub = typing.get_type_hints(hints[f.name])
            yield from ((f.name, g, sub[g.name]) for g in dataclasses.fields(hints[f.name]) if is_option(g))
        else:
            yield None, f, hints[f.name]


class _Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help keeps the script docstring's lines (its example commands) and shows every default."""


def _parser(cls: type, description: str | None, suppress: bool, prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, formatter_class=_Help)
    seen: set[str] = set()
    for _, f, tp in options(cls):
        if f.name in seen:
            raise TypeError(f"{cls.__name__}: option --{f.name} is declared twice")
        seen.add(f.name)
        flag, (tp, optional) = "--" + f.name.replace("_", "-"), _field_type(tp)
        default = argparse.SUPPRESS if suppress else f.default
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=f.metadata["help"])
            continue
        choices = typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else None
        base = type(choices[0]) if choices else tp
        convert = _optional(base) if optional else base
        parser.add_argument(flag, type=convert, choices=choices, default=default, help=f.metadata.get("help", ""))
    return parser


def build(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of ``cls`` from flat option values (missing ones keep their defaults); a config's
    own validation error becomes a :class:`UsageError`."""
    hints = typing.get_type_hints(cls)
    outer = {f.name: values[f.name] for owner, f, _ in options(cls) if owner is None and f.name in values}
    try:
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                names = {g.name for g in dataclasses.fields(hints[f.name])}
                outer[f.name] = hints[f.name](**{k: v for k, v in values.items() if k in names})
        return cls(**outer)
    except ValueError as err:
        raise UsageError(str(err)) from None


def flat(obj: Any) -> dict[str, Any]:
    """Every field of an options dataclass by name, nested config fields included (flattened)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        out.update(flat(value) if dataclasses.is_dataclass(value) else {f.name: value})
    return out


def parse_command_line(
    cls: type[T], argv: list[str] | None = None, description: str | None = None, prog: str | None = None
) -> tuple[T, set[str]]:
    """Parse the command line into an instance of ``cls``; also the names of the options given.

    If ``cls`` has ``implied_options(values) -> dict``, the options it returns replace the
    defaults of those not given on the command line (train.ram: a task's retina follows
    ``--dataset``, while an explicit ``--glimpse-size`` still wins).
    """
    # the parser with defaults first: it is the one that answers --help, showing them
    values = vars(_parser(cls, description, False, prog).parse_args(argv))
    given = vars(_parser(cls, description, True, prog).parse_args(argv))
    implied = getattr(cls, "implied_options", None)
    if implied is not None:
        values.update({k: v for k, v in implied(values).items() if k not in given})
    return build(cls, values), set(given)


def parse_args(cls: type[T], argv: list[str] | None = None, description: str | None = None) -> T:
    """Parse the command line into an instance of the dataclass ``cls``."""
    return parse_command_line(cls, argv, description)[0]


def config_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a JSON-friendly dict (nested configs as dicts, paths as strings)."""
    return json.loads(json.dumps(dataclasses.asdict(obj), default=str))


def pick_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``mps`` or ``auto`` (the best available), with a clear error if absent."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not (name in ("cpu", "mps") or re.fullmatch(r"cuda(:\d+)?", name)):
        raise UsageError(f"--device must be cpu, cuda, cuda:N, mps or auto, got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps: MPS is not available on this machine; use --device cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(*generators: torch.Generator) -> dict[str, Any]:
    """Every random stream a run draws from, to store in a checkpoint."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "generators": [g.get_state() for g in generators]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any], *generators: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    for g, s in zip(generators, state["generators"], strict=True):
        g.set_state(s)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])


class MetricsLog:
    """Append-only JSON lines, one record per epoch (readable by pandas ``read_json(lines=True)``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def write(self, **record: Any) -> None:
        record.setdefault("time", time.time())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def keep_epochs(self, last: int) -> None:
        """Drop the records after epoch ``last`` (a run killed after logging an epoch but before
        saving it logs that epoch again when it resumes)."""
        if not self.path.exists():
            return
        lines = [x for x in self.path.read_text().splitlines() if x.strip()]
        keep = [x for x in lines if json.loads(x).get("epoch", 0) <= last]
        if keep != lines:
            with atomic_path(self.path) as tmp:
                tmp.write_text("".join(x + "\n" for x in keep))


@dataclasses.dataclass
class RunArgs:
    """Options every training entry point has (each script redefines defaults that differ)."""

    out: str = arg("runs/run", "run folder for checkpoints and logs")
    resume: bool = arg(False, "continue the run in --out from its last.pt (its options are kept; see --help)")
    device: str = arg("auto", "cpu, cuda, cuda:N, mps or auto")
    threads: int | None = arg(None, "torch CPU threads (default: torch's choice)")
    seed: int = arg(0, "seed for weights, batches and sampling")
    epochs: int = arg(10, "training epochs")
    batch_size: int = arg(32, "examples per optimisation step (the global batch under torchrun)")
    lr: float = arg(1e-3, "Adam learning rate at the start of the schedule")
    schedule: Literal["cosine", "linear", "constant"] = arg("cosine", "learning-rate decay to zero")
    clip: float | None = arg(None, "clip the gradient norm to this (none: no clipping)")
    progress: bool = arg(True, "show progress bars")
    amp: bool = arg(False, "train under bfloat16 autocast (for CPUs with AVX512-BF16 or AMX); weights stay float32")
    init_from: str | None = arg(
        None, "start from the weights of this trained model of the same architecture (a curriculum); fresh optimiser"
    )

    def __post_init__(self) -> None:
        at_least_one("epochs", "batch_size", obj=self)
        if not 0 < self.lr < math.inf:
            raise UsageError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.clip is not None and not 0 < self.clip < math.inf:
            raise UsageError(f"--clip must be a finite number > 0 or none, got {self.clip}")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {self.threads}")


def at_least_one(*names: str, obj: Any) -> None:
    """Refuse options among ``names`` that are below 1 (``None`` means unset and passes)."""
    for name in names:
        value = getattr(obj, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def make_schedule(opt: torch.optim.Optimizer, kind: str, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning-rate factor per optimisation step: cosine or linear decay to zero, or constant."""

    def factor(step: int) -> float:
        t = min(step / max(total_steps, 1), 1.0)
        return {"cosine": 0.5 * (1 + math.cos(math.pi * t)), "linear": 1 - t, "constant": 1.0}[kind]

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@contextlib.contextmanager
def user_errors(script: str) -> Iterator[None]:
    """Report a user's mistake (:class:`UsageError`, a missing file) as one line and exit with
    status 2; programming errors still raise with a traceback."""
    try:
        yield
    except (UsageError, FileNotFoundError) as err:
        print(f"{script}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def entry_point(script: str, main: Callable[[list[str] | None], Any]) -> None:
    """Run ``main`` as ``python -m script``: user errors as one line and exit status 2."""
    with user_errors(script):
        main(None)
