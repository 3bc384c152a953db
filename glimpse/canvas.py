"""A differentiable canvas: brushstrokes rasterised analytically and composited "over".

Strokes are Learning to Paint's 13 numbers in [0, 1] (:mod:`glimpse.strokes`). Two rasterisers
share their geometry and return each stroke's coverage α (N, H, W):

- ``crisp`` (here): the distance d from each pixel to the centre line (a 16-segment polyline) with
  a smooth edge, α = a(t) * sigmoid((r(t) - d) / edge).
- ``fast`` (:mod:`glimpse.stamps`): Gaussian stamps along the centre line, whose summed field
  gives d back and the same edge; optionally torch.compile'd (:func:`compile_canvas`).

The ``oil`` style streaks α along the stroke, like the bristles of a dry brush, and stays
differentiable. :func:`paint` composites strokes one after another:
canvas ← canvas (1 - α) + α colour (greyscale canvases take the colour's luminance);
:func:`composite_solved` does the same with each stroke's least-squares colour for a target.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from glimpse.stamps import compile_canvas, fast_alpha, fast_alpha_windows, window_boxes
from glimpse.strokes import (
    COLOUR,
    MODES,
    OPACITIES,
    RADII,
    STROKE_SIZE,
    STYLES,
    Mode,
    Style,
    bezier,
    bristles,
    brush_offset,
    check_strokes,
    lerp,
    pixel_centres,
    radius_px,
)

__all__ = [
    "MODES",
    "STROKE_SIZE",
    "STYLES",
    "Mode",
    "Style",
    "bezier",
    "blank",
    "check_strokes",
    "compile_canvas",
    "composite",
    "composite_solved",
    "composite_solved_windows",
    "composite_windows",
    "crisp_alpha",
    "paint",
    "paint_steps",
    "radius_px",
    "stroke_alpha",
    "stroke_colour",
    "window_runs",
]

LUMA = (0.299, 0.587, 0.114)
WINDOW_PIXELS = 2**22  # windowed painting renders strokes in runs of at most this many window pixels
SEGMENTS = 16  # polyline segments of the crisp rasteriser


def crisp_alpha(strokes: Tensor, height: int, width: int, edge: float = 0.5, style: Style = "flat") -> Tensor:
    """Coverage of each stroke from its distance to the centre line.

    strokes: (N, 13) in [0, 1];  returns: α (N, H, W)
    """
    n = strokes.shape[0]
    scale = strokes.new_tensor([width, height])
    pts, _, _ = bezier(strokes, torch.linspace(0, 1, SEGMENTS + 1, device=strokes.device, dtype=strokes.dtype))
    pts = pts * scale  # (N, m+1, 2) px
    a, b = pts[:, :-1], pts[:, 1:]  # segment ends (N, m, 2)
    ab = b - a
    ab2 = (ab * ab).sum(-1).clamp_min(1e-12)  # (N, m)
    xs, ys = pixel_centres(width, strokes), pixel_centres(height, strokes)
    # pixel minus segment start, separably: (N, m, H, W)
    px = xs.view(1, 1, 1, width) - a[..., 0, None, None]
    py = ys.view(1, 1, height, 1) - a[..., 1, None, None]
    s = ((px * ab[..., 0, None, None] + py * ab[..., 1, None, None]) / ab2[..., None, None]).clamp(0, 1)
    dx = px - s * ab[..., 0, None, None]
    dy = py - s * ab[..., 1, None, None]
    d2 = dx * dx + dy * dy  # (N, m, H, W)
    d2min, k = d2.min(dim=1, keepdim=True)  # nearest segment
    dist = (d2min.squeeze(1) + 1e-8).sqrt()  # (N, H, W)
    t = (k.squeeze(1) + s.gather(1, k).squeeze(1)) / SEGMENTS  # curve parameter of the nearest point
    r0, r2 = radius_px(strokes[:, RADII, None, None], height, width).unbind(1)  # (N, 1, 1) each
    a0, a2 = strokes[:, OPACITIES, None, None].unbind(1)
    r = lerp(r0, r2, t)
    opacity = lerp(a0, a2, t)
    alpha = opacity * torch.sigmoid((r - dist) / edge)
    if style == "oil":
        alpha = alpha * bristles(brush_offset(strokes, t, xs, ys, height, width), t, strokes, height, width)
    return alpha.view(n, height, width)


def _check_renderer(height: int, width: int, mode: str, style: str, edge: float) -> None:
    if mode not in MODES or style not in STYLES:
        raise ValueError(f"mode must be one of {MODES} and style one of {STYLES}; got {mode!r}, {style!r}")
    if height < 1 or width < 1 or not edge > 0:
        raise ValueError(f"canvas size must be positive and edge > 0; got {height}×{width}, edge {edge}")


def stroke_alpha(
    strokes: Tensor,
    height: int,
    width: int,
    mode: Mode = "fast",
    style: Style = "flat",
    edge: float = 0.5,
    window: bool = False,
) -> Tensor:
    """Coverage α of each stroke on an H×W canvas. With ``window`` (fast mode) each stroke is
    rendered on its window only (:func:`glimpse.stamps.fast_alpha_windows`) and is 0 elsewhere:
    equal to the whole-canvas rendering within 2e-8, at a fraction of the work on a large canvas.

    strokes: (..., 13) in [0, 1];  returns: (..., H, W)
    """
    _check_renderer(height, width, mode, style, edge)
    lead = strokes.shape[:-1]
    flat = strokes.reshape(-1, STROKE_SIZE)
    if window and mode == "fast":
        windows, origins = fast_alpha_windows(flat, height, width, edge, style)
        alpha = flat.new_zeros(flat.shape[0], height, width)
        for i, (a, (left, top)) in enumerate(zip(windows, origins.tolist(), strict=True)):
            alpha[i, top : top + a.shape[0], left : left + a.shape[1]] = a
        return alpha.view(*lead, height, width)
    fn = fast_alpha if mode == "fast" else crisp_alpha
    return fn(flat, height, width, edge, style).view(*lead, height, width)


def stroke_colour(strokes: Tensor, channels: int) -> Tensor:
    """The colour a stroke lays down: RGB, or its luminance on a greyscale canvas. (..., 13) -> (..., C)"""
    rgb = strokes[..., COLOUR]
    if channels == 3:
        return rgb
    if channels == 1:
        return (rgb * rgb.new_tensor(LUMA)).sum(-1, keepdim=True)
    raise ValueError(f"a canvas has 1 or 3 channels, got {channels}")


def composite(canvas: Tensor, alpha: Tensor, colour: Tensor) -> Tensor:
    """Lay strokes over the canvas one after another.

    canvas: (B, C, H, W);  alpha: (B, S, H, W);  colour: (B, S, C)  ->  (B, C, H, W)
    """
    # unbind, not alpha[:, s]: the gradient of S slices would fill S zero tensors of alpha's size
    for a, c in zip(alpha.unbind(1), colour.unbind(1), strict=True):  # (B, H, W), (B, C)
        canvas = canvas + a[:, None] * (c[:, :, None, None] - canvas)
    return canvas


def composite_solved(
    canvas: Tensor, alpha: Tensor, prior: Tensor, target: Tensor, weight: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Lay strokes over the canvas one after another, each in the colour that brings the canvas
    closest to ``target`` (least squares, given its coverage), pulled towards ``prior`` with the
    weight of ``weight`` fully covered pixels (so a stroke that covers almost nothing keeps its
    prior colour), and clamped to [0, 1].

    canvas, target: (B, C, H, W);  alpha: (B, S, H, W);  prior: (B, S, C)
    returns: the canvas (B, C, H, W) and the colours used (B, S, C). Differentiable in all inputs.
    """
    colours = []
    for a, p in zip(alpha.unbind(1), prior.unbind(1), strict=True):  # (B, H, W), (B, C)
        a = a[:, None]
        rest = target - canvas * (1 - a)  # what the stroke's a·colour should add: (B, C, H, W)
        num = (a * rest).sum((2, 3)) + weight * p
        c = (num / ((a * a).sum((2, 3)) + weight)).clamp(0, 1)  # (B, C)
        canvas = canvas + a * (c[:, :, None, None] - canvas)
        colours.append(c)
    return canvas, torch.stack(colours, 1)


