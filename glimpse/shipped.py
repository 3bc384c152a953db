"""The registry of models shipped inside the package (``glimpse/weights/``), one entry each.

    from glimpse.shipped import load_shipped
    ram = load_shipped("ram")            # the MNIST glimpse classifier, in eval mode
    painter = load_shipped("painter")    # the 200-stroke face painter

What each file is, how it was trained and what it measures: ``glimpse/weights/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class Shipped:
    """One shipped checkpoint: its file in ``glimpse/weights/``, model kind and a one-line summary."""

    file: str
    kind: str
    summary: str


SHIPPED: dict[str, Shipped] = {
    "ram": Shipped("ram_mnist.pt", "ram", "glimpse classifier, MNIST 28×28, 6 glimpses of 8×8, RNN core"),
    "ram-cluttered60": Shipped(
        "ram_cluttered60.pt",
        "ram",
        "glimpse classifier, cluttered MNIST 60×60, 8 glimpses of 12×12 at 3 scales, conv glimpse network",
    ),
    "painter": Shipped("painter_celeba.pt", "painter", "face painter, 64², 20 steps × 10 strokes (200 strokes)"),
    "painter-brush": Shipped(
        "painter_celeba_brush.pt", "painter", "brush painter, 64², 200 strokes each at least 2.5× as long as wide"
    ),
    "painter-30": Shipped("painter_celeba30.pt", "painter", "face painter, 64², 6 steps × 5 strokes (30 strokes)"),
    "painter-mnist": Shipped("painter_mnist.pt", "painter", "digit painter, 32² greyscale, 10 steps × 2 strokes"),
    "draw": Shipped("draw_mnist.pt", "draw", "DRAW, binarised MNIST 28×28, T=16, 256/256 LSTMs, 5×5 read and write"),
}


def shipped_path(name: str) -> Path:
    """The file of a shipped model, by registry name (``"ram"``, ``"painter"``, ...)."""
    if name not in SHIPPED:
        raise KeyError(f"no shipped model named {name!r}; shipped: {', '.join(SHIPPED)}")
    path = Path(str(resources.files("glimpse") / "weights" / SHIPPED[name].file))
    if not path.is_file():
        raise FileNotFoundError(f"the shipped {name} checkpoint is missing from this install ({path})")
    return path


def load_shipped(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """A shipped model, rebuilt from its checkpoint's config, on ``device`` in eval mode."""
    from glimpse.checkpoint import load_model

    return load_model(shipped_path(name), kind=SHIPPED[name].kind, device=device)
