"""Checkpoints: written atomically, loaded with ``weights_only=True``, carrying their config.

A checkpoint is a plain dict of tensors and Python primitives::

    {"format": 1, "kind": "ram", "config": {...dataclass fields...}, "model": state_dict,
     ...training state such as "optimizer", "scheduler", "epoch", "rng"...}

so that :func:`load_model` rebuilds the model with no flags, and ``torch.load(weights_only=True)``
can read it without executing code.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from glimpse.files import atomic_path
from glimpse.painter import Painter, PainterConfig
from glimpse.ram import RAM, RAMConfig

FORMAT = 1
MODELS: dict[str, tuple[type[nn.Module], type]] = {"ram": (RAM, RAMConfig), "painter": (Painter, PainterConfig)}


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, or not one this version can load."""


def save_checkpoint(path: str | os.PathLike[str], kind: str, model: nn.Module, **extra: Any) -> None:
    """Write ``model`` (with its ``cfg`` dataclass) and ``extra`` state to ``path`` atomically:
    a temporary file in the same folder, flushed, then renamed over the old one."""
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(MODELS)}")
    payload = {
        "format": FORMAT,
        "kind": kind,
        "config": dataclasses.asdict(model.cfg),
        "model": model.state_dict(),
        **extra,
    }
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint dict, with a clear error for a missing, truncated or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # zip errors, unpickling errors, EOF: all mean "not readable"
        raise CheckpointError(f"checkpoint {path} is truncated or not a glimpse checkpoint ({err})") from err
    if not isinstance(ckpt, dict) or "kind" not in ckpt or "config" not in ckpt or "model" not in ckpt:
        raise CheckpointError(f"{path} is not a glimpse checkpoint (no kind/config/model entries)")
    if ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {ckpt.get('format')}; this version reads {FORMAT}")
    if ckpt["kind"] not in MODELS:
        raise CheckpointError(f"{path} holds an unknown model kind {ckpt['kind']!r}")
    return ckpt


def build_model(ckpt: dict[str, Any]) -> nn.Module:
    """Rebuild the model a checkpoint dict describes and load its weights."""
    model_cls, config_cls = MODELS[ckpt["kind"]]
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(ckpt["config"]) - known)
    if unknown:
        raise CheckpointError(f"checkpoint config has fields this version does not know: {unknown}")
    model = model_cls(config_cls(**ckpt["config"]))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint weights do not fit its config: {err}") from err
    return model


def load_model(path: str | os.PathLike[str], kind: str | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """Load a model from a checkpoint with no other information, in eval mode."""
    ckpt = load_checkpoint(path, map_location=device)
    if kind is not None and ckpt["kind"] != kind:
        raise CheckpointError(f"{path} holds a {ckpt['kind']!r} model, not {kind!r}")
    return build_model(ckpt).to(device).eval()


def export_checkpoint(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], half: bool = True, keep: tuple[str, ...] = ()
) -> Path:
    """Write a small copy of a checkpoint for shipping: the model and its config only (plus the
    ``keep`` entries, e.g. measured results), weights optionally stored as float16. Loading casts
    them back to the model's float32 parameters."""
    ckpt = load_checkpoint(src)
    weights = {k: v.half() if half and v.is_floating_point() else v for k, v in ckpt["model"].items()}
    payload = {"format": FORMAT, "kind": ckpt["kind"], "config": ckpt["config"], "model": weights}
    payload.update({k: ckpt[k] for k in keep if k in ckpt})
    with atomic_path(dst) as tmp, tmp.open("wb") as f:
        torch.save(payload, f)
    return Path(dst)
