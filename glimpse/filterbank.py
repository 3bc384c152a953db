"""Gaussian filterbank attention (DRAW, Gregor et al. 2015, section 3.2), as pure batched functions.

An N×N grid of isotropic Gaussian filters is placed on an A×B image (A = width, B = height) by
five numbers per image, read off a linear layer (eqs. 21–24):

    (g̃_X, g̃_Y, log σ², log δ̃, log γ) = W h
    g_X = (A+1)/2 (g̃_X + 1)        g_Y = (B+1)/2 (g̃_Y + 1)        δ = (max(A, B) − 1)/(N − 1) δ̃
    μ^i_X = g_X + (i − N/2 − 0.5) δ                       (i = 1..N; pixels a = 1..A, as in the paper)
    F_X[i, a] = exp(−(a − μ^i_X)² / 2σ²) / (Σ_a' exp(−(a' − μ^i_X)² / 2σ²) + EPS)

    read(x)  = γ F_Y x F_Xᵀ          (N×N patch of an image)
    write(w) = 1/γ F_Yᵀ w F_X        (an N×N patch spread back onto the image: the transpose)

Images are channels-first (B, C, H, W); every channel is read through the same window. Nothing
here knows about DRAW, so the same read serves any soft-attention glimpse model.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

EPS = 1e-8  # added to each row's sum: a filter whose mass on the image is far below it fades out
# (rows sum to 0.99997 at 4σ off the image, 0.6 at 6σ, 0.002 at 7σ) instead of dividing by ~0


class Window(NamedTuple):
    """Where an N×N filterbank sits, in pixels (1-indexed, as in the paper: the image spans
    1..W horizontally and 1..H vertically). Each field is (B,) — or (T, B) when stacked over steps."""

    gx: Tensor  # centre, x
    gy: Tensor  # centre, y
    delta: Tensor  # stride between neighbouring filters
    sigma2: Tensor  # variance of every filter
    gamma: Tensor  # intensity (read multiplies by it, write divides by it)


def window(params: Tensor, height: int, width: int, n: int) -> Window:
    """The attention window from a linear layer's 5 outputs (eqs. 21–24).

    params: (..., 5) = (g̃_X, g̃_Y, log σ², log δ̃, log γ)  ->  Window with (...)-shaped fields

    The geometry is at least float32, also when ``params`` come from a bfloat16 layer (--amp).
    """
    if params.shape[-1] != 5:
        raise ValueError(f"attention parameters must have 5 entries in the last axis, got {tuple(params.shape)}")
    gx_, gy_, log_sigma2, log_delta, log_gamma = params.to(torch.promote_types(params.dtype, torch.float32)).unbind(-1)
    gx = (width + 1) / 2 * (gx_ + 1)
    gy = (height + 1) / 2 * (gy_ + 1)
    delta = (max(height, width) - 1) / max(n - 1, 1) * log_delta.exp()  # N = 1: the stride is unused
    return Window(gx, gy, delta, log_sigma2.exp(), log_gamma.exp())


def coarser(w: Window, octaves: int) -> Window:
    """The same window ``octaves`` times twice as coarse: stride 2^s δ and variance 4^s σ², the
    centre and γ kept (a soft retina's further scales)."""
    return w._replace(delta=w.delta * 2**octaves, sigma2=w.sigma2 * 4**octaves)


def filter_means(centre: Tensor, delta: Tensor, n: int) -> Tensor:
    """μ^i = g + (i − N/2 − 0.5) δ for i = 1..N.  centre, delta: (B,) -> (B, N)"""
    offsets = torch.arange(1, n + 1, device=centre.device, dtype=centre.dtype) - n / 2 - 0.5  # (N,)
    return centre.unsqueeze(-1) + offsets * delta.unsqueeze(-1)


def gaussian_rows(mu: Tensor, sigma2: Tensor, size: int) -> Tensor:
    """Row-normalised Gaussians over pixels 1..size.  mu: (B, N), sigma2: (B,) -> (B, N, size)"""
    pixels = torch.arange(1, size + 1, device=mu.device, dtype=mu.dtype)  # (size,)
    f = torch.exp(-(pixels - mu.unsqueeze(-1)).square() / (2 * sigma2[..., None, None]))  # (B, N, size)
    return f / (f.sum(-1, keepdim=True) + EPS)


def filterbank(w: Window, height: int, width: int, n: int) -> tuple[Tensor, Tensor]:
    """The horizontal and vertical filterbanks of a window.

    w: Window with (B,) fields  ->  Fx: (B, N, W), Fy: (B, N, H), every row summing to one, but
    for filters centred several σ off the image, which fade to zero (``EPS``, as in common DRAW code)
    """
    fx = gaussian_rows(filter_means(w.gx, w.delta, n), w.sigma2, width)
    fy = gaussian_rows(filter_means(w.gy, w.delta, n), w.sigma2, height)
    return fx, fy


def read_patch(x: Tensor, fx: Tensor, fy: Tensor, gamma: Tensor) -> Tensor:
    """γ F_Y x F_Xᵀ for every channel.  x: (B, C, H, W), Fx: (B, N, W), Fy: (B, N, H), γ: (B,) -> (B, C, N, N)"""
    patch = fy.unsqueeze(1) @ x @ fx.transpose(-1, -2).unsqueeze(1)  # (B,1,N,H)(B,C,H,W)(B,1,W,N)
    return patch * gamma[:, None, None, None]


def read(x: Tensor, x_hat: Tensor, fx: Tensor, fy: Tensor, gamma: Tensor) -> Tensor:
    """DRAW's read: the same window over the image and the error image, in one product.

    x, x_hat: (B, C, H, W)  ->  (B, 2C, N, N), the image's channels first
    """
    return read_patch(torch.cat([x, x_hat], 1), fx, fy, gamma)


def write(w: Tensor, fx: Tensor, fy: Tensor, gamma: Tensor) -> Tensor:
    """DRAW's write, the transpose of read divided by γ: 1/γ F_Yᵀ w F_X.

    w: (B, C, N, N), Fx: (B, N, W), Fy: (B, N, H), γ: (B,)  ->  (B, C, H, W)
    """
    image = fy.transpose(-1, -2).unsqueeze(1) @ w @ fx.unsqueeze(1)  # (B,1,H,N)(B,C,N,N)(B,1,N,W)
    return image / gamma[:, None, None, None]
