"""Windowed painting (issue 20): each stroke rendered on its window equals the whole-canvas rendering,
in values and gradients, in both styles; the painter's windowed rollout equals its own rollout."""

from __future__ import annotations

import itertools

import pytest
import torch

from glimpse.canvas import blank, paint, paint_steps, stroke_alpha, window_runs
from glimpse.painter import Painter, PainterConfig
from glimpse.painting import paint_pictures, rollout_windows
from glimpse.stamps import window_boxes
from glimpse.strokes import END, RADII, START


def mixed_strokes(batch: int, count: int, seed: int) -> torch.Tensor:
    """Random strokes with the hard cases: the thinnest and broadest, tapering, dots."""
    g = torch.Generator().manual_seed(seed)
    s = torch.rand(batch, count, 13, generator=g, dtype=torch.float64)
    s[0, :4, RADII] = 0.0
    s[0, 4:8, RADII] = 1.0
    s[-1, :3, RADII] = torch.tensor([1.0, 0.0], dtype=torch.float64)
    s[-1, 3:6, END] = s[-1, 3:6, START]  # dots
    return s


@pytest.mark.parametrize("style", ["flat", "oil"])
@pytest.mark.parametrize("size", [(20, 27), (96, 80)])
def test_windowed_painting_equals_whole_canvas_values_and_gradients(style, size):
    h, w = size
    strokes = mixed_strokes(2, 24, seed=h)
    canvas0 = torch.rand(2, 3, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    weight = torch.rand(2, 3, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    results = []
    for window in (False, True):
        s, c = strokes.clone().requires_grad_(True), canvas0.clone().requires_grad_(True)
        out = paint(c, s, "fast", style, window=window)
        results.append((out.detach(), *torch.autograd.grad((out * weight).sum(), (s, c))))
    for whole, windowed in zip(*results, strict=True):
        assert torch.allclose(whole, windowed, rtol=1e-6, atol=1e-9)
    alpha = stroke_alpha(strokes, h, w, "fast", style)
    assert torch.allclose(stroke_alpha(strokes, h, w, "fast", style, window=True), alpha, atol=1e-9)


def test_windows_hold_the_stroke_and_are_small_on_a_large_canvas():
    s = torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.55, 0.52, 0.05, 0.05, 1.0, 1.0, 1.0, 1.0, 1.0]])
    origins, sizes = window_boxes(s, 512, 512)
    assert (sizes <= 91).all()  # a short stroke of radius 7 px: a window of at most 91², not 512²
    alpha = stroke_alpha(s, 512, 512)[0]
    (left, top), (w, h) = origins[0].tolist(), sizes[0].tolist()
    outside = alpha.clone()
    outside[top : top + h, left : left + w] = 0
    assert alpha.sum() > 100 and outside.max() < 1e-7


def test_runs_bound_the_window_pixels_and_change_nothing(monkeypatch):
    strokes = mixed_strokes(1, 30, seed=3).float()
    monkeypatch.setattr("glimpse.canvas.WINDOW_PIXELS", 2000)
    runs = window_runs(strokes, 64, 64)
    assert len(runs) > 3 and runs[0].start == 0 and runs[-1].stop == 30
    assert all(a.stop == b.start for a, b in itertools.pairwise(runs))
    whole = paint(blank(1, 3, 64, 64), strokes)
    assert torch.allclose(paint(blank(1, 3, 64, 64), strokes, window=True), whole, atol=1e-6)


@pytest.mark.parametrize("style", ["flat", "oil"])
def test_paint_steps_yields_each_steps_canvas(style, monkeypatch):
    strokes = mixed_strokes(2, 30, seed=4).float()
    sizes = [4, 0, 7, 1, 10, 8, 0]  # empty steps too
    steps = list(strokes.split(sizes, dim=1))
    monkeypatch.setattr("glimpse.canvas.WINDOW_PIXELS", 3000)  # runs that end inside steps
    canvas = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(5))
    expected, out = canvas, []
    for step in steps:
        expected = paint(expected, step, "fast", style, window=True)
        out.append(expected)
    got = list(paint_steps(canvas, steps, "fast", style))
    assert len(got) == len(steps)
    for a, b in zip(got, out, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("colour", ["solved", "head"])
def test_windowed_rollout_equals_the_painters_rollout(colour):
    torch.manual_seed(0)
    model = Painter(PainterConfig(size=32, steps=4, strokes_per_step=3, hidden=32, width=8, colour=colour)).eval()
    target = torch.rand(2, 3, 80, 80)
    with torch.no_grad():
        r = model.rollout(target, 4)
    strokes, canvas = rollout_windows(model, target, 4)
    assert torch.allclose(torch.stack(strokes), r.strokes, atol=1e-5)
    assert torch.allclose(canvas, r.canvases[-1], atol=1e-5)


@pytest.mark.parametrize("style", ["flat", "oil"])
def test_paint_pictures_windowed_equals_the_earlier_path(style):
    torch.manual_seed(1)
    model = Painter(PainterConfig(size=16, steps=4, strokes_per_step=3, hidden=32, width=8)).eval()
    target = torch.rand(1, 3, 48, 48)  # 3× the painter's size: a coarse pass and 3 × 3 patches
    for strokes in (23, 24):  # a budget ending within a step, and one ending with it
        new = paint_pictures(model, target, strokes, style)
        old = paint_pictures(model, target, strokes, style, window=False)
        assert [s.shape for s in new.steps] == [s.shape for s in old.steps]
        assert torch.allclose(torch.cat(new.steps, 1), torch.cat(old.steps, 1), atol=1e-5)
        assert torch.allclose(new.canvas, old.canvas, atol=1e-5)
