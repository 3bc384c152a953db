"""Painting one picture of any size with a trained painter, coarse to fine.

The painter sees S_p × S_p pictures (its ``cfg.size``). A larger picture is painted in two passes:
first the whole picture, seen at S_p, with part of the stroke budget; then a g × g grid of
patches, each seen at S_p with the canvas so far, all patches at once as one batch. Strokes are
resolution-free numbers, so a patch's strokes are mapped into the whole canvas
(:func:`map_strokes`) and painted over the whole picture's canvas at full size.

Every stroke is rendered on its window only, the pixels its paint reaches
(:func:`glimpse.canvas.paint` with ``window=True``), and each step paints over the canvas the
earlier steps left: nothing is rendered twice, and the work grows with the strokes' area, not with
strokes × canvas.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from glimpse.canvas import blank, composite_solved_windows, paint, stroke_colour, window_runs
from glimpse.painter import Painter, _resize
from glimpse.sensor import check_images
from glimpse.stamps import fast_alpha_windows
from glimpse.strokes import RADII, SHAPE, STROKE_SIZE, XS, YS


class Painting(NamedTuple):
    steps: list[Tensor]  # per step, the strokes it added: (B, n_i, 13) in whole-canvas numbers
    canvas: Tensor  # (B, C, H, W) final canvas


def map_strokes(strokes: Tensor, left: float, top: float, size: float) -> Tensor:
    """Strokes drawn on a square patch -> the same strokes in whole-canvas numbers.

    The patch spans [left, left + size] × [top, top + size] of the canvas (fractions). Radii
    shrink with the patch; radii below the smallest the canvas can express are clamped to it.
    strokes: (..., 13)  ->  (..., 13)
    """
    out = strokes.clone()
    out[..., XS] = left + strokes[..., XS] * size
    out[..., YS] = top + strokes[..., YS] * size
    # radius in canvas sides: 1/256 + r/4 on the patch -> (1/256 + r/4) * size on the canvas
    out[..., RADII] = (((1 / 256 + strokes[..., RADII] / 4) * size - 1 / 256) * 4).clamp(0, 1)
    return out


def plan(
    strokes: int, size: int, painter_size: int, per_step: int, one_pass_up_to: float = 2.0
) -> tuple[int, int, int]:
    """(steps of the whole-picture pass, grid g, steps per patch) for a stroke budget.

    Pictures up to ``one_pass_up_to`` × the painter's size are painted in one pass (at 128² the
    shipped 64² face painter does better so: 0.0053 against 0.0055 with patches). Larger ones spend
    about half the budget on the whole picture (at least one step) and share the rest among g × g
    patches, g = round(size / S_p), or fewer where the budget cannot give every patch a step (512²
    with 200 strokes: 4 × 4, not 8 × 8 patches of which only the first 19 would be painted).
    """
    if strokes < 1 or size < 1:
        raise ValueError(f"stroke count and size must be positive; got {strokes} strokes, size {size}")
    if painter_size < 1 or per_step < 1:
        raise ValueError(f"painter size and strokes per step must be positive; got {painter_size}, {per_step}")
    grid = max(1, round(size / painter_size)) if size > one_pass_up_to * painter_size else 1
    while grid > 1 and grid * grid * per_step > strokes - per_step:  # a step for every patch, one for the whole
        grid -= 1
    if grid == 1:
        return math.ceil(strokes / per_step), 1, 0
    patch_steps = max(1, round(strokes / 2 / (grid * grid * per_step)))
    coarse = max(1, math.ceil((strokes - patch_steps * grid * grid * per_step) / per_step))
    return coarse, grid, patch_steps


@torch.no_grad()
def rollout_windows(model: Painter, target: Tensor, steps: int) -> tuple[list[Tensor], Tensor]:
    """What ``model.rollout(target, steps)`` paints, for inference on a canvas of any size: each
    step's strokes are rendered and composited on their windows only. The painter sees target and
    canvas at its own size, as in :meth:`Painter.rollout`.

    target: (B, C, H, W)  ->  per step its strokes (B, k, 13), and the canvas (B, C, H, W)
    """
    cfg = model.cfg
    if cfg.mode != "fast":  # windows are the fast rasteriser's
        r = model.rollout(target, steps)
        return list(r.strokes), r.canvases[-1]
    b, c, h, w = target.shape
    canvas = blank(b, c, h, w, cfg.background, device=target.device, dtype=target.dtype)
    small, state, out = _resize(target, cfg.size), model.initial_state(b), []
    for t in range(steps):
        progress = target.new_full((b,), t / cfg.steps)
        strokes, state = model.step(small, _resize(canvas, cfg.size), progress, state)  # (B, k, 13)
        if cfg.colour == "solved":  # as Painter.lay_solved
            colours = []
            for run in window_runs(strokes, h, w, cfg.edge):
                part = strokes[:, run]
                windows, origins = fast_alpha_windows(part.reshape(-1, STROKE_SIZE), h, w, cfg.edge, cfg.style)
                canvas, colour = composite_solved_windows(canvas, windows, origins, stroke_colour(part, c), target)
                colours.append(colour)
            strokes = torch.cat([strokes[..., SHAPE], torch.cat(colours, 1).expand(-1, -1, 3)], -1)
        else:
            canvas = paint(canvas, strokes, cfg.mode, cfg.style, cfg.edge, window=True)
        out.append(strokes)
    return out, canvas


@torch.no_grad()
def paint_pictures(
    model: Painter,
    target: Tensor,
    strokes: int,
    style: str | None = None,
    one_pass_up_to: float = 2.0,
    window: bool = True,
) -> Painting:
    """Paint pictures (B, C, H, W) in [0, 1] with at most ``strokes`` strokes each, rendered in
    ``style`` (default: the painter's own); larger than ``one_pass_up_to`` × the painter's size,
    coarse to fine (:func:`plan`). Float64, float16 and bfloat16 pictures are cast to the
    painter's dtype; integer pictures, values outside [0, 1] and empty batches are refused.

    The canvas the painter painted is the painting when it holds exactly the strokes kept, in the
    style asked for; otherwise (a budget that ends within a step, another style) the strokes are
    painted again, each on its window. ``window=False`` is the earlier path, kept for comparison
    (bench/paint_speed.py): the painter's own rollout on whole canvases, then every stroke painted
    again on the whole canvas.
    """
    cfg = model.cfg
    target = check_images(target, dtype=next(model.parameters()).dtype)
    b, c, h, w = target.shape
    if c != cfg.channels:
        raise ValueError(f"this painter paints {cfg.channels}-channel pictures, got {c} channel(s)")
    if h != w:
        raise ValueError(f"pictures are painted square; got {h}×{w} (resize them first)")
    coarse, grid, patch_steps = plan(strokes, h, cfg.size, cfg.strokes_per_step, one_pass_up_to)
    if window:
        painted, seen = rollout_windows(model, target, coarse)  # seen: the canvas the painter painted
    else:
        r = model.rollout(target, coarse)
        painted, seen = list(r.strokes), r.canvases[-1]
    steps, canvas = _trim(painted, strokes), seen  # (B, k, 13) each
    style = style or cfg.style
    trimmed = any(s.shape[1] < p.shape[1] for s, p in zip(steps, painted, strict=True))
    empty = blank(b, c, h, w, cfg.background, device=target.device, dtype=target.dtype)
    if window and (trimmed or style != cfg.style):
        canvas = paint(empty, torch.cat(steps, 1), cfg.mode, style, cfg.edge, window=True)
    if grid > 1:
        budget = strokes - sum(s.shape[1] for s in steps)
        side = h // grid
        frac = side / h
        patches = _tiles(seen[..., : side * grid, : side * grid], grid)  # (B·g², C, s, s)
        pr = model.rollout(_tiles(target[..., : side * grid, : side * grid], grid), patch_steps, patches, start=coarse)
        lefts = (torch.arange(grid).repeat(grid) * frac).tolist()  # row-major tiles
        tops = (torch.arange(grid).repeat_interleave(grid) * frac).tolist()
        for t in range(patch_steps):
            tiles = pr.strokes[t].view(b, grid * grid, -1, pr.strokes.shape[-1])  # (B, g², k, 13)
            mapped = torch.stack([map_strokes(tiles[:, i], lefts[i], tops[i], frac) for i in range(grid * grid)], 2)
            mapped = mapped.flatten(1, 2)  # (B, k·g², 13): stroke j of every patch, then j + 1, so a trim is even
            steps.extend(_trim([mapped], budget))
            budget -= steps[-1].shape[1]
            if window:
                canvas = paint(canvas, steps[-1], cfg.mode, style, cfg.edge, window=True)
    if not window:  # the earlier path: every stroke again, on the whole canvas
        canvas = paint(empty, torch.cat(steps, 1), cfg.mode, style, cfg.edge)
    return Painting([s for s in steps if s.shape[1]], canvas)


def paint_picture(
    model: Painter, target: Tensor, strokes: int, style: str | None = None, window: bool = True
) -> Painting:
    """Paint one picture (C, H, W): per-step strokes (n_i, 13) and the canvas (C, H, W)."""
    if not isinstance(target, Tensor) or target.dim() != 3:
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise ValueError(f"paint_picture paints one picture (channels, height, width), got {shape}")
    p = paint_pictures(model, target.unsqueeze(0), strokes, style, window=window)
    return Painting([s[0] for s in p.steps], p.canvas[0])


def _trim(steps: list[Tensor], budget: int) -> list[Tensor]:
    """Keep the first ``budget`` strokes of per-step (B, k, 13) tensors."""
    out = []
    for s in steps:
        take = max(0, min(s.shape[1], budget))
        out.append(s[:, :take])
        budget -= take
    return out


def _tiles(images: Tensor, grid: int) -> Tensor:
    """(B, C, H, W) -> (B·g², C, H/g, W/g), each picture's tiles row-major."""
    b, c, h, w = images.shape
    t = images.reshape(b, c, grid, h // grid, grid, w // grid).permute(0, 2, 4, 1, 3, 5)
    return t.reshape(b * grid * grid, c, h // grid, w // grid)
