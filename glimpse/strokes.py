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
BRISTLE_PERIOD = 2.5  # px between oil-brush bristle streaks, at least
BRISTLES = 6  # bristle streaks across a broad brush
BRISTLE_DEPTH = 0.45  # how much paint the streaks leave out
THINNING = 0.35  # how much thinner the paint is at the end of a stroke than at its start


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


def stroke_dimensions(strokes: Tensor, height: int, width: int, segments: int = 64) -> tuple[Tensor, Tensor]:
    """Each stroke's length, the arc length of its centre line (a polyline of ``segments``
    segments), and its width, twice its mean radius, both in px on an H×W canvas.

    strokes: (..., 13)  ->  length (...), width (...)
    """
    lead = strokes.shape[:-1]
    flat = strokes.reshape(-1, STROKE_SIZE)
    pts, _, _ = bezier(flat, torch.linspace(0, 1, segments + 1, device=strokes.device, dtype=strokes.dtype))
    pts = pts * strokes.new_tensor([width, height])  # (N, m+1, 2) px
    length = (pts[:, 1:] - pts[:, :-1]).norm(dim=-1).sum(-1)
    wide = radius_px(flat[:, RADII], height, width).sum(-1)  # 2 × the mean of r0 and r2
    return length.view(lead), wide.view(lead)


def brush_ends(ends: Tensor, radii: Tensor, aspect: float) -> Tensor:
    """End points that keep a stroke at least ``aspect`` × as long as it is wide (a brushstroke,
    never a dot): the stroke keeps the centre and direction of the given ends, and its half-length
    h becomes sqrt(h² + (aspect · w / 2)²), w = 2 · (1/256 + (r0 + r2) / 8) its width in canvas
    sides (twice the mean radius). A stroke much longer than that keeps its ends; a dab is drawn
    out along its chord (a dot along x). Then clamped to the canvas. Differentiable.

    ends: (..., 4) as x0 y0 x2 y2 in canvas units;  radii: (..., 2) r0 r2 in [0, 1]  ->  (..., 4)
    """
    p0, p2 = ends[..., 0:2], ends[..., 2:4]
    centre, chord = (p0 + p2) / 2, p2 - p0
    norm = chord.norm(dim=-1, keepdim=True)
    direction = torch.where(
        norm > 1e-6, chord / norm.clamp_min(1e-6), torch.ones_like(chord) * chord.new_tensor([1.0, 0.0])
    )
    wide = 2 * (1 / 256 + radii.sum(-1, keepdim=True) / 8)
    half = (norm.square() / 4 + (aspect * wide / 2).square()).sqrt()
    return torch.cat([centre - half * direction, centre + half * direction], -1).clamp(0, 1)


def radius_px(r: Tensor, height: int, width: int) -> Tensor:
    """Stroke radius numbers in [0, 1] to pixels (Learning to Paint's range, scaled to the canvas)."""
    return (1 / 256 + r / 4) * (height + width) / 2


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    return a + (b - a) * t


def pixel_centres(n: int, like: Tensor) -> Tensor:
    return torch.arange(n, device=like.device, dtype=like.dtype) + 0.5


def texture_seed(strokes: Tensor) -> tuple[Tensor, Tensor]:
    """Two numbers in [0, 1) per stroke from a hash of its TEXTURE_KEY numbers rounded to 1/512:
    the streaks' phase and, for a dot, the brush's direction. Constant under small changes; no
    gradient flows through them.  (N, 13) -> (N,), (N,)"""
    key = (strokes[:, TEXTURE_KEY].detach() * 512).round() @ strokes.new_tensor([0.618034, 0.414214, 0.732051])
    phase = key - key.floor()
    turn = key * 1.618034
    return phase, turn - turn.floor()


