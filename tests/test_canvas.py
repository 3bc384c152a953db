"""The differentiable canvas: coverage, compositing, gradients, batching, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from glimpse.canvas import (
    MODES,
    bezier,
    blank,
    check_strokes,
    compile_canvas,
    composite,
    composite_solved,
    paint,
    radius_px,
    stroke_alpha,
    stroke_colour,
)
from glimpse.coverage import tube_coverage, tube_coverage_grad
from glimpse.stamps import fast_alpha, fast_fields
from glimpse.strokes import COLOUR, OPACITIES, RADII


def stroke(x0, y0, x2, y2, r=0.1, opacity=1.0, rgb=(1.0, 0.0, 0.0), ctrl=(0.5, 0.5)) -> torch.Tensor:
    return torch.tensor([x0, y0, *ctrl, x2, y2, r, r, opacity, opacity, *rgb])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("style", ["flat", "oil"])
def test_stroke_covers_its_centre_line_and_not_far_pixels(mode, style):
    s = stroke(0.3, 0.4, 0.6, 0.55, r=0.2)  # radius (1/256 + 0.05) * 64 = 3.45 px
    alpha = stroke_alpha(s[None], 64, 64, mode, style)[0]
    pts, _, _ = bezier(s[None], torch.linspace(0.05, 0.95, 30))
    cols = (pts[0, :, 0] * 64).long()
    rows = (pts[0, :, 1] * 64).long()
    on_line = alpha[rows, cols]
    assert on_line.min() > (0.3 if style == "oil" else 0.9)  # oil: streaks, and the paint thins toward the end
    # the stroke spans x 15.7-41.9 px and y 22.1-38.7 px; ten pixels beyond that, nothing
    far = torch.ones(64, 64, dtype=torch.bool)
    far[12:49, 5:52] = False
    assert alpha[far].abs().max() < 1e-6


@pytest.mark.parametrize("mode", MODES)
def test_thin_long_stroke_stays_continuous(mode):
    s = stroke(0.02, 0.05, 0.97, 0.9, r=0.0)  # the thinnest stroke, 0.25 px radius, across 128 px
    alpha = stroke_alpha(s[None], 128, 128, mode)[0]
    pts, _, _ = bezier(s[None], torch.linspace(0.1, 0.9, 400))
    xy = pts[0] * 128
    # coverage sampled exactly on the centre line, bilinearly: no beads, no gaps
    grid = (xy / 128 * 2 - 1).view(1, 1, -1, 2)
    along = torch.nn.functional.grid_sample(alpha[None, None], grid, align_corners=False).flatten()
    assert along.min() > 0.25
    assert along.max() - along.min() < 0.25 * along.max()


@pytest.mark.parametrize("ctrl", [(0.5, 0.5), (0.0, 0.0), (1.0, 1.0)])
@pytest.mark.parametrize("length", [0.3, 0.55, 0.59])
def test_hairline_has_no_beads_wherever_its_control_point_lies(ctrl, length):
    # a 0.25 px hairline through a row of pixel centres; with the control point on an end point
    # the curve runs there at twice its mean speed, where stamps even in t lie furthest apart
    s = stroke(0.2, 32.5 / 64, 0.2 + length, 32.5 / 64, r=0.0, ctrl=ctrl)
    inside = slice(round(0.2 * 64) + 2, round((0.2 + length) * 64) - 2)  # away from the caps
    fast = stroke_alpha(s[None], 64, 64, "fast")[0, 32, inside]
    crisp = stroke_alpha(s[None], 64, 64, "crisp")[0, 32, inside]  # the exact tube: 0.622 throughout
    assert crisp.max() - crisp.min() < 1e-4
    assert (fast - crisp).abs().max() < 0.01 * crisp.max()  # stamps ≤ 1.5σ apart: ripple, not beads


@pytest.mark.parametrize("mode", MODES)
def test_zero_opacity_changes_nothing(mode):
    canvas = torch.rand(2, 3, 20, 24)
    s = torch.rand(2, 3, 13)
    s[..., OPACITIES] = 0
    assert torch.equal(paint(canvas, s, mode), canvas)


@pytest.mark.parametrize("mode", MODES)
def test_over_compositing_order(mode):
    red = stroke(0.1, 0.5, 0.9, 0.5, r=0.8, rgb=(1, 0, 0))
    blue = stroke(0.5, 0.1, 0.5, 0.9, r=0.8, rgb=(0, 0, 1))
    canvas = blank(1, 3, 32, 32)
    red_last = paint(canvas, torch.stack([blue, red])[None], mode)[0, :, 16, 16]
    blue_last = paint(canvas, torch.stack([red, blue])[None], mode)[0, :, 16, 16]
    assert red_last[0] > 0.99 and red_last[2] < 0.01
    assert blue_last[2] > 0.99 and blue_last[0] < 0.01
    # half-transparent: what lies below shows through by (1 - α)
    half = red.clone()
    half[OPACITIES] = 0.5
    out = paint(torch.ones(1, 3, 32, 32), half[None, None], mode)[0, :, 16, 16]
    assert torch.allclose(out, torch.tensor([1.0, 0.5, 0.5]), atol=0.02)


def test_composite_matches_the_over_formula():
    canvas = torch.rand(2, 3, 5, 6)
    alpha = torch.rand(2, 2, 5, 6)
    colour = torch.rand(2, 2, 3)
    expected = canvas.clone()
    for s in range(2):
        a = alpha[:, s, None]
        expected = expected * (1 - a) + a * colour[:, s, :, None, None]
    assert torch.allclose(composite(canvas, alpha, colour), expected, atol=1e-6)


def test_composite_solved_finds_the_colour_of_a_known_stroke():
    s = stroke(0.2, 0.3, 0.8, 0.6, r=0.3, opacity=0.9, rgb=(0.2, 0.7, 0.4))[None, None]
    canvas = torch.full((1, 3, 24, 24), 0.5)
    target = paint(canvas, s)
    alpha = stroke_alpha(s, 24, 24)
    wrong = torch.tensor([[[1.0, 0.0, 0.0]]])
    out, colour = composite_solved(canvas, alpha, wrong, target, weight=0.0)
    assert torch.allclose(colour, s[..., COLOUR], atol=1e-4) and torch.allclose(out, target, atol=1e-5)
    # a prior's weight pulls towards it; a stroke that covers nothing keeps its prior
    _, pulled = composite_solved(canvas, alpha, wrong, target, weight=1e6)
    assert torch.allclose(pulled, wrong, atol=1e-3)
    _, kept = composite_solved(canvas, torch.zeros_like(alpha), wrong, target)
    assert torch.equal(kept, wrong)


def test_composite_solved_never_does_worse_than_its_prior_and_is_differentiable():
    torch.manual_seed(5)
    canvas, target = torch.rand(4, 3, 10, 11), torch.rand(4, 3, 10, 11)
    alpha, prior = torch.rand(4, 1, 10, 11), torch.rand(4, 1, 3)
    solved, _ = composite_solved(canvas, alpha, prior, target, weight=0.0)
    fixed = composite(canvas, alpha, prior)
    # per channel the error is a convex quadratic in the colour: the clamped minimum is the best in [0, 1]
    assert ((solved - target).pow(2).sum((1, 2, 3)) <= (fixed - target).pow(2).sum((1, 2, 3)) + 1e-6).all()
    # the colours stay inside [0, 1] for any target, and are a smooth function of everything
    _, far = composite_solved(canvas, alpha, prior, 3 * target - 1)
    assert far.min() >= 0 and far.max() <= 1
    g = torch.Generator().manual_seed(6)
    c, a, p, t = (0.2 + 0.6 * torch.rand(shape, generator=g, dtype=torch.float64) for shape in
                  ((2, 3, 4, 5), (2, 3, 4, 5), (2, 3, 3), (2, 3, 4, 5)))  # fmt: skip
    inputs = tuple(x.requires_grad_(True) for x in (c, a, p, t))
    assert torch.autograd.gradcheck(composite_solved, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("style", ["flat", "oil"])
def test_gradients_match_finite_differences(mode, style):
    torch.manual_seed(3)
    # interior values, away from the clamps where the function has kinks
    s = (0.25 + 0.5 * torch.rand(1, 2, 13, dtype=torch.float64)).requires_grad_(True)
    canvas = torch.rand(1, 3, 14, 12, dtype=torch.float64)

    def f(strokes):
        return paint(canvas, strokes, mode, style, edge=0.8)

    assert torch.autograd.gradcheck(f, (s,), eps=1e-6, atol=1e-5, rtol=1e-3)
    # and every one of the 13 numbers moves the picture
    (g,) = torch.autograd.grad(f(s).square().sum(), s)
    assert (g.abs() > 0).all()


@pytest.mark.parametrize("mode", MODES)
def test_batched_equals_one_by_one(mode):
    torch.manual_seed(0)
    strokes = torch.rand(4, 6, 13)
    strokes[0, :, RADII] = 0.0  # thin strokes need many stamps, broad ones few: mixed groups
    canvas = torch.rand(4, 3, 24, 20)
    together = paint(canvas, strokes, mode)
    alone = torch.cat([paint(canvas[i : i + 1], strokes[i : i + 1], mode) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)
    singly = canvas.clone()
    for s in range(6):
        singly = paint(singly, strokes[:, s : s + 1], mode)
    assert torch.allclose(together, singly, atol=1e-5)


def test_fast_and_crisp_agree():
    torch.manual_seed(1)
    strokes = torch.rand(1, 12, 13)
    fast = paint(blank(1, 3, 64, 64), strokes, "fast")
    crisp = paint(blank(1, 3, 64, 64), strokes, "crisp")
    # the two differ in the caps of short, broad strokes (about 0.03 here; 0.3 if misplaced)
    assert (fast - crisp).abs().mean() < 0.05
    dots = torch.tensor([[0.4, 0.5, 0.5, 0.5, 0.4, 0.5, 0.3, 0.3, 1, 1, 1, 1, 1]])  # a disc: the same
    assert (stroke_alpha(dots, 32, 32, "fast") - stroke_alpha(dots, 32, 32, "crisp")).abs().max() < 0.01


def test_greyscale_and_any_size():
    s = torch.rand(2, 4, 13)
    grey = paint(blank(2, 1, 17, 40), s)
    assert grey.shape == (2, 1, 17, 40)
    assert torch.allclose(stroke_colour(s, 1)[..., 0], s[..., COLOUR] @ torch.tensor([0.299, 0.587, 0.114]))
    assert radius_px(torch.tensor(1.0), 64, 64) == pytest.approx(16.25)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_gpu_matches_cpu():
    s = torch.rand(3, 5, 13)
    c = torch.rand(3, 3, 32, 32)
    for mode in MODES:
        assert torch.allclose(paint(c.cuda(), s.cuda(), mode).cpu(), paint(c, s, mode), atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_gpu_gradients_and_compiled_kernels_match_cpu():
    torch.manual_seed(0)
    s, w = torch.rand(6, 13), torch.rand(6, 40, 40)

    def grad(strokes: torch.Tensor, weights: torch.Tensor, style: str, compiled: bool) -> torch.Tensor:
        x = strokes.clone().requires_grad_(True)
        before = compile_canvas(compiled)
        try:
            (stroke_alpha(x, 40, 40, "fast", style) * weights).sum().backward()
        finally:
            compile_canvas(before)
        return x.grad.cpu()

    for style in ("flat", "oil"):
        ref = grad(s, w, style, False)
        for compiled in (False, True):
            assert torch.allclose(grad(s.cuda(), w.cuda(), style, compiled), ref, rtol=1e-3, atol=1e-3)


def test_bad_strokes_name_the_value():
    s = torch.rand(2, 3, 13)
    s[1, 2, 7] = 1.5
    with pytest.raises(ValueError, match=r"strokes\[\(1, 2, 7\)\] = 1.5"):
        check_strokes(s)
    s[1, 2, 7] = float("nan")
    with pytest.raises(ValueError, match="nan"):
        paint(blank(2, 3, 8, 8), s, check=True)
    with pytest.raises(ValueError, match="13 numbers"):
        check_strokes(torch.rand(2, 12))
    with pytest.raises(ValueError, match="canvas size"):
        stroke_alpha(torch.rand(1, 13), 0, 8)
    with pytest.raises(ValueError, match="mode"):
        stroke_alpha(torch.rand(1, 13), 8, 8, mode="blurry")


@pytest.mark.parametrize("mode", MODES)
def test_float32_gradients_are_finite_and_match_float64(mode):
    # thin and broad strokes leave pixels whose stamp field is just above the cut-off; the
    # backward pass there must not overflow in float32
    torch.manual_seed(5)
    s64 = torch.rand(2, 20, 13, dtype=torch.float64)
    target = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    grads = []
    for dtype in (torch.float32, torch.float64):
        s = s64.to(dtype).requires_grad_(True)
        loss = (paint(blank(2, 3, 64, 64, dtype=dtype), s, mode) - target.to(dtype)).pow(2).mean()
        (g,) = torch.autograd.grad(loss, s)
        grads.append(g.double())
    assert torch.isfinite(grads[0]).all()
    assert torch.allclose(grads[0], grads[1], atol=1e-4, rtol=1e-2)  # crisp: nearest-segment ties


def test_written_out_tube_gradient_matches_autograd():
    # the fast mode backpropagates through tube_coverage_grad instead of autograd
    torch.manual_seed(6)
    density = torch.rand(3, 9, 11, dtype=torch.float64).pow(6)  # densities from ~1e-6 to 1
    tfield = density * torch.rand(3, 9, 11, dtype=torch.float64)
    density[0, :, :3] = 0.0  # no stamp reaches these pixels
    density[1, 0, :3] = 1.5  # overlapping stamps: D > 1, clamped distance
    # r0, Δr (px) and o0, Δo: radii that cross the 0.4 px σ floor, opacity rising and falling
    ends = torch.tensor([[0.2, 3.0, 0.3, 0.5], [2.0, -1.0, 0.9, -0.4], [5.0, 0.5, 0.5, 0.1]], dtype=torch.float64)
    inputs = [x.requires_grad_(True) for x in (density, tfield, ends)]
    grad_alpha = torch.rand(3, 9, 11, dtype=torch.float64)
    expected = torch.autograd.grad((tube_coverage(*inputs, 0.5) * grad_alpha).sum(), inputs)
    written = tube_coverage_grad(*(x.detach() for x in inputs), grad_alpha, 0.5)
    for w, e in zip(written, expected, strict=True):
        assert torch.allclose(w, e, rtol=1e-9, atol=1e-12)
    assert (written[0][0, :, :3] == 0).all() and (written[1][0, :, :3] == 0).all()


def test_compiled_canvas_matches_eager():
    pytest.importorskip("torch._inductor")
    torch.manual_seed(7)
    mixed = torch.rand(2, 12, 13)  # several stamp-count groups, written into the output in place
    same = torch.rand(1, 1, 13).expand(2, 5, 13).clone()  # one group holding every stroke
    target = torch.rand(2, 3, 24, 20)
    before = compile_canvas(False)
    try:
        for s, style in ((mixed, "flat"), (same, "flat"), (mixed, "oil")):
            results = []
            for on in (False, True):
                compile_canvas(on)
                x = s.clone().requires_grad_(True)
                loss = (paint(blank(2, 3, 24, 20), x, style=style) - target).pow(2).mean()
                (g,) = torch.autograd.grad(loss, x)
                results.append((loss.detach(), g))
            assert torch.allclose(results[0][0], results[1][0], rtol=1e-5)
            assert torch.allclose(results[0][1], results[1][1], rtol=1e-3, atol=1e-6)
    finally:
        compile_canvas(before)


@pytest.mark.parametrize("compiled", [False, True])
def test_fast_fields_give_fast_alpha_by_row(compiled):
    """fast_fields returns the stamp fields in group order; row[i] is stroke i's, and its
    coverage is fast_alpha's (several stamp-count groups, and one group holding every stroke)."""
    torch.manual_seed(3)
    for strokes in (torch.rand(9, 13), torch.rand(1, 13).expand(4, 13).clone()):
        density, tfield, ends, row = fast_fields(strokes, 21, 17, compiled=compiled)
        assert density.shape == tfield.shape == (len(strokes), 21, 17) and ends.shape == (len(strokes), 4)
        assert sorted(row.tolist()) == list(range(len(strokes)))
        alpha = tube_coverage(density[row], tfield[row], ends[row], 0.5)
        assert torch.allclose(alpha, fast_alpha(strokes, 21, 17), atol=1e-6)


