"""What every training entry point shares: typed arguments, device, seeds, logs, resumable state.

Arguments are a ``@dataclass`` whose fields carry their help text (``arg(default, "help")``);
:func:`parse_args` turns it into an ``argparse`` parser, so each script declares its options once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import time
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch

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


def parse_args(cls: type[T], argv: list[str] | None = None, description: str | None = None) -> T:
    """Parse the command line into an instance of the dataclass ``cls``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        tp, optional = _field_type(hints[f.name])
        help_text = f.metadata.get("help", "")
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_text)
        else:
            choices = typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else None
            base = type(choices[0]) if choices else tp
            parser.add_argument(
                flag,
                type=_optional(base) if optional else base,
                choices=choices,
                default=f.default,
                help=help_text,
            )
    return cls(**vars(parser.parse_args(argv)))


def pick_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``mps`` or ``auto`` (the best available), with a clear error if absent."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise SystemExit("--device mps: MPS is not available on this machine; use --device cpu")
    if not (name in ("cpu", "mps") or name.startswith("cuda")):
        raise SystemExit(f"--device must be cpu, cuda, cuda:N, mps or auto, got {name!r}")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state(*generators: torch.Generator) -> dict[str, Any]:
    """Every random stream a run draws from, to store in a checkpoint."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "generators": [g.get_state() for g in generators]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], *generators: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    for g, s in zip(generators, state["generators"], strict=True):
        g.set_state(s)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class MetricsLog:
    """Append-only JSON lines, one record per epoch (readable by pandas ``read_json(lines=True)``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: Any) -> None:
        record.setdefault("time", time.time())
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def config_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a JSON-friendly dict (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(obj).items()}


@dataclasses.dataclass
class RunArgs:
    """Options every training entry point has (each script redefines defaults that differ)."""

    out: str = arg("runs/run", "run folder for checkpoints and logs")
    resume: bool = arg(False, "continue the run in --out from its last.pt (saved options are reused)")
    device: str = arg("auto", "cpu, cuda, mps or auto")
    threads: int | None = arg(None, "torch CPU threads (default: torch's choice)")
    seed: int = arg(0, "seed for weights, batches and sampling")
    epochs: int = arg(10, "training epochs")
    batch_size: int = arg(32, "examples per optimisation step")
    lr: float = arg(1e-3, "Adam learning rate at the start of the schedule")
    schedule: Literal["cosine", "linear", "constant"] = arg("cosine", "learning-rate decay to zero")
    progress: bool = arg(True, "show progress bars")


A = TypeVar("A", bound=RunArgs)


def start_run(a: A, script: str) -> tuple[A, dict[str, Any] | None, torch.device, torch.Generator]:
    """Resume from ``--out/last.pt`` (its saved options win, except run-time ones) or refuse to
    overwrite a run; then threads, denormal flushing, device and seeds.

    Returns (options, checkpoint or None, device, the generator for batches and sampling).
    """
    from glimpse.checkpoint import load_checkpoint

    last = Path(a.out) / "last.pt"
    ckpt = None
    if a.resume:
        ckpt = load_checkpoint(last)
        saved = ckpt["args"]
        saved.update(resume=True, device=a.device, threads=a.threads, progress=a.progress)  # run-time only
        a = type(a)(**saved)
    elif last.exists():
        raise SystemExit(f"{last} exists: pass --resume to continue that run, or choose another --out")
    if a.threads:
        torch.set_num_threads(a.threads)
    # Trained weights and Adam's moments drift into denormal floats, which slow CPU arithmetic
    # (bench: 7,200-7,600 -> 10,100 images/s on a trained RAM model); flushing them is harmless.
    torch.set_flush_denormal(True)
    device = pick_device(a.device)
    seed_everything(a.seed)
    return a, ckpt, device, torch.Generator().manual_seed(a.seed)


def make_schedule(opt: torch.optim.Optimizer, kind: str, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning-rate factor per optimisation step: cosine or linear decay to zero, or constant."""

    def factor(step: int) -> float:
        t = min(step / max(total_steps, 1), 1.0)
        return {"cosine": 0.5 * (1 + math.cos(math.pi * t)), "linear": 1 - t, "constant": 1.0}[kind]

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def restore(ckpt: dict[str, Any] | None, opt, sched, gen: torch.Generator) -> tuple[int, float, float]:
    """Optimiser, schedule and random state from a checkpoint: (first epoch, best value, wall s)."""
    if ckpt is None:
        return 0, float("inf"), 0.0
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"], gen)
    return ckpt["epoch"] + 1, ckpt["best_val"], ckpt["wall"]


def run_state(a: RunArgs, opt, sched, gen: torch.Generator, epoch: int, best: float, wall: float) -> dict[str, Any]:
    """What ``last.pt`` holds besides the model, for :func:`restore`."""
    return dict(
        optimizer=opt.state_dict(),
        scheduler=sched.state_dict(),
        epoch=epoch,
        best_val=best,
        wall=wall,
        rng=rng_state(gen),
        args=config_dict(a),
    )


def interrupted(epoch: int, out: str, script: str) -> SystemExit:
    """The message for Ctrl-C during an epoch: what is saved and how to continue."""
    done = f"epoch {epoch} is saved in {Path(out) / 'last.pt'}" if epoch else "no epoch finished yet"
    return SystemExit(
        f"interrupted during epoch {epoch + 1}; {done}. Continue with: python -m {script} --resume --out {out}"
    )


def load_best(out: str | os.PathLike[str], device: torch.device) -> tuple[dict[str, Any], torch.nn.Module]:
    """The run's ``best.pt``, read once: (checkpoint dict, model on ``device`` in eval mode)."""
    from glimpse.checkpoint import build_model, load_checkpoint

    ckpt = load_checkpoint(Path(out) / "best.pt", device)
    return ckpt, build_model(ckpt).to(device).eval()
