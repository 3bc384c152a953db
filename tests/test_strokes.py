"""The named stroke layout of glimpse.strokes, and the checks that refuse malformed strokes."""

import math

import pytest
import torch

from glimpse.canvas import blank, paint, stroke_alpha, stroke_colour
from glimpse.strokes import (
    BODY,
    COLOUR,
    CONTROL,
    END,
    ENDPOINTS,
    OPACITIES,
    RADII,
    SHAPE,
    START,
    STROKE_SIZE,
    TEXTURE_KEY,
    XS,
    YS,
    check_strokes,
)

PARTS = (START, CONTROL, END, RADII, OPACITIES, COLOUR)


def indices(part) -> list[int]:
    return list(range(STROKE_SIZE))[part] if isinstance(part, slice) else list(part)


def test_named_parts_tile_the_stroke_once_in_order():
    assert [i for part in PARTS for i in indices(part)] == list(range(STROKE_SIZE))
    assert [(p.start, p.stop) for p in PARTS] == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 13)]
    assert all(p.step is None for p in (*PARTS, SHAPE))


def test_shape_is_everything_but_the_colour():
    assert indices(SHAPE) == [i for part in PARTS[:-1] for i in indices(part)]
    assert SHAPE.start == 0 and SHAPE.stop == COLOUR.start and COLOUR.stop == STROKE_SIZE


def test_index_tuples_agree_with_the_slices():
    start, end = indices(START), indices(END)
    assert (start[0], end[0]) == XS and (start[1], end[1]) == YS
    assert (*start, *end) == ENDPOINTS
    assert (*indices(CONTROL), *indices(RADII), *indices(OPACITIES)) == BODY
    assert sorted(ENDPOINTS + BODY) == indices(SHAPE)  # the shape, each number once
    assert (start[0], end[1], indices(COLOUR)[0]) == TEXTURE_KEY  # x0, y2, R


def test_names_address_the_same_numbers_as_indexing():
    s = torch.arange(2 * STROKE_SIZE, dtype=torch.float32).view(2, STROKE_SIZE)
    assert torch.equal(s[:, RADII], s[:, 6:8]) and torch.equal(s[..., COLOUR], s[..., 10:13])
    assert torch.equal(s[..., ENDPOINTS], s[..., [0, 1, 4, 5]]) and torch.equal(s[..., XS], s[..., [0, 4]])
    out = torch.zeros_like(s)
    out[..., ENDPOINTS] = s[..., ENDPOINTS]
    out[..., BODY] = s[..., BODY]
    out[..., COLOUR] = s[..., COLOUR]
    assert torch.equal(out, s)


def test_check_strokes_accepts_good_strokes():
    check_strokes(torch.rand(2, 3, STROKE_SIZE))
    check_strokes(torch.zeros(0, STROKE_SIZE))
    check_strokes(torch.ones(STROKE_SIZE, dtype=torch.float64))


@pytest.mark.parametrize(
    "strokes, message",
    [
        (torch.zeros(2, STROKE_SIZE, dtype=torch.long), "float tensor"),
        ([0.5] * STROKE_SIZE, "float tensor"),
        (torch.rand(2, STROKE_SIZE - 1), "13 numbers"),
        (torch.rand(2, STROKE_SIZE + 1), "13 numbers"),
    ],
)
def test_check_strokes_refuses_bad_types_and_shapes(strokes, message):
    with pytest.raises(ValueError, match=message):
        check_strokes(strokes)


@pytest.mark.parametrize("value", [-0.01, 1.01, math.nan, math.inf])
@pytest.mark.parametrize("where", [START.start, RADII.start + 1, COLOUR.stop - 1])
def test_check_strokes_names_the_number_out_of_range(value, where):
    s = torch.rand(2, 3, STROKE_SIZE)
    s[1, 2, where] = value
    with pytest.raises(ValueError, match=rf"strokes\[\(1, 2, {where}\)\]"):
        check_strokes(s)


def test_paint_with_check_refuses_bad_strokes():
    canvas = blank(1, 3, 8, 8)
    bad = torch.rand(1, 2, STROKE_SIZE)
    bad[0, 1, OPACITIES.start] = 2.0
    with pytest.raises(ValueError, match="must lie in"):
        paint(canvas, bad, check=True)
    with pytest.raises(ValueError, match="expected canvas"):
        paint(canvas, torch.rand(2, STROKE_SIZE))


def test_renderer_options_are_checked():
    s = torch.rand(2, STROKE_SIZE)
    with pytest.raises(ValueError, match="mode must be one of"):
        stroke_alpha(s, 8, 8, mode="blurry")
    with pytest.raises(ValueError, match="canvas size must be positive"):
        stroke_alpha(s, 0, 8)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        stroke_colour(s, 2)