def _offsets_and_t(s: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed distance (px) of every pixel centre to the centre line of one stroke, and the curve
    parameter of its nearest point, from a dense polyline (independent of both rasterisers)."""
    pts, tangent, t = bezier(s[None].double(), torch.linspace(0, 1, 4001, dtype=torch.float64))
    pts, tangent = pts[0] * size, tangent[0] * size  # (n, 2) px
    xy = torch.stack(torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="xy"), -1)
    d = (xy.double()[:, :, None] - pts).norm(dim=-1)  # (H, W, n)
    k = d.argmin(-1)
    normal = torch.stack([-tangent[:, 1], tangent[:, 0]], -1)
    normal = normal / normal.norm(dim=-1, keepdim=True)
    offset = ((xy.double() - pts[k]) * normal[k]).sum(-1)
    return offset, t[0][k]


def _spread_by_bin(values: torch.Tensor, key: torch.Tensor, width: float) -> float:
    """The largest range of ``values`` among pixels whose ``key`` falls in one bin of ``width``."""
    bins = (key / width).round()
    return max((values[bins == b].max() - values[bins == b].min()).item() for b in bins.unique())


@pytest.mark.parametrize("mode", MODES)
def test_oil_texture_runs_along_the_stroke_and_thins_toward_its_end(mode):
    from glimpse.strokes import THINNING

    # a long, gently bending stroke of constant radius (6.9 px) and opacity
    s = stroke(0.15, 0.3, 0.85, 0.55, r=0.2, ctrl=(0.5, 0.9))
    size = 128
    oil, flat = (stroke_alpha(s[None], size, size, mode, style)[0].double() for style in ("oil", "flat"))
    offset, t = _offsets_and_t(s, size)
    inside = (flat > 0.97) & (t > 0.1) & (t < 0.9)  # well inside, away from the caps
    texture = oil / flat / (1 - THINNING * t * t)  # the streaks alone, the thinning divided out
    assert inside.sum() > 500
    # constant along the centre line at a fixed offset across it (bins of 0.05 px: the streak
    # period is 2.5 px, so a bin spans at most 0.03 of the texture's range)
    assert _spread_by_bin(texture[inside], offset[inside], 0.05) < 0.06
    assert texture[inside].max() - texture[inside].min() > 0.3  # and it does streak across
    # the paint thins toward the end
    start, end = inside & (t < 0.3), inside & (t > 0.7)
    assert (oil / flat)[end].mean() < 0.9 * (oil / flat)[start].mean()


@pytest.mark.parametrize("mode", MODES)
def test_oil_dabs_have_straight_streaks_not_rings(mode):
    # a short, broad, bent dab: shorter than it is wide
    s = stroke(0.45, 0.5, 0.53, 0.46, r=0.5, ctrl=(1.0, 0.0))
    size = 96
    oil, flat = (stroke_alpha(s[None], size, size, mode, style)[0].double() for style in ("oil", "flat"))
    scale = torch.tensor([size, size], dtype=torch.float64)
    p0, p2 = s[:2].double() * scale, s[4:6].double() * scale
    chord = (p2 - p0) / (p2 - p0).norm()
    xy = torch.stack(torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="xy"), -1).double()
    across = ((xy - p0) * torch.stack([-chord[1], chord[0]])).sum(-1)  # offset across the chord
    along = ((xy - p0) * chord).sum(-1)
    radial = (xy - (p0 + p2) / 2).norm(dim=-1)
    inside = (flat > 0.97) & (along.abs() < 3)  # a band across the dab, where the thinning is ~constant
    ratio = oil / flat
    assert inside.sum() > 60
    assert _spread_by_bin(ratio[inside], across[inside], 0.05) < 0.06  # straight streaks along the chord
    assert _spread_by_bin(ratio[inside], radial[inside], 0.05) > 0.2  # not rings round the centre


def test_flat_style_is_untouched_by_the_oil_texture(monkeypatch):
    # the flat style never evaluates the texture: the same numbers with the texture replaced
    import glimpse.canvas
    import glimpse.stamps

    torch.manual_seed(8)
    s = torch.rand(2, 9, 13)
    before = {mode: paint(blank(2, 3, 30, 26), s, mode) for mode in MODES}
    windowed = paint(blank(2, 3, 30, 26), s, window=True)
    assert torch.allclose(windowed, before["fast"], atol=1e-5)
    for module in (glimpse.stamps, glimpse.canvas):  # each renderer's own reference to it
        monkeypatch.setattr(module, "bristles", None)  # would fail if called
    assert not torch.equal(before["fast"], blank(2, 3, 30, 26))
    for mode in MODES:
        assert torch.equal(paint(blank(2, 3, 30, 26), s, mode), before[mode]), mode
    assert torch.equal(paint(blank(2, 3, 30, 26), s, window=True), windowed)
    with pytest.raises(TypeError):  # the patch is live: the oil style does call it
        paint(blank(2, 3, 30, 26), s, style="oil")


def test_stroke_dimensions_are_arc_length_and_twice_the_mean_radius():
    from glimpse.strokes import stroke_dimensions

    straight = stroke(0.1, 0.5, 0.9, 0.5, r=0.1)  # 0.8 of 64 px long, radius 1.85 px
    straight[RADII] = torch.tensor([0.1, 0.3])  # tapering: radii 1.85 and 5.05 px
    bent = stroke(0.0, 0.0, 1.0, 1.0, ctrl=(1.0, 0.0))  # a quadratic through the corner (1, 0)
    length, width = stroke_dimensions(torch.stack([straight, bent]), 64, 64)
    assert length[0].item() == pytest.approx(51.2, rel=1e-5) and width[0].item() == pytest.approx(6.9, rel=1e-5)
    # B(t) = (2t - t², t²): |B'(t)| = 2 sqrt((1 - t)² + t²), whose integral is 1 + asinh(1) / √2 sides
    assert length[1].item() == pytest.approx(64 * (1 + math.asinh(1) / math.sqrt(2)), rel=1e-3)


def test_a_long_stroke_paints_in_float16_too():
    # the control polygon's legs are measured in float32: a float16 square of 256 px overflows
    s = torch.tensor([[0.02, 0.02, 0.0, 0.0, 0.98, 0.98, 0.1, 0.1, 1, 1, 1, 0, 0]])
    full = fast_alpha(s, 512, 512)
    half = fast_alpha(s.half(), 512, 512)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    assert abs(half.float().sum() / full.sum() - 1) < 0.005  # not lost; float16 moves edges a little
    assert (half.float() - full).abs().max() < 0.05  # (a float16 position near 512 px is 0.25 px coarse)
