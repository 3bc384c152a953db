"""The fast rasteriser: Gaussian stamps along each stroke's centre line.

Stamps are spaced at most 1.5 σ apart along the curve (evenly in a bound on its arc length) so
that thin strokes stay continuous. Gaussians are
separable, so a stroke's stamp field is one small matrix product Gyᵀ diag(w) Gx (DRAW's write);
the field of a straight tube is exp(-d²/2σ²), which gives the distance d to the centre line back,
and the same soft edge as the crisp rasteriser: α = o(t) sigmoid((r(t) - d) / edge). A twin field
weighted by the curve parameter t gives the local t, hence radius and opacity (both linear in t).
Strokes are grouped by how many stamps they need, so a batch of mostly broad strokes is not billed
for its thinnest one.

The per-pixel step from the stamp fields to α is a pure function with its gradient written out
(:mod:`glimpse.coverage`). :func:`compile_canvas` switches on
torch.compile'd kernels: the stamp fields (forward and backward), and the per-pixel step and its
written-out gradient, each one loop over the pixels that writes (or reads) its stroke group's rows
of the output.

:func:`fast_alpha` renders every stroke on the whole canvas (training). :func:`fast_alpha_windows`
renders each on its window only, the box of its stamps grown by how far its paint can reach
(:func:`window_reach`): the same numbers inside, below 2e-8 outside, and work that grows with the
strokes' area rather than strokes × canvas (painting pictures of any size, eager autograd).
"""

from __future__ import annotations

import functools
import math
import os

import torch
import torch.nn.functional as F
from torch import Tensor

from glimpse.coverage import HALF_MAX, SIGMA_MIN, coverage_grad_from, coverage_into, guarded, tube_coverage
from glimpse.strokes import (
    CONTROL,
    END,
    OPACITIES,
    RADII,
    START,
    Style,
    bezier,
    bristles,
    brush_offset,
    lerp,
    pixel_centres,
    radius_px,
)

SPACING = 1.5  # stamp spacing in units of σ (the summed field ripples by 0.03 %)
END_WEIGHT = 0.7  # extra weight of the end stamps (round caps)
DOT = 1e-3  # px: a stroke whose control polygon is shorter is a dot, its stamps even in t


