"""Gaussian filterbank attention: against a direct per-pixel computation, and its algebra."""

from __future__ import annotations

import math

import pytest
import torch

from glimpse.filterbank import EPS, Window, filterbank, read, read_patch, window, write


def random_window(b: int, g: torch.Generator) -> Window:
    return Window(
        gx=torch.rand(b, generator=g) * 30 - 1,
        gy=torch.rand(b, generator=g) * 20 - 1,
        delta=torch.rand(b, generator=g) * 4 + 0.2,
        sigma2=torch.rand(b, generator=g) * 3 + 0.3,
        gamma=torch.rand(b, generator=g) + 0.5,
    )


def direct_filterbank(w: Window, h: int, wd: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's formulas pixel by pixel (1-indexed pixels and filters, the same ε guard), in float64."""
    b = w.gx.shape[0]
    fx, fy = torch.zeros(b, n, wd, dtype=torch.float64), torch.zeros(b, n, h, dtype=torch.float64)
    for k in range(b):
        gx, gy, d, s2 = (float(v[k]) for v in (w.gx, w.gy, w.delta, w.sigma2))
        for i in range(1, n + 1):
            mx, my = gx + (i - n / 2 - 0.5) * d, gy + (i - n / 2 - 0.5) * d
            for a in range(1, wd + 1):
                fx[k, i - 1, a - 1] = math.exp(-((a - mx) ** 2) / (2 * s2))
            for bb in range(1, h + 1):
                fy[k, i - 1, bb - 1] = math.exp(-((bb - my) ** 2) / (2 * s2))
    return fx / (fx.sum(-1, keepdim=True) + EPS), fy / (fy.sum(-1, keepdim=True) + EPS)


def test_window_follows_the_papers_scaling():
    h, w, n = 20, 28, 5
    p = torch.tensor([[0.0, 0.0, math.log(2.0), 0.0, math.log(3.0)], [-1.0, 1.0, 0.0, math.log(0.5), 0.0]])
    win = window(p, h, w, n)
    torch.testing.assert_close(win.gx, torch.tensor([14.5, 0.0]))  # (A+1)/2 (g̃+1), A = width
    torch.testing.assert_close(win.gy, torch.tensor([10.5, 21.0]))  # (B+1)/2 (g̃+1), B = height
    torch.testing.assert_close(win.delta, torch.tensor([27 / 4, 27 / 8]))  # (max(A,B)-1)/(N-1) δ̃
    torch.testing.assert_close(win.sigma2, torch.tensor([2.0, 1.0]))
    torch.testing.assert_close(win.gamma, torch.tensor([3.0, 1.0]))
    with pytest.raises(ValueError, match="5 entries"):
        window(torch.zeros(2, 4), h, w, n)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_filterbank_matches_a_per_pixel_computation_and_rows_sum_to_one(n):
    g = torch.Generator().manual_seed(1)
    w = random_window(6, g)
    fx, fy = filterbank(w, 20, 28, n)
    assert fx.shape == (6, n, 28) and fy.shape == (6, n, 20)
    ex, ey = direct_filterbank(w, 20, 28, n)
    torch.testing.assert_close(fx.double(), ex, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fy.double(), ey, atol=1e-6, rtol=1e-5)
    assert (fx.sum(-1) <= 1 + 1e-6).all()  # a row far off the image sums to a little less, by ε
    inside = filterbank(Window(*(torch.tensor([v]) for v in (14.0, 10.0, 2.0, 1.5, 1.0))), 20, 28, n)
    for f in inside:
        torch.testing.assert_close(f.sum(-1), torch.ones(1, n))


def test_a_window_far_off_the_image_gives_zero_rows_not_nan():
    w = Window(*(torch.tensor([v]) for v in (1e4, 1e4, 1.0, 1e-3, 1.0)))
    fx, fy = filterbank(w, 28, 28, 3)
    assert torch.isfinite(fx).all() and torch.isfinite(fy).all()


def test_read_of_the_whole_image_with_n_equal_to_its_size_reproduces_it():
    b, c, h, w = 3, 2, 12, 12
    x = torch.rand(b, c, h, w)
    # centre (A+1)/2, stride 1, a tiny variance: filter i sits on pixel i
    p = torch.tensor([0.0, 0.0, math.log(1e-3), 0.0, 0.0]).expand(b, 5)
    win = window(p, h, w, h)
    torch.testing.assert_close(win.delta, torch.ones(b))
    fx, fy = filterbank(win, h, w, h)
    torch.testing.assert_close(read_patch(x, fx, fy, win.gamma), x)
    torch.testing.assert_close(write(x, fx, fy, win.gamma), x)


def test_read_matches_per_pixel_sums_and_handles_channels():
    g = torch.Generator().manual_seed(2)
    b, c, h, w, n = 4, 3, 10, 14, 3
    win = random_window(b, g)
    fx, fy = filterbank(win, h, w, n)
    x, x_hat = torch.rand(b, c, h, w, generator=g), torch.rand(b, c, h, w, generator=g)
    r = read(x, x_hat, fx, fy, win.gamma)
    assert r.shape == (b, 2 * c, n, n)
    expect = torch.einsum("bih,bchw,bjw->bcij", fy, torch.cat([x, x_hat], 1), fx) * win.gamma[:, None, None, None]
    torch.testing.assert_close(r, expect)


def test_write_is_the_transpose_of_read_divided_by_gamma():
    """<read(x), w> = γ² <x, write(w)> for every x and w: write is read's adjoint up to γ."""
    g = torch.Generator().manual_seed(3)
    b, c, h, w, n = 5, 2, 16, 16, 4
    win = random_window(b, g)
    fx, fy = filterbank(win, h, w, n)
    x, patch = torch.rand(b, c, h, w, generator=g), torch.rand(b, c, n, n, generator=g)
    lhs = (read_patch(x, fx, fy, win.gamma) * patch).sum((1, 2, 3))
    rhs = (x * write(patch, fx, fy, win.gamma)).sum((1, 2, 3)) * win.gamma**2
    torch.testing.assert_close(lhs, rhs)
    # and as matrices: write's Jacobian is read's transposed, scaled by 1/γ²
    one = Window(*(f[:1] for f in win))
    f1x, f1y = fx[:1], fy[:1]
    jr = torch.autograd.functional.jacobian(lambda v: read_patch(v, f1x, f1y, one.gamma), x[:1, :1]).reshape(
        n * n, h * w
    )
    jw = torch.autograd.functional.jacobian(lambda v: write(v, f1x, f1y, one.gamma), patch[:1, :1]).reshape(
        h * w, n * n
    )
    torch.testing.assert_close(jw, jr.T / one.gamma**2)
