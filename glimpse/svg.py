"""A painting as vector art: each stroke a filled outline, in painting order, that scales to any size.

A stroke's outline is its centre line's two offset curves, B(t) ± r(t) n̂(t) (n̂ the unit normal,
r the radius, tapering linearly from r0 to r2), sampled at :data:`SAMPLES` points each and joined by
round caps of :data:`CAP_SAMPLES` points: one closed polygon (nonzero fill, so a tight bend whose
inner offset curve folds over stays filled). Each vertex is where the fast rasteriser's coverage
falls to half (:func:`stroke_outlines`), so the outline is the stroke the canvas paints. Its opacity
runs from a0 to a2 along the chord P0 → P2 (a linear gradient), its colour is the stroke's (its
luminance on a greyscale canvas), and a Gaussian blur of its own region softens its edge as the
canvas does. The SVG is the flat style.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from glimpse.canvas import stroke_colour
from glimpse.strokes import END, MODES, OPACITIES, RADII, START, Mode, bezier, radius_px

SAMPLES = 33  # points along each side of a stroke
CAP_SAMPLES = 9  # points on each round cap


def _rays(strokes: Tensor, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """Where each outline vertex is sought: from the centre line B(t) along ±n̂(t) on the sides, and
    from the end points round the caps; and the geometric distance, r(t).

    strokes: (N, 13)  ->  origins (N, P, 2) px, unit directions (N, P, 2), radii (N, P) px
    """
    scale = strokes.new_tensor([width, height])
    pts, tangent, t = bezier(strokes, torch.linspace(0, 1, SAMPLES, dtype=strokes.dtype))
    pts, tangent = pts * scale, tangent * scale  # (N, m, 2) px
    chord = (strokes[:, END] - strokes[:, START]) * scale  # (N, 2)
    # a dot has no direction: any will do; elsewhere a vanishing tangent (a cusp) takes the chord's
    fallback = torch.where(chord.norm(dim=-1, keepdim=True) > 1e-6, chord, chord.new_tensor([1.0, 0.0]))
    tangent = torch.where(tangent.norm(dim=-1, keepdim=True) > 1e-6, tangent, fallback[:, None])
    u = tangent / tangent.norm(dim=-1, keepdim=True)  # (N, m, 2) unit tangent
    n = torch.stack([-u[..., 1], u[..., 0]], -1)  # unit normal
    radii = radius_px(strokes[:, RADII], height, width)  # (N, 2)
    r = radii[:, :1] + (radii[:, 1:] - radii[:, :1]) * t  # (N, m)
    phi = torch.linspace(0, math.pi, CAP_SAMPLES + 2, dtype=strokes.dtype)[1:-1, None]  # (c, 1) inside the arc
    end = phi.cos() * n[:, -1:] + phi.sin() * u[:, -1:]  # (N, c, 2): from +n̂ round the front
    start = -(phi.cos() * n[:, :1] + phi.sin() * u[:, :1])  # from -n̂ round the back
    c = CAP_SAMPLES
    origins = torch.cat([pts, pts[:, -1:].expand(-1, c, -1), pts.flip(1), pts[:, :1].expand(-1, c, -1)], 1)
    directions = torch.cat([n, end, -n.flip(1), start], 1)
    reach = torch.cat([r, r[:, -1:].expand(-1, c), r.flip(1), r[:, :1].expand(-1, c)], 1)
    return origins, directions, reach


def stroke_outlines(strokes: Tensor, height: int, width: int, exact: bool = True, iterations: int = 16) -> Tensor:
    """Closed outlines of the strokes, px, in the canvas's pixel frame ((0, 0) its top-left corner).

    With ``exact`` each vertex lies where the fast rasteriser's coverage falls to half the stroke's
    opacity (d = r in :func:`glimpse.coverage.tube_coverage`), found by bisection along its ray from
    the stamp fields evaluated at that point: the outline of the stroke the canvas paints, fuller
    caps of short, broad strokes included. Otherwise the geometric outline, B(t) ± r(t) n̂(t).

    strokes: (N, 13)  ->  (N, 2 · SAMPLES + 2 · CAP_SAMPLES, 2) as (x, y)
    """
    origins, directions, radius = _rays(strokes, height, width)
    if not exact or strokes.shape[0] == 0:
        return origins + radius[..., None] * directions
    from glimpse.stamps import HALF_MAX, SIGMA_MIN, _stamp_groups, _stamp_params, _stamps, window_reach

    rho = torch.empty_like(radius)
    for n, rows in _stamp_groups(strokes, height, width):
        rows = torch.arange(strokes.shape[0]) if rows is None else rows
        pts, t, sigma, w, radii = _stamps(strokes[rows], _stamp_params(n, strokes), height, width)
        o, v = origins[rows], directions[rows]  # (k, P, 2)
        lo = torch.zeros_like(radius[rows])
        hi = window_reach(sigma, w, radii, 0.0)[:, None].expand_as(lo).clone()  # beyond it: outside
        for _ in range(iterations):
            mid = (lo + hi) / 2
            p = o + mid[..., None] * v  # (k, P, 2)
            d2 = (p[:, :, None] - pts[:, None]).square().sum(-1)  # (k, P, n)
            g = w[:, None] * torch.exp(-0.5 * d2 / sigma[:, None].square())
            density = g.sum(-1).clamp_min(1e-300)
            tl = (g * t[:, None]).sum(-1) / density
            r = radii[:, :1] + (radii[:, 1:] - radii[:, :1]) * tl
            inside = (-2 * density.log()).clamp_min(0).sqrt() * (r / HALF_MAX).clamp_min(SIGMA_MIN) < r
            lo, hi = torch.where(inside, mid, lo), torch.where(inside, hi, mid)
        rho[rows] = (lo + hi) / 2
    return origins + rho[..., None] * directions


def _hex(colour: list[float]) -> str:
    if len(colour) == 1:
        colour = colour * 3
    return "#" + "".join(f"{round(min(max(c, 0.0), 1.0) * 255):02x}" for c in colour)


def strokes_svg(
    strokes: Tensor,
    height: int,
    width: int,
    channels: int = 3,
    background: float = 0.0,
    edge: float = 0.5,
    digits: int = 2,
    mode: Mode = "fast",
) -> str:
    """The strokes (N, 13), in painting order, on a canvas of ``height`` × ``width`` px filled with
    ``background``, as an SVG document whose viewBox is the canvas (it scales to any size). Each
    outline is blurred as the canvas softens its strokes' edges (``edge`` px; 0: hard edges): the
    outline the ``fast`` rasteriser paints, or for ``crisp`` the geometric tube it paints. Flat
    style only (the oil texture is not drawn)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    strokes = strokes.detach().to(torch.float64).cpu()
    outline_px = stroke_outlines(strokes, height, width, exact=mode == "fast")  # (N, P, 2)
    blur = math.sqrt(max(edge * edge * math.pi**2 / 3 - 1 / 12, 0.0))  # σ of the edge, less the pixels' box
    boxes = torch.cat([outline_px.amin(1) - 3 * blur, outline_px.amax(1) + 3 * blur], -1).tolist()  # (N, 4)
    outlines = outline_px.tolist()
    colours = stroke_colour(strokes, channels).tolist()
    ends = (strokes[:, [0, 1, 4, 5]] * torch.tensor([width, height, width, height], dtype=torch.float64)).tolist()
    opacity = strokes[:, OPACITIES].tolist()
    f = f".{digits}f"
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<rect width="{width}" height="{height}" fill="{_hex([background] * 3)}"/>',
    ]
    for i, (outline, colour, (x0, y0, x2, y2), (a0, a2), (left, top, right, bottom)) in enumerate(
        zip(outlines, colours, ends, opacity, boxes, strict=True)
    ):
        d = "M" + "L".join(f"{x:{f}} {y:{f}}" for x, y in outline) + "Z"
        fill, paint = _hex(colour), ""
        if blur > 0:  # the canvas's soft edge, sigmoid((r - d) / edge): about a Gaussian blur of σ = 1.8 edge
            region = f'x="{left:{f}}" y="{top:{f}}" width="{right - left:{f}}" height="{bottom - top:{f}}"'
            lines.append(
                f'<filter id="e{i}" filterUnits="userSpaceOnUse" {region}>'
                f'<feGaussianBlur stdDeviation="{blur:.3f}"/></filter>'
            )
            paint = f' filter="url(#e{i})"'
        if abs(a2 - a0) < 1 / 512 or math.hypot(x2 - x0, y2 - y0) < 1e-3:
            lines.append(f'<path d="{d}" fill="{fill}" fill-opacity="{(a0 + a2) / 2:.4f}"{paint}/>')
            continue
        lines.append(
            f'<linearGradient id="g{i}" gradientUnits="userSpaceOnUse" x1="{x0:{f}}" y1="{y0:{f}}" '
            f'x2="{x2:{f}}" y2="{y2:{f}}"><stop offset="0" stop-color="{fill}" stop-opacity="{a0:.4f}"/>'
            f'<stop offset="1" stop-color="{fill}" stop-opacity="{a2:.4f}"/></linearGradient>'
        )
        lines.append(f'<path d="{d}" fill="url(#g{i})"{paint}/>')
    lines.append("</svg>")
    return "\n".join(lines) + "\n"