def window_runs(strokes: Tensor, height: int, width: int, edge: float = 0.5, budget: int | None = None) -> list[slice]:
    """Consecutive runs of strokes (B, S, 13) whose windows hold at most ``budget`` pixels together
    (default :data:`WINDOW_PIXELS`; at least one stroke each), so that windowed painting holds a
    bounded amount of coverage at once, whatever the number of strokes and the canvas's size.
    -> slices of S"""
    b, s, _ = strokes.shape
    budget = WINDOW_PIXELS if budget is None else budget
    if s == 0:
        return []
    _, sizes = window_boxes(strokes.reshape(-1, STROKE_SIZE), height, width, edge)
    area = sizes.prod(-1).view(b, s).sum(0).tolist()  # window pixels of each stroke index, all images
    runs, start, total = [], 0, 0
    for i, a in enumerate(area):
        if i > start and total + a > budget:
            runs.append(slice(start, i))
            start, total = i, 0
        total += a
    return [*runs, slice(start, s)]


def composite_windows(canvas: Tensor, windows: list[Tensor], origins: Tensor, colour: Tensor) -> Tensor:
    """:func:`composite` with each stroke's coverage given on its window only (0 elsewhere): each
    stroke updates the pixels of its window, nothing else.

    canvas: (B, C, H, W);  windows: B·S coverages (h_i, w_i), image-major;  origins: (B·S, 2) as
    (left, top);  colour: (B, S, C)  ->  (B, C, H, W)
    """
    b, s, c = colour.shape
    out = canvas.clone()
    colours = colour.reshape(b * s, c, 1, 1).unbind(0)
    for i, (a, (left, top)) in enumerate(zip(windows, origins.tolist(), strict=True)):
        view = out[i // s, :, top : top + a.shape[0], left : left + a.shape[1]]  # (C, h, w)
        view.add_(a * (colours[i] - view))
    return out


def composite_solved_windows(
    canvas: Tensor, windows: list[Tensor], origins: Tensor, prior: Tensor, target: Tensor, weight: float = 1.0
) -> tuple[Tensor, Tensor]:
    """:func:`composite_solved` with each stroke's coverage given on its window only (0 elsewhere).

    canvas, target: (B, C, H, W);  windows, origins: as :func:`composite_windows`;  prior: (B, S, C)
    returns: the canvas (B, C, H, W) and the colours used (B, S, C)
    """
    b, s, c = prior.shape
    out = canvas.clone()
    priors = prior.reshape(b * s, c).unbind(0)
    colours = []
    for i, (a, (left, top)) in enumerate(zip(windows, origins.tolist(), strict=True)):
        box = (i // s, slice(None), slice(top, top + a.shape[0]), slice(left, left + a.shape[1]))
        view = out[box]  # (C, h, w)
        rest = target[box] - view * (1 - a)
        num = (a * rest).sum((1, 2)) + weight * priors[i]
        colour = (num / ((a * a).sum() + weight)).clamp(0, 1)  # (C,)
        view.add_(a * (colour[:, None, None] - view))
        colours.append(colour)
    return out, torch.stack(colours).view(b, s, c)


def paint_steps(
    canvas: Tensor, steps: list[Tensor], mode: Mode = "fast", style: Style = "flat", edge: float = 0.5
) -> Iterator[Tensor]:
    """Paint steps of strokes, each (B, n_i, 13), over canvases (B, C, H, W), yielding the canvas
    after every step: each step over the canvas the last one left, each stroke on its window (fast
    mode), the windows of many steps rendered together (:func:`window_runs`). Equal to painting the
    steps one by one with ``paint(..., window=True)``."""
    if mode != "fast" or not steps:
        for step in steps:
            canvas = paint(canvas, step, mode, style, edge)
            yield canvas
        return
    b, c, h, w = canvas.shape
    _check_renderer(h, w, mode, style, edge)
    every = torch.cat(steps, 1)  # (B, S, 13)
    bounds = torch.tensor([0, *[step.shape[1] for step in steps]]).cumsum(0).tolist()  # step i: bounds[i:i+2]
    done = 0  # steps painted
    for run in window_runs(every, h, w, edge):
        part = every[:, run]
        windows, origins = fast_alpha_windows(part.reshape(-1, STROKE_SIZE), h, w, edge, style)
        colour, n = stroke_colour(part, c), part.shape[1]
        start = run.start
        while done < len(steps) and bounds[done + 1] <= run.stop:  # steps ending in this run
            end = bounds[done + 1]
            pick = [i * n + j - run.start for i in range(b) for j in range(start, end)]
            canvas = composite_windows(
                canvas, [windows[k] for k in pick], origins[pick], colour[:, start - run.start : end - run.start]
            )
            start, done = end, done + 1
            yield canvas
        if start < run.stop:  # a step that goes on in the next run
            pick = [i * n + j - run.start for i in range(b) for j in range(start, run.stop)]
            canvas = composite_windows(
                canvas, [windows[k] for k in pick], origins[pick], colour[:, start - run.start :]
            )
    while done < len(steps):  # empty steps at the end
        done += 1
        yield canvas


def paint(
    canvas: Tensor,
    strokes: Tensor,
    mode: Mode = "fast",
    style: Style = "flat",
    edge: float = 0.5,
    check: bool = False,
    window: bool = False,
) -> Tensor:
    """Paint strokes (B, S, 13) over canvases (B, C, H, W), in order. Differentiable in both.

    With ``window`` (fast mode) each stroke is rendered and composited on its window only, the
    pixels its paint reaches (:func:`glimpse.stamps.fast_alpha_windows`): equal to the
    whole-canvas painting within about 1e-7, and far less work for many strokes on a large canvas.
    """
    if canvas.dim() != 4 or strokes.dim() != 3 or strokes.shape[0] != canvas.shape[0]:
        raise ValueError(
            f"expected canvas (B, C, H, W) and strokes (B, S, 13); got {tuple(canvas.shape)}, {tuple(strokes.shape)}"
        )
    if check:
        check_strokes(strokes)
    _, c, h, w = canvas.shape
    if window and mode == "fast":
        _check_renderer(h, w, mode, style, edge)
        for run in window_runs(strokes, h, w, edge):
            part = strokes[:, run]
            windows, origins = fast_alpha_windows(part.reshape(-1, STROKE_SIZE), h, w, edge, style)
            canvas = composite_windows(canvas, windows, origins, stroke_colour(part, c))
        return canvas
    alpha = stroke_alpha(strokes, h, w, mode, style, edge)
    return composite(canvas, alpha, stroke_colour(strokes, c))


def blank(
    batch: int,
    channels: int,
    height: int,
    width: int,
    background: float = 0.0,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """A blank canvas (B, C, H, W) of one grey level (0: black, as in Learning to Paint)."""
    return torch.full((batch, channels, height, width), float(background), device=device, dtype=dtype)
