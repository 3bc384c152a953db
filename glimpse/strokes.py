"""Brushstrokes: Learning to Paint's 13 numbers in [0, 1], their geometry and the oil-brush texture.

A stroke is 13 numbers, Learning to Paint's layout, so results compare. Code addresses them by
the names below, defined once here, never by bare numbers::

    START    CONTROL  END      RADII    OPACITIES  COLOUR
    x0 y0    cx cy    x2 y2    r0 r2    a0 a2      R  G  B
    0  1     2  3     4  5     6  7     8  9       10 11 12
    └──────────────── SHAPE ────────────────┘

    XS = (0, 4), YS = (1, 5)       x0 x2 and y0 y2: the x and the y of both end points
    ENDPOINTS = (0, 1, 4, 5)       x0 y0 x2 y2
    BODY = (2, 3, 6, 7, 8, 9)      cx cy r0 r2 a0 a2: the shape but for its end points
    TEXTURE_KEY = (0, 5, 10)       x0 y2 R: hashed to the oil texture's phase

The centre line is the quadratic Bézier B(t) = (1-t)² P0 + 2t(1-t) P1 + t² P2, t ∈ [0, 1], with
P1 = P0 + (P2 - P0) * (cx, cy) (the control point is relative to the end points, as in Learning to
Paint). x runs along the width and y down the height; 0 and 1 are the canvas edges, so pixel j has
its centre at (j + 0.5) / W. Radius and opacity vary linearly in t; the radius in pixels is
(1/256 + r/4) * S with S = (H + W) / 2 (0.25 to 16.25 px on a 64² canvas). Both rasterisers
(:mod:`glimpse.canvas`, :mod:`glimpse.stamps`) share this geometry.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

STROKE_SIZE = 13
START = slice(0, 2)  # x0 y0: the first end point P0
CONTROL = slice(2, 4)  # cx cy: the control point P1, relative to the end points
END = slice(4, 6)  # x2 y2: the last end point P2
RADII = slice(6, 8)  # r0 r2: radius at t = 0 and t = 1
OPACITIES = slice(8, 10)  # a0 a2: opacity at t = 0 and t = 1
COLOUR = slice(10, 13)  # R G B
SHAPE = slice(0, 10)  # everything but the colour: START to OPACITIES
XS = (0, 4)  # x0 x2
YS = (1, 5)  # y0 y2
ENDPOINTS = (0, 1, 4, 5)  # x0 y0 x2 y2
BODY = (2, 3, 6, 7, 8, 9)  # cx cy r0 r2 a0 a2: the shape but for its end points
TEXTURE_KEY = (0, 5, 10)  # x0 y2 R: the numbers hashed to the oil texture's phase
Mode = Literal["fast", "crisp"]
Style = Literal["flat", "oil"]
MODES = ("fast", "crisp")
STYLES = ("flat", "oil")
BRISTLE_PERIOD = 2.5  # px between oil-brush bristle streaks
BRISTLE_DEPTH = 0.45  # how much paint the streaks leave out


def check_strokes(strokes: Tensor) -> None:
    """Raise a ValueError naming the problem for strokes that are not (..., 13) numbers in [0, 1]."""
    if not isinstance(strokes, Tensor) or not strokes.is_floating_point():
        raise ValueError(f"strokes must be a float tensor, got {getattr(strokes, 'dtype', type(strokes))}")
    if strokes.shape[-1] != STROKE_SIZE:
        raise ValueError(f"a stroke is {STROKE_SIZE} numbers; got strokes of shape {tuple(strokes.shape)}")
    if strokes.numel() == 0:
        return
    bad = ~((strokes >= 0) & (strokes <= 1))  # NaN counts as bad
    if bad.any():
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"stroke numbers must lie in [0, 1]; strokes[{idx}] = {strokes[idx].item()}")


def bezier(strokes: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Points, tangents (d/dt) and parameters of the centre lines, in canvas units [0, 1].

    strokes: (N, 13);  t: (n,) or (N, n)
    returns: points (N, n, 2) as (x, y), tangents (N, n, 2), t (N, n)
    """
    t = t.expand(strokes.shape[0], -1).unsqueeze(-1)  # (N, n, 1)
    p0, p2 = strokes[:, None, START], strokes[:, None, END]
    p1 = p0 + (p2 - p0) * strokes[:, None, CONTROL]
    pts = (1 - t) ** 2 * p0 + 2 * t * (1 - t) * p1 + t**2 * p2
    tangent = 2 * (1 - t) * (p1 - p0) + 2 * t * (p2 - p1)
    return pts, tangent, t.squeeze(-1)


def radius_px(r: Tensor, height: int, width: int) -> Tensor:
    """Stroke radius numbers in [0, 1] to pixels (Learning to Paint's range, scaled to the canvas)."""
    return (1 / 256 + r / 4) * (height + width) / 2


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    return a + (b - a) * t


def pixel_centres(n: int, like: Tensor) -> Tensor:
    return torch.arange(n, device=like.device, dtype=like.dtype) + 0.5


def bristles(across: Tensor, strokes: Tensor) -> Tensor:
    """Oil-brush streaks: a factor in [1 - depth, 1] that varies across the stroke (px) and runs
    along it. The streak phase is a texture seed: a hash of the stroke's numbers rounded to 1/512,
    so it is constant under small changes and no gradient flows through it."""
    key = (strokes[:, TEXTURE_KEY].detach() * 512).round() @ strokes.new_tensor([0.618034, 0.414214, 0.732051])
    phase = key - key.floor()  # (N,)
    wave = torch.cos(2 * math.pi * (across / BRISTLE_PERIOD + phase[:, None, None]))
    return 1 - BRISTLE_DEPTH * (0.5 + 0.5 * wave)
