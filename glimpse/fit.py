"""The per-image reference: fit stroke numbers to each picture directly by gradient descent.

No network: N strokes per image are free parameters (logits, so the numbers stay in [0, 1]),
optimised with Adam through the differentiable canvas on the squared error. Strokes start coarse
to fine (large ones first, since later strokes lie on top), placed at random with the colour the
target has there. This is what an amortised painter is compared with: how close one forward pass
comes to fitting each picture for hundreds of iterations.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from glimpse.canvas import STROKE_SIZE, blank, paint
from glimpse.strokes import COLOUR, CONTROL, END, OPACITIES, RADII, START


class Fit(NamedTuple):
    strokes: Tensor  # (B, N, 13) in [0, 1], in painting order
    canvas: Tensor  # (B, C, H, W)
    mse: Tensor  # (B,) squared error per pixel of the final canvas
    history: Tensor  # (iters,) mean squared error during the fit


def _logit(p: Tensor) -> Tensor:
    p = p.clamp(1e-3, 1 - 1e-3)
    return (p / (1 - p)).log()


def initial_strokes(target: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """Coarse-to-fine random strokes coloured from the target. target (B, C, H, W) -> (B, n, 13)"""
    b, c = target.shape[:2]
    dev = target.device
    s = torch.rand(b, n, STROKE_SIZE, generator=generator).to(dev, target.dtype)  # float64 targets too
    start = s[..., START]
    s[..., END] = (start + (s[..., END] - 0.5) * 0.3).clamp(0, 1)  # short strokes
    s[..., CONTROL] = 0.5 + (s[..., CONTROL] - 0.5) * 0.5
    frac = torch.linspace(0, 1, n, device=dev, dtype=target.dtype)
    radius = 0.35 * (1 - frac) + 0.03  # big first, small last
    s[..., RADII] = radius[:, None]
    s[..., OPACITIES] = 0.9
    # the target's colour under each stroke's middle
    grid = ((start + s[..., END]) / 2 * 2 - 1).view(b, n, 1, 2)  # grid_sample's (x, y) in [-1, 1]
    colour = F.grid_sample(target, grid, align_corners=False).squeeze(-1).transpose(1, 2)  # (B, n, C)
    s[..., COLOUR] = colour if c == 3 else colour.expand(-1, -1, 3)
    return s


def fit_strokes(
    target: Tensor,
    n: int,
    iters: int = 300,
    lr: float = 0.05,
    mode: str = "fast",
    style: str = "flat",
    edge: float = 0.5,
    background: float = 0.0,
    init: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Fit:
    """Fit ``n`` strokes to each target (B, C, H, W) in [0, 1] by Adam on the squared error."""
    if n < 1 or iters < 0:
        raise ValueError(f"stroke count must be >= 1 and iterations >= 0; got {n} and {iters}")
    b, c, h, w = target.shape
    start = initial_strokes(target, n, generator) if init is None else init
    logits = _logit(start).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(iters, 1))
    empty = blank(b, c, h, w, background, device=target.device, dtype=target.dtype)
    history = []
    for _ in range(iters):
        canvas = paint(empty, torch.sigmoid(logits), mode, style, edge)
        loss = (canvas - target).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.detach())
    with torch.no_grad():
        strokes = torch.sigmoid(logits)
        canvas = paint(empty, strokes, mode, style, edge)
        mse = (canvas - target).pow(2).mean(dim=(1, 2, 3))
    hist = torch.stack(history) if history else target.new_zeros(0)
    return Fit(strokes, canvas, mse, hist)
