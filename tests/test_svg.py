"""The SVG (issue 20): rendered by an independent renderer (resvg, `pip install -e ".[test]"`), it
matches the flat canvas within a squared error of 1e-3 per pixel, at the canvas's size and scaled."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from glimpse.canvas import blank, paint
from glimpse.painting import paint_picture
from glimpse.shipped import load_shipped
from glimpse.svg import SAMPLES, stroke_outlines, strokes_svg

resvg_py = pytest.importorskip("resvg_py", reason="the SVG test needs resvg-py (pip install -e '.[test]')")


def rendered(svg: str, size: int) -> np.ndarray:
    png = resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB")).astype(np.float32) / 255


def canvas(strokes: torch.Tensor, size: int) -> np.ndarray:
    return paint(blank(1, 3, size, size), strokes[None], window=True)[0].permute(1, 2, 0).numpy()


def test_the_shipped_painters_svg_matches_the_flat_canvas():
    ramp = torch.linspace(0, 1, 128)
    target = torch.stack([ramp.outer(ramp), ramp.expand(128, 128), 1 - ramp[:, None].expand(128, 128)])
    blocks = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    target = (target + 0.3 * blocks.repeat_interleave(8, 1).repeat_interleave(8, 2)).clamp(0, 1)
    strokes = torch.cat(paint_picture(load_shipped("painter"), target, 200, "flat").steps)
    svg = strokes_svg(strokes, 128, 128)
    assert svg.count("<path") == 200
    for size in (128, 256):  # at the canvas's size, and scaled: the same strokes on a larger canvas
        mse = float(((rendered(svg, size) - canvas(strokes, size)) ** 2).mean())
        assert mse <= 1e-3, f"{size}²: {mse}"


def test_random_strokes_and_a_greyscale_background():
    strokes = torch.rand(150, 13, generator=torch.Generator().manual_seed(1))
    mse = float(((rendered(strokes_svg(strokes, 96, 96), 96) - canvas(strokes, 96)) ** 2).mean())
    assert mse <= 1e-3
    grey = strokes_svg(strokes[:3], 32, 32, channels=1, background=0.5)
    assert 'fill="#808080"' in grey  # background 0.5


def test_outlines_follow_the_stroke_the_canvas_paints():
    # a long straight stroke: the outline's sides lie at the radius, B(t) ± r n̂
    s = torch.tensor([[0.1, 0.5, 0.5, 0.5, 0.9, 0.5, 0.2, 0.2, 1, 1, 1, 1, 1]], dtype=torch.float64)
    outline = stroke_outlines(s, 64, 64)[0]
    r = (1 / 256 + 0.2 / 4) * 64
    sides = outline[5 : SAMPLES - 5, 1]  # away from the caps
    assert torch.allclose(sides, torch.full_like(sides, 32 + r), atol=0.05)


def test_a_crisp_painters_svg_draws_the_crisp_tube():
    # the crisp rasteriser paints the geometric tube B(t) ± r n̂, not the stamps' outline
    strokes = torch.rand(60, 13, generator=torch.Generator().manual_seed(2))
    crisp = paint(blank(1, 3, 96, 96), strokes[None], "crisp")[0].permute(1, 2, 0).numpy()
    as_crisp = float(((rendered(strokes_svg(strokes, 96, 96, mode="crisp"), 96) - crisp) ** 2).mean())
    as_fast = float(((rendered(strokes_svg(strokes, 96, 96), 96) - crisp) ** 2).mean())
    assert as_crisp <= 1e-3 and as_crisp < as_fast, (as_crisp, as_fast)
    with pytest.raises(ValueError, match="mode"):
        strokes_svg(strokes, 96, 96, mode="oil")