def brush_offset(strokes: Tensor, t: Tensor, xs: Tensor, ys: Tensor, height: int, width: int) -> Tensor:
    """Signed distance across the brush (px) of pixels at (xs, ys) whose local curve parameter is t.

    Along the centre line the brush is at B(t), moving along the tangent, and a pixel lies at
    B(t) + offset · n̂(t), n̂ the unit normal: streaks at a fixed offset follow a bending stroke.
    Across a dab the brush moves along the chord P2 - P0 (a dot: along an angle from
    :func:`texture_seed`), and the offset is measured from the line through P0: straight streaks,
    never rings round a tight bend or a cap. A stroke's offset blends the two by its straightness
    (:func:`brush_straightness`: 1 for strokes at least 2× as long as wide and gently bent).

    strokes: (N, 13);  t: (N, H, W);  xs: (W,) or (N, 1, W) and ys: (H,) or (N, H, 1) pixel
    centres, px  ->  (N, H, W)
    """
    xs = xs.view(1, 1, -1) if xs.dim() == 1 else xs
    ys = ys.view(1, -1, 1) if ys.dim() == 1 else ys
    scale = strokes.new_tensor([width, height])
    p0, p2 = strokes[:, START] * scale, strokes[:, END] * scale  # (N, 2) px
    p1 = p0 + (p2 - p0) * strokes[:, CONTROL]
    c0, c1, c2 = (p[:, :, None, None] for p in (p0, p1 - p0, p2 - p1))  # (N, 2, 1, 1)
    tt = t[:, None]  # (N, 1, H, W)
    centre = c0 + 2 * tt * c1 + tt * tt * (c2 - c1)  # B(t) = P0 + 2t(P1 - P0) + t²(P2 - 2P1 + P0)
    tangent = 2 * (1 - tt) * c1 + 2 * tt * c2  # B'(t), (N, 2, H, W)
    tangent = tangent / (tangent.square().sum(1, keepdim=True) + 1e-12).sqrt()
    along_line = (xs - centre[:, 0]) * -tangent[:, 1] + (ys - centre[:, 1]) * tangent[:, 0]  # (N, H, W)
    chord = p2 - p0
    chord_len = (chord.square().sum(-1, keepdim=True) + 1e-12).sqrt()  # (N, 1)
    _, turn = texture_seed(strokes)
    angle = 2 * math.pi * turn
    dot = torch.stack([angle.cos(), angle.sin()], -1)  # (N, 2)
    dab = torch.where(chord_len > 1e-3, chord / chord_len, dot)[:, :, None, None]  # (N, 2, 1, 1)
    along_chord = (xs - c0[:, 0]) * -dab[:, 1] + (ys - c0[:, 1]) * dab[:, 0]
    straight = brush_straightness(strokes, height, width)[:, None, None]
    return straight * along_line + (1 - straight) * along_chord


def brush_straightness(strokes: Tensor, height: int, width: int) -> Tensor:
    """How far an oil stroke's streaks follow its centre line (1) rather than its chord (0).

    With L the length of the control polygon (px), w = 2 max(r0, r2) the width and θ the angle the
    centre line turns through, the streaks follow the centre line as the stroke is long (L/w from
    0.5 to 2) and gently bent (the width over the bend's radius, θ w / L, from 1.5 down to 0.5).
    (N, 13) -> (N,) in [0, 1], differentiable
    """
    scale = strokes.new_tensor([width, height])
    p0, p2 = strokes[:, START] * scale, strokes[:, END] * scale
    p1 = p0 + (p2 - p0) * strokes[:, CONTROL]
    a, b = p1 - p0, p2 - p1  # (N, 2)
    length = (a.square().sum(-1) + 1e-12).sqrt() + (b.square().sum(-1) + 1e-12).sqrt()
    cross = ((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).square() + 1e-12).sqrt()
    turn = torch.atan2(cross, (a * b).sum(-1))  # θ in [0, π]
    wide = 2 * radius_px(strokes[:, RADII], height, width).max(-1).values
    long = ((length / wide - 0.5) / 1.5).clamp(0, 1)
    gentle = (1.5 - turn * wide / length).clamp(0, 1)
    return long * gentle


def bristles(across: Tensor, t: Tensor, strokes: Tensor, height: int, width: int) -> Tensor:
    """The oil brush: a factor in [0, 1] on a stroke's coverage. Streaks across the brush leave out
    up to BRISTLE_DEPTH of the paint; they depend on the offset across the brush only
    (:func:`brush_offset`), so they run along the stroke. Their period is sqrt(p² + (w / b)²) px,
    p = BRISTLE_PERIOD, w the stroke's width (twice its larger radius) and b = BRISTLES: a broad
    brush has about b bristle streaks, whatever the canvas's size, and none is finer than p px. The
    brush runs dry toward the end: the paint thins by a factor 1 - THINNING · t².

    across, t: (N, H, W);  strokes: (N, 13)  ->  (N, H, W)
    """
    phase, _ = texture_seed(strokes)
    wide = 2 * radius_px(strokes[:, RADII], height, width).max(-1).values
    period = (BRISTLE_PERIOD**2 + (wide / BRISTLES) ** 2).sqrt()  # (N,) px
    wave = torch.cos(2 * math.pi * (across / period[:, None, None] + phase[:, None, None]))
    return (1 - BRISTLE_DEPTH * (0.5 + 0.5 * wave)) * (1 - THINNING * t * t)
