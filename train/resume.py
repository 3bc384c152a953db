"""Starting a run, or resuming one, without losing or mixing up anything.

- A new run refuses a folder that already holds a run's ``last.pt`` (pass ``--resume``). A
  folder whose run was killed before its first epoch was saved (a ``metrics.jsonl`` and nothing
  else) starts again from scratch.
- ``--resume --out DIR`` continues the run saved in ``DIR/last.pt`` and writes to ``DIR``, the
  folder given now, never to the folder the run was started in: a copied or moved run folder
  resumes where it is.
- A resumed run keeps the options it was started with. The run-time options (``--device``,
  ``--threads``, ``--progress``) may differ, and so may the recipe's ``resumable`` ones (for
  example ``--epochs``, where the learning-rate schedule is stretched over the new length from the
  current step on); any other option given with a different value is refused with its name.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

from glimpse.checkpoint import load_checkpoint
from glimpse.errors import UsageError
from train.common import build, flat, options

RUNTIME = frozenset({"out", "resume", "device", "threads", "progress"})
A = TypeVar("A")


def saved_options(cls: type[A], saved: dict[str, Any]) -> A:
    """The options a run was started with, from its checkpoint (nested configs or, from runs
    older than configs in options, flat)."""
    values: dict[str, Any] = {}
    for k, v in saved.items():
        values.update(v if isinstance(v, dict) else {k: v})
    if values.get("init") is not None:  # train.paint's --init, now the loop's --init-from
        values.setdefault("init_from", values["init"])
    values.pop("init", None)  # ... whose runs saved init: None
    known = {f.name for _, f, _ in options(cls)}
    unknown = sorted(set(values) - known - _derived(cls))
    if unknown:
        raise UsageError(f"the run was started with options this version does not have: {unknown}")
    return build(cls, {k: v for k, v in values.items() if k in known})


def _derived(cls: type) -> set[str]:
    """Names of config fields set from the data (saved in the run, not options)."""
    hints = typing.get_type_hints(cls)
    configs = [hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])]
    return {g.name for config in configs for g in dataclasses.fields(config)}


def resume_or_start(a: A, given: set[str], resumable: frozenset[str]) -> tuple[A, dict[str, Any] | None]:
    """The options to run with and the checkpoint to continue (None for a new run)."""
    out = Path(a.out)
    last = out / "last.pt"
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if not a.resume:
        if last.exists():
            raise UsageError(f"{last} exists: pass --resume to continue that run, or choose another --out")
        return a, None
    if not last.is_file():
        raise UsageError(f"--resume: {last} does not exist, so there is no run to continue; start without --resume")
    ckpt = load_checkpoint(last)
    saved = saved_options(type(a), ckpt["args"])
    now, before = flat(a), flat(saved)
    changed = {k for k in given - RUNTIME if now[k] != before.get(k)}
    refused = sorted(changed - resumable)
    if refused:
        said = ", ".join(f"--{k.replace('_', '-')} {now[k]} (the run has {before.get(k)})" for k in refused)
        allowed = ", ".join(f"--{k.replace('_', '-')}" for k in sorted(resumable | RUNTIME - {"out", "resume"}))
        raise UsageError(f"a resumed run keeps its options; cannot change {said}. Options that may change: {allowed}")
    keep = {k: now[k] for k in RUNTIME | changed}
    merged = build(type(a), {**before, **keep})
    done = ckpt["epoch"] + 1
    if merged.epochs < done:
        raise UsageError(f"--epochs {merged.epochs}: the run in {out} has already trained {done} epochs")
    return merged, ckpt
