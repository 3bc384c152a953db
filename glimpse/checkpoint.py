"""Checkpoints: written atomically, loaded with ``weights_only=True``, carrying their config.

A checkpoint is a plain dict of tensors and Python primitives::

    {"format": 2, "kind": "ram", "config": {...dataclass fields...}, "model": state_dict,
     ...training state such as "optimizer", "scheduler", "epoch", "rng"...}

so that :func:`load_model` rebuilds the model with no flags, and ``torch.load(weights_only=True)``
can read it without executing code. Format 1 is still read (:func:`migrate` brings it to 2). A
file that is not a checkpoint, a foreign pickle, weights that are not finite or a config this
version does not know raise :class:`CheckpointError`, a user's mistake (one line, exit status 2).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from glimpse.cnn import CNN, CNNConfig
from glimpse.draw import DRAW, DRAWConfig
from glimpse.errors import UsageError
from glimpse.files import atomic_path
from glimpse.painter import Painter, PainterConfig
from glimpse.ram import RAM, RAMConfig
from glimpse.soft import SoftAttention, SoftAttentionConfig

FORMAT = 2
READABLE_FORMATS = (1, 2)
MODELS: dict[str, tuple[type[nn.Module], type]] = {
    "ram": (RAM, RAMConfig),
    "painter": (Painter, PainterConfig),
    "draw": (DRAW, DRAWConfig),
    "soft": (SoftAttention, SoftAttentionConfig),
    "cnn": (CNN, CNNConfig),
}


class CheckpointError(UsageError):
    """A checkpoint that is truncated, foreign, not finite, or not one this version can load."""


def migrate(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Bring a checkpoint dict of any readable format to the current one (2), in place.

    Format 2 differs from format 1 only in a painter's ``encoder_size``: format 1 wrote ``None``
    (or nothing) for "the encoder sees the picture at ``size``", while from format 2 on ``None``
    means "half of ``size``, at least 16". A format-1 painter therefore gets ``encoder_size = size``,
    its old meaning, so that it rebuilds the model its weights were trained in. Painters older than
    solved colours hold no ``colour`` field: they get ``"head"``, the only colouring they knew.
    """
    if ckpt["format"] == 1 and ckpt["kind"] == "painter":
        size = ckpt["config"].get("size", PainterConfig.size)  # a field absent from a config takes its default
        old = {"encoder_size": size, "colour": "head"}  # format 1's meaning of absent or None
        ckpt["config"] = {**ckpt["config"], **{k: v for k, v in old.items() if ckpt["config"].get(k) is None}}
    ckpt["format"] = FORMAT
    return ckpt


def _unreadable(path: Path, err: BaseException) -> str:
    """What a file torch cannot load is, in words (never torch's advice to load with
    ``weights_only=False``, which would run whatever code the file holds)."""
    with path.open("rb") as f:
        head = f.read(4)
    if not head:
        return "the file is empty"
    found = re.search(r"GLOBAL ([\w.]+)", str(err)) if isinstance(err, pickle.UnpicklingError) else None
    if found:
        return (
            f"it holds Python objects ({found.group(1)}) that would run code when loaded; "
            "glimpse loads only tensors and plain values and refuses such files"
        )
    if head.startswith(b"PK"):
        return "a damaged or truncated zip archive (PyTorch checkpoints are zip files; was it copied in full?)"
    if isinstance(err, pickle.UnpicklingError):
        return "not a PyTorch checkpoint (not a pickle of tensors and plain values)"
    return f"not a PyTorch checkpoint ({type(err).__name__} reading it)"


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
    """Read a checkpoint dict in the current format (format 1 is migrated), with a clear error for
    a missing, truncated or foreign file. Code in a foreign pickle is never run."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch's notes on foreign pickles are not the user's business
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError as err:  # the file itself; other OSErrors come from torch's reader
        raise CheckpointError(f"cannot read checkpoint {path}: {err.strerror or err}") from None
    except Exception as err:  # zip errors, unpickling errors, EOF: all mean "not readable"
        raise CheckpointError(f"{path} is truncated or not a glimpse checkpoint: {_unreadable(path, err)}") from None
    if not isinstance(ckpt, dict) or "kind" not in ckpt or "config" not in ckpt or "model" not in ckpt:
        raise CheckpointError(
            f"{path} is not a glimpse checkpoint (no kind/config/model entries; "
            "write checkpoints with glimpse.checkpoint.save_checkpoint)"
        )
    if ckpt.get("format") not in READABLE_FORMATS:
        raise CheckpointError(
            f"{path} has checkpoint format {ckpt.get('format')!r}; this version reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))} (was it written by a newer glimpse?)"
        )
    if ckpt["kind"] not in MODELS:
        raise CheckpointError(f"{path} holds an unknown model kind {ckpt['kind']!r}; known: {sorted(MODELS)}")
    if not isinstance(ckpt["config"], dict) or not isinstance(ckpt["model"], dict):
        raise CheckpointError(f"{path} is not a glimpse checkpoint (its config or model entry is not a dict)")
    return migrate(ckpt)


def check_finite_weights(weights: dict[str, Any], what: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` naming the first tensor with NaN or infinite values."""
    for name, value in weights.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(
                f"{what} weights are not finite: {name} has {bad} NaN or infinite value(s) of "
                f"{value.numel()} (a diverged run?); use an earlier checkpoint"
            )


def build_model(ckpt: dict[str, Any]) -> nn.Module:
    """Rebuild the model a checkpoint dict describes and load its weights; refuse unknown config
    fields (listing them) and weights that are not finite (naming the first bad tensor)."""
    model_cls, config_cls = MODELS[ckpt["kind"]]
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(ckpt["config"]) - known)
    if unknown:
        raise CheckpointError(
            f"checkpoint config has fields this version of glimpse does not know: {', '.join(unknown)} "
            f"(written by a newer version?); known {ckpt['kind']} fields: {', '.join(sorted(known))}"
        )
    check_finite_weights(ckpt["model"])
    try:
        model = model_cls(config_cls(**ckpt["config"]))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint config is not a valid {ckpt['kind']} config: {err}") from None
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise CheckpointError(
            f"checkpoint weights do not fit its config: {' '.join(line.strip() for line in first)}"
        ) from None
    return model


def load_model(path: str | os.PathLike[str], kind: str | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """Load a model from a checkpoint with no other information, in eval mode."""
    ckpt = load_checkpoint(path, map_location=device)
    if kind is not None and ckpt["kind"] != kind:
        raise CheckpointError(f"{path} holds a {ckpt['kind']!r} model, not {kind!r}")
    try:
        model = build_model(ckpt)
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    return model.to(device).eval()


def export_checkpoint(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], half: bool = True, keep: tuple[str, ...] = ()
) -> Path:
    """Write a small copy of a checkpoint for shipping: the model and its config only (plus the
    ``keep`` entries, e.g. measured results), weights optionally stored as float16. Loading casts
    them back to the model's float32 parameters."""
    ckpt = load_checkpoint(src)
    check_finite_weights(ckpt["model"])
    weights = {k: v.half() if half and v.is_floating_point() else v for k, v in ckpt["model"].items()}
    if half:
        try:
            check_finite_weights(weights, "float16")
        except CheckpointError as err:
            raise CheckpointError(f"{err} after the cast: export with --full (float32) instead") from None
    payload = {"format": FORMAT, "kind": ckpt["kind"], "config": ckpt["config"], "model": weights}
    payload.update({k: ckpt[k] for k in keep if k in ckpt})
    with atomic_path(dst) as tmp, tmp.open("wb") as f:
        torch.save(payload, f)
    return Path(dst)
