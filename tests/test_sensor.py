"""The retina against a naive per-sample crop-and-resize reference, and its input checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from glimpse.sensor import densest_window, glimpse_boxes, retina


def naive_retina(images: torch.Tensor, loc: torch.Tensor, g: int, k: int) -> torch.Tensor:
    """One image and one scale at a time: crop with explicit zero fill, then area-resize."""
    b, c, h, w = images.shape
    out = torch.zeros(b, k, c, g, g)
    for i in range(b):
        cx = (loc[i, 0].item() + 1) / 2 * w
        cy = (loc[i, 1].item() + 1) / 2 * h
        for s in range(k):
            size = g * 2**s
            left = int(torch.floor(torch.tensor(cx - size / 2 + 0.5)))
            top = int(torch.floor(torch.tensor(cy - size / 2 + 0.5)))
            crop = torch.zeros(c, size, size)
            for yy in range(size):
                for xx in range(size):
                    y, x = top + yy, left + xx
                    if 0 <= y < h and 0 <= x < w:
                        crop[:, yy, xx] = images[i, :, y, x]
            out[i, s] = F.interpolate(crop[None], size=(g, g), mode="area")[0]
    return out


@pytest.mark.parametrize(
    ("shape", "g", "k"),
    [((5, 1, 28, 28), 8, 1), ((4, 3, 20, 33), 4, 3), ((3, 2, 17, 9), 5, 2), ((6, 3, 40, 40), 6, 4)],
)
def test_retina_matches_naive_reference(shape, g, k):
    images = torch.rand(shape)
    b = shape[0]
    corners = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]])
    loc = torch.cat([corners, torch.rand(b, 2) * 2 - 1])[torch.randperm(b + 4)[:b]]
    loc[0] = torch.tensor([1.0, -0.97])  # always one border location
    fast = retina(images, loc, g, k)
    assert fast.shape == (b, k, shape[1], g, g)
    torch.testing.assert_close(fast, naive_retina(images, loc, g, k))


def test_retina_centre_of_even_patch_is_the_location():
    images = torch.zeros(1, 1, 28, 28)
    images[0, 0, 14, 14] = 1.0  # the pixel just right/below the image centre
    patch = retina(images, torch.zeros(1, 2), 8, 1)[0, 0, 0]
    assert patch[4, 4] == 1.0 and patch.sum() == 1.0  # centre (14, 14) -> patch covers 10..17


def test_outside_pixels_are_zero_and_image_gets_gradient():
    images = torch.ones(2, 1, 10, 10, requires_grad=True)
    out = retina(images, torch.tensor([[-1.0, -1.0], [0.0, 0.0]]), 4, 1)
    assert out[0, 0, 0, :2].sum() == 0 and out[0, 0, 0, 2:, 2:].min() == 1  # top-left quadrant empty
    out.sum().backward()
    assert images.grad.sum() == 4 + 16


def test_boxes_follow_the_patches():
    boxes = glimpse_boxes(torch.tensor([[0.0, 0.0]]), 8, 2, 28, 28)
    assert boxes.tolist() == [[[10, 10, 18, 18], [6, 6, 22, 22]]]


@pytest.mark.parametrize(
    ("images", "loc", "message"),
    [
        (torch.rand(28, 28), torch.zeros(1, 2), "shape"),
        (torch.randint(0, 255, (1, 1, 28, 28), dtype=torch.uint8), torch.zeros(1, 2), "floating-point"),
        (torch.full((1, 1, 8, 8), float("nan")), torch.zeros(1, 2), "NaN"),
        (torch.full((1, 1, 8, 8), float("inf")), torch.zeros(1, 2), "infinite"),
        (torch.rand(1, 1, 8, 8), torch.tensor([[0.0, 1.5]]), r"\[-1, 1\]"),
        (torch.rand(2, 1, 8, 8), torch.zeros(3, 2), r"\(2, 2\)"),
    ],
)
def test_bad_input_is_named(images, loc, message):
    with pytest.raises(ValueError, match=message):
        retina(images, loc, 4, 1)


@pytest.mark.parametrize(("shape", "side"), [((4, 1, 12, 15), 5), ((3, 2, 9, 9), 9), ((2, 3, 20, 11), 1)])
def test_densest_window_matches_every_window_summed_directly(shape, side):
    images = torch.rand(shape)
    b, _, h, w = shape
    for i in range(b):
        sums = {
            (top, left): images[i, :, top : top + side, left : left + side].sum().item()
            for top in range(h - side + 1)
            for left in range(w - side + 1)
        }
        top, left = max(sums, key=sums.get)
        expected = [(left + side / 2) / (w / 2) - 1, (top + side / 2) / (h / 2) - 1]  # (x, y)
        torch.testing.assert_close(densest_window(images, side)[i], torch.tensor(expected))


def test_densest_window_breaks_ties_by_the_first_window_in_row_major_order():
    # two identical blobs on a noisy background of grey levels k/255, as MNIST's: their windows'
    # sums tie exactly, and only exact running sums keep them tied (float32 ones picked the second)
    g = torch.Generator().manual_seed(8)
    x = torch.randint(0, 80, (1, 1, 60, 60), generator=g).float() / 255
    blob = torch.randint(200, 256, (9, 9), generator=g).float() / 255
    x[0, 0, 8:17, 44:53] = blob  # higher: first in row-major order
    x[0, 0, 40:49, 5:14] = blob  # lower, further left
    torch.testing.assert_close(densest_window(x, 9), torch.tensor([[48.5 / 30 - 1, 12.5 / 30 - 1]]))


def test_densest_window_finds_a_bright_square_and_refuses_a_window_larger_than_the_image():
    x = torch.zeros(1, 1, 60, 60)
    x[0, 0, 10:26, 30:46] = 1  # a 16-pixel square centred at pixel (x, y) = (38, 18)
    torch.testing.assert_close(densest_window(x, 16), torch.tensor([[38 / 30 - 1, 18 / 30 - 1]]))
    with pytest.raises(ValueError, match="window side"):
        densest_window(x, 61)