def _legs(strokes: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """|P1 - P0| and |P2 - P1| in px: the control polygon's legs, in float32 at least (a float16
    square of 256 px overflows). (N, 13) -> (N,), (N,)"""
    strokes = strokes.to(torch.promote_types(strokes.dtype, torch.float32))
    chord = (strokes[:, END] - strokes[:, START]) * strokes.new_tensor([width, height])  # P2 - P0
    lean = chord * strokes[:, CONTROL]  # P1 - P0 (the control point is relative to the ends)
    return lean.norm(dim=-1), (chord - lean).norm(dim=-1)


def stamps_needed(strokes: Tensor, height: int, width: int) -> Tensor:
    """How many stamps each stroke needs so that neighbours lie at most SPACING σ apart. (N,) long

    The stamps lie evenly along a bound on the arc length whose total is the control polygon's
    length (:func:`arc_params`), so n - 1 gaps of SPACING σ cover it.
    """
    a, b = _legs(strokes, height, width)
    sigma = (radius_px(strokes[:, RADII], height, width).min(-1).values / HALF_MAX).clamp_min(SIGMA_MIN)
    return ((a + b) / (SPACING * sigma)).ceil().long() + 1


def arc_params(strokes: Tensor, u: Tensor, height: int, width: int) -> Tensor:
    """Curve parameters t (N, n) of the stamps at fractions u (n,) of a bound on the arc length.

    The speed |B'(t)| = 2 |(1 - t) A + t B| (A = P1 - P0, B = P2 - P1) is at most 2 ((1 - t)|A| +
    t|B|), whose integral S(t) = 2|A| t + (|B| - |A|) t² runs from 0 to |A| + |B|. Solving
    S(t) = u (|A| + |B|) puts stamps no further apart along the curve than the polygon's length
    / (n - 1), however the control point leans; evenly spaced t would leave gaps twice as wide
    where a leg is long. Exact for straight strokes; t = u when |A| = |B| and for dots.
    """
    a, b = (leg[:, None] for leg in _legs(strokes, height, width))  # (N, 1) px
    length = a + b
    a, b = a / length.clamp_min(DOT), b / length.clamp_min(DOT)  # legs as fractions of the polygon
    # the root of S(t) = u (a + b), rationalised; 1e-12 keeps sqrt's gradient finite at 0
    root = torch.lerp(a * a, b * b, u.to(a.dtype)).add_(1e-12).sqrt_()  # (N, n)
    return torch.where(length > DOT, u / (a + root), u).to(u.dtype)  # u's dtype again


def _stamps(strokes: Tensor, u: Tensor, height: int, width: int) -> tuple[Tensor, ...]:
    """The stamps of strokes that all use n stamps, at fractions u (n,) of their arc length.

    strokes: (N, 13)  ->  centres (N, n, 2) px as (x, y), t (N, n), σ (N, n) px, weights (N, n),
    radii (N, 2) px at t = 0 and t = 1
    """
    scale = strokes.new_tensor([width, height])
    pts, _, t = bezier(strokes, arc_params(strokes, u, height, width))
    pts = pts * scale  # (N, n, 2) px
    radii = radius_px(strokes[:, RADII], height, width)  # (N, 2) px at t = 0 and t = 1
    sigma = (lerp(radii[:, 0:1], radii[:, 1:2], t) / HALF_MAX).clamp_min(SIGMA_MIN)  # (N, n)
    # arc length each stamp stands for (trapezoid rule), plus extra weight at each end for round caps
    seg = (pts[:, 1:] - pts[:, :-1]).norm(dim=-1)  # (N, n-1)
    ds = F.pad(seg, (0, 1)) / 2 + F.pad(seg, (1, 0)) / 2
    w = ds / (sigma * math.sqrt(2 * math.pi))
    w = w + _end_weights(seg.sum(1), sigma)
    return pts, t, sigma, w, radii


def _fields(
    strokes: Tensor, pts: Tensor, t: Tensor, sigma: Tensor, w: Tensor, radii: Tensor, xs: Tensor, ys: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The two stamp fields on a grid of pixel centres, and the ends (radius, opacity) of each stroke.

    stamps as from :func:`_stamps`;  xs: (W,) or (N, 1, W) and ys: (H,) or (N, 1, H) pixel centres, px
    returns: density, tfield (N, H, W), ends (N, 4)
    """
    gy_t, wgx, twgx, ends = _factors(strokes, pts, t, sigma, w, radii, xs, ys)
    return torch.bmm(gy_t, wgx), torch.bmm(gy_t, twgx), ends


def _factors(
    strokes: Tensor, pts: Tensor, t: Tensor, sigma: Tensor, w: Tensor, radii: Tensor, xs: Tensor, ys: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The separable factors of the two stamp fields (arguments as :func:`_fields`): the density
    Σ_j w_j gy_j(y) gx_j(x) is gyᵀ (w gx) and its t-weighted twin gyᵀ (t w gx), each one batched
    product; radius and opacity are linear in t, so their local values follow from the local t.

    returns: gyᵀ (N, H, n), w gx (N, n, W), t w gx (N, n, W), ends (N, 4)
    """
    dx = xs - pts[..., 0:1]  # (N, n, W): pixel minus stamp, px
    dy = ys - pts[..., 1:2]  # (N, n, H)
    gx = torch.exp(-0.5 * (dx / sigma[..., None]) ** 2)
    gy = torch.exp(-0.5 * (dy / sigma[..., None]) ** 2)
    wgx = w[..., None] * gx
    a0, a2 = strokes[:, OPACITIES].unbind(1)
    ends = torch.stack([radii[:, 0], radii[:, 1] - radii[:, 0], a0, a2 - a0], -1)
    return gy.transpose(1, 2), wgx, t[..., None] * wgx, ends


def _stamp_fields(strokes: Tensor, u: Tensor, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """Stamp fields of strokes that all use n stamps (at arc fractions u (n,)), on the whole canvas.

    strokes: (N, 13)  ->  density, tfield (N, H, W), ends (N, 4)
    """
    stamps = _stamps(strokes, u, height, width)
    return _fields(strokes, *stamps, pixel_centres(width, strokes), pixel_centres(height, strokes))


# torch.compile fuses each of the per-pixel functions above into one loop over the pixels, and the
# stamp fields' small operations into a few kernels (bench/README.md). Off by default: the first
# call compiles for about 40 s (cached on disk after that). Turn on with compile_canvas() or
# GLIMPSE_COMPILE=1.
_compile = os.environ.get("GLIMPSE_COMPILE", "0") not in ("", "0")


def compile_canvas(enabled: bool = True) -> bool:
    """Render the fast mode with torch.compile'd kernels (or stop doing so).
    Returns the previous setting, so that a caller can restore it."""
    global _compile
    previous, _compile = _compile, bool(enabled)
    return previous


def _use_compiled(like: Tensor) -> bool:
    return _compile and like.dtype != torch.float64 and not torch.compiler.is_compiling()


@functools.cache
def _compiled(fn):
    return torch.compile(fn, dynamic=True)


class _CompiledTube(torch.autograd.Function):
    """Coverage of every stroke group by the compiled kernels, assembled into one (N, H, W) tensor
    in the strokes' order: each group's kernel writes its rows of the output, and its gradient
    kernel reads them, so no copy is made to reorder the strokes.

    Takes the edge, each group's rows in the output (None for one group holding every stroke), then
    density, tfield and ends of each group in turn. Only the inputs are saved; the backward kernel
    recomputes the per-pixel terms (cheaper than storing them).
    """

    @staticmethod
    def forward(ctx, edge: float, rows: tuple[Tensor, ...] | None, *fields: Tensor) -> Tensor:
        density = fields[0]
        rows = rows or (torch.arange(len(density), device=density.device),)  # one group: every row
        ctx.save_for_backward(*fields)
        ctx.edge, ctx.rows = edge, rows
        out = density.new_empty(sum(len(r) for r in rows), *density.shape[1:])
        for i, r in enumerate(rows):
            _compiled(coverage_into)(out, r, *fields[3 * i : 3 * i + 3], edge)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        fields, grad_out, rows = ctx.saved_tensors, grad_out.contiguous(), ctx.rows
        grad_from = _compiled(coverage_grad_from)
        return (
            None,
            None,
            *(g for i, r in enumerate(rows) for g in grad_from(grad_out, r, *fields[3 * i : 3 * i + 3], ctx.edge)),
        )


def _in_stroke_order(parts: list[Tensor], rows: tuple[Tensor, ...] | None) -> Tensor:
    """Per-group tensors (each (n_g, ...)) back in the strokes' order."""
    return parts[0] if rows is None else torch.cat(parts).index_select(0, torch.cat(rows).argsort())


def _end_weights(length: Tensor, sigma: Tensor) -> Tensor:
    """Extra weight on the first and last stamp, for round caps: 0.5 for a dot (exactly a disc of
    radius r), rising to END_WEIGHT for strokes much longer than they are wide (cap ≈ 0.94 r).
    Short, broad strokes come out up to about 10 % fuller than the crisp rasteriser draws them.

    length: (N,) px;  sigma: (N, n)  ->  (N, n)
    """
    n = sigma.shape[1]
    cap = 0.5 + (END_WEIGHT - 0.5) * torch.tanh(length[:, None] / (3 * sigma[:, [0, -1]]))
    return torch.cat([cap[:, :1], sigma.new_zeros(sigma.shape[0], n - 2), cap[:, 1:]], dim=1)


def _stamp_params(n: int, like: Tensor) -> Tensor:
    """n arc-length fractions evenly in [0, 1]. (n,)"""
    # a tensor, not n itself, so that a compiled _stamp_fields serves every stamp count
    return torch.linspace(0, 1, n, device=like.device, dtype=like.dtype)


def _stamp_groups(strokes: Tensor, height: int, width: int) -> list[tuple[int, Tensor | None]]:
    """Strokes grouped by stamp count, rounded up to a power of two: (count, rows or None for all)."""
    with torch.no_grad():
        need = stamps_needed(strokes, height, width).clamp(4, 4096)
        groups = (2 ** torch.log2(need.float()).ceil()).long()
    sizes = groups.unique().tolist()
    if len(sizes) == 1:
        return [(sizes[0], None)]
    return [(n, (groups == n).nonzero().squeeze(1)) for n in sizes]


def fast_alpha(strokes: Tensor, height: int, width: int, edge: float = 0.5, style: Style = "flat") -> Tensor:
    """Coverage of each stroke from separable Gaussian stamps, on the whole canvas. (N, 13) -> (N, H, W)"""
    if strokes.shape[0] == 0:
        return strokes.new_zeros(0, height, width)
    groups = _stamp_groups(strokes, height, width)
    rows = None if len(groups) == 1 else tuple(r for _, r in groups)
    compiled = _use_compiled(strokes)
    stamp = _compiled(_stamp_fields) if compiled else _stamp_fields
    parts = [stamp(strokes if r is None else strokes[r], _stamp_params(n, strokes), height, width) for n, r in groups]
    if compiled:
        alpha = _CompiledTube.apply(edge, rows, *(f for part in parts for f in part))
    else:  # autograd through the pure function: it keeps the per-pixel terms, faster than recomputing
        alpha = _in_stroke_order([tube_coverage(*part, edge) for part in parts], rows)
    if style == "oil":
        t = _in_stroke_order([tfield / guarded(density)[1] for density, tfield, _ in parts], rows)  # (N, H, W)
        xs, ys = pixel_centres(width, strokes), pixel_centres(height, strokes)
        alpha = alpha * bristles(brush_offset(strokes, t, xs, ys, height, width), t, strokes, height, width)
    return alpha


def _canvas_factors(strokes: Tensor, u: Tensor, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """gyᵀ (N, H, n), [w gx | t w gx] (N, n, 2W) and ends (N, 4) of strokes on the whole canvas:
    one product gives both stamp fields side by side."""
    xs, ys = pixel_centres(width, strokes), pixel_centres(height, strokes)
    gy_t, wgx, twgx, ends = _factors(strokes, *_stamps(strokes, u, height, width), xs, ys)
    return gy_t, torch.cat([wgx, twgx], -1), ends


def fast_fields(
    strokes: Tensor, height: int, width: int, compiled: bool | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The stamp fields of every stroke on the whole canvas, for a caller that turns them into
    coverage itself (:func:`tube_coverage` of row ``row[i]`` is stroke i's α in :func:`fast_alpha`).
    Strokes are grouped by stamp count and each group's product is written into its rows of one
    buffer, so the rows come in group order, not the strokes' order. ``compiled`` (default: the
    :func:`compile_canvas` setting) computes the factors with a compiled kernel. No autograd.

    strokes: (N, 13)  ->  density, tfield (N, H, W) (views of one (N, H, 2W) buffer), ends (N, 4),
    row (N,) long
    """
    n_strokes = strokes.shape[0]
    compiled = _use_compiled(strokes) if compiled is None else compiled
    factors = _compiled(_canvas_factors) if compiled else _canvas_factors
    fields = strokes.new_empty(n_strokes, height, 2 * width)
    ends = strokes.new_empty(n_strokes, 4)
    row = torch.empty(n_strokes, dtype=torch.long, device=strokes.device)
    start = 0
    with torch.no_grad():
        for n, rows in _stamp_groups(strokes, height, width):
            rows = torch.arange(n_strokes, device=strokes.device) if rows is None else rows
            stop = start + len(rows)
            gy_t, gx2, ends[start:stop] = factors(strokes[rows], _stamp_params(n, strokes), height, width)
            torch.bmm(gy_t, gx2, out=fields[start:stop])
            row[rows] = torch.arange(start, stop, device=strokes.device)
            start = stop
    return fields[..., :width], fields[..., width:], ends, row


# Window sides: about √2 apart, so that a window holds at most twice the pixels its stroke needs.
WINDOW_SIDES = sorted({round(8 * 2 ** (k / 2)) for k in range(23)})  # 8, 11, 16, 23, 32, ... 16384
WINDOW_EDGES = 18  # a window reaches this many edge widths past a stroke's radius: α < 2e-8 beyond


def window_reach(sigma: Tensor, weights: Tensor, radii: Tensor, edge: float) -> Tensor:
    """How far from its nearest stamp a stroke can colour a pixel, px.

    The density at a pixel is at most the stamps' total weight W times the nearest stamp's
    Gaussian, so it reads a distance at most 2σ² ln W short of the true one; past that, coverage
    is o sigmoid((r - d) / edge) < 2e-8 once d > r + 18 edge.

    sigma, weights: (N, n);  radii: (N, 2) px  ->  (N,)
    """
    r = radii.max(-1).values
    s = sigma.max(-1).values
    spread = 2 * s * s * weights.sum(-1).clamp_min(1).log()
    return ((r + WINDOW_EDGES * edge) ** 2 + spread).sqrt() + 1


def stroke_windows(pts: Tensor, reach: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Each stroke's window: the box of its stamps grown by ``reach`` (px), clipped to the canvas
    and padded to a side from WINDOW_SIDES (so that strokes share few window shapes).

    pts: (N, n, 2) stamp centres, px;  reach: (N,)  ->  origins (N, 2) and sizes (N, 2), long, as (x, y)
    """
    canvas = torch.tensor([width, height], device=pts.device)
    lo = (pts.amin(1) - reach[:, None]).floor().long().clamp_min(0)  # (N, 2)
    hi = torch.minimum((pts.amax(1) + reach[:, None]).ceil().long(), canvas)
    span = (hi - lo).clamp_min(1)
    sides = torch.tensor(WINDOW_SIDES, device=pts.device)
    side = sides[torch.searchsorted(sides, span.max(-1).values).clamp_max(len(WINDOW_SIDES) - 1)]
    size = torch.minimum(side[:, None], canvas)
    origin = torch.minimum((lo - (size - span) // 2).clamp_min(0), canvas - size)  # the box stays inside
    return origin, size


def window_boxes(strokes: Tensor, height: int, width: int, edge: float = 0.5) -> tuple[Tensor, Tensor]:
    """Each stroke's window (:func:`stroke_windows`) without rendering it.

    strokes: (N, 13)  ->  origins (N, 2) and sizes (N, 2), long, as (x, y)
    """
    origins = torch.zeros(strokes.shape[0], 2, dtype=torch.long, device=strokes.device)
    sizes = torch.zeros_like(origins)
    with torch.no_grad():
        for n, rows in _stamp_groups(strokes, height, width):
            rows = slice(None) if rows is None else rows
            pts, _, sigma, w, radii = _stamps(strokes[rows], _stamp_params(n, strokes), height, width)
            origins[rows], sizes[rows] = stroke_windows(pts, window_reach(sigma, w, radii, edge), height, width)
    return origins, sizes


def fast_alpha_windows(
    strokes: Tensor, height: int, width: int, edge: float = 0.5, style: Style = "flat"
) -> tuple[list[Tensor], Tensor]:
    """Coverage of each stroke on its window only (:func:`stroke_windows`): the pixels its paint
    reaches, not the whole canvas. Inside its window a stroke's coverage is what :func:`fast_alpha`
    gives there; outside it is below 2e-8. Differentiable (eager autograd, no compiled kernels).

    strokes: (N, 13)  ->  α windows in stroke order, each (h_i, w_i), and their origins (N, 2) long
    as (left, top) px
    """
    windows: list[Tensor | None] = [None] * strokes.shape[0]
    origins = torch.zeros(strokes.shape[0], 2, dtype=torch.long, device=strokes.device)
    for n, rows in _stamp_groups(strokes, height, width):
        rows = torch.arange(strokes.shape[0], device=strokes.device) if rows is None else rows
        group = strokes[rows]
        pts, t, sigma, w, radii = _stamps(group, _stamp_params(n, strokes), height, width)
        with torch.no_grad():
            origin, size = stroke_windows(pts, window_reach(sigma, w, radii, edge), height, width)
        shapes, which = size.unique(dim=0, return_inverse=True)
        for k, (ww, wh) in enumerate(shapes.tolist()):
            sel = (which == k).nonzero().squeeze(1)
            left, top = origin[sel, 0:1, None].to(strokes.dtype), origin[sel, 1:2, None].to(strokes.dtype)
            xs = pixel_centres(ww, strokes) + left  # (k, 1, ww): exactly the canvas's pixel centres
            ys = pixel_centres(wh, strokes) + top  # (k, 1, wh)
            s = group[sel]
            density, tfield, ends = _fields(s, pts[sel], t[sel], sigma[sel], w[sel], radii[sel], xs, ys)
            alpha = tube_coverage(density, tfield, ends, edge)  # (k, wh, ww)
            if style == "oil":
                tt = tfield / guarded(density)[1]
                across = brush_offset(s, tt, xs, ys.transpose(1, 2), height, width)
                alpha = alpha * bristles(across, tt, s, height, width)
            for j, a in zip(rows[sel].tolist(), alpha.unbind(0), strict=True):
                windows[j] = a
            origins[rows[sel]] = origin[sel]
    return windows, origins
