"""The fast rasteriser's per-pixel step: coverage α from a stroke's two stamp fields, and its
gradient written out (pure functions; :mod:`glimpse.stamps` makes the fields).

The field of a straight tube of Gaussians is exp(-d²/2σ²), which gives the distance d to the centre
line back, and the same soft edge as the crisp rasteriser: α = o(t) sigmoid((r(t) - d) / edge).
The written-out gradient lets a compiled kernel recompute the per-pixel terms in its backward pass
instead of storing them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

HALF_MAX = math.sqrt(2 * math.log(2))  # the tube's Gaussian σ is r / HALF_MAX: field 0.5 at the radius
SIGMA_MIN = 0.4  # px: thinner strokes are drawn as 0.4 px Gaussians (their area is kept by the edge)


def guarded(density: Tensor) -> tuple[Tensor, Tensor]:
    """Where any stamp reaches (density > 1e-30), and the density with 1 elsewhere, safe to divide by."""
    inside = density > 1e-30
    return inside, torch.where(inside, density, torch.ones_like(density))


def _tube_terms(density: Tensor, tfield: Tensor, ends: Tensor, edge: float) -> tuple[Tensor, ...]:
    """The per-pixel quantities shared by :func:`tube_coverage` and its gradient.

    density, tfield: (N, H, W);  ends: (N, 4)
    returns inside, D (1 outside), t, r, o, σ, -2 ln D, u, sigmoid((r - u σ)/edge), each (N, H, W)
    """
    inside, safe = guarded(density)
    # divide (not multiply by 1/safe): the division's backward, grad·(f/safe)/safe, stays finite in
    # float32 where 1/safe² would overflow
    t = tfield / safe
    r0, dr, o0, do = (ends[:, i, None, None] for i in range(4))
    r, o = r0 + dr * t, o0 + do * t
    sig_loc = (r * (1 / HALF_MAX)).clamp_min(SIGMA_MIN)
    log_term = -2 * safe.log()
    u = log_term.clamp_min(0).add(1e-8).sqrt()  # distance in σ of a straight tube
    sig = torch.sigmoid((r - u * sig_loc) * (1 / edge))
    return inside, safe, t, r, o, sig_loc, log_term, u, sig


def tube_coverage(density: Tensor, tfield: Tensor, ends: Tensor, edge: float) -> Tensor:
    """Coverage from the two stamp fields: density D and the D-weighted curve parameter T.

    The field of a straight tube of Gaussians is D = exp(-d²/2σ²), so d = σ sqrt(-2 ln D). The
    local curve parameter is t = T / D; radius and opacity are linear in t along the stroke,
    r = r₀ + Δr t and o = o₀ + Δo t (``ends`` holds r₀, Δr in px and o₀, Δo), σ = max(r / 1.177,
    0.4 px), and α = o sigmoid((r - d) / edge).

    density, tfield: (N, H, W);  ends: (N, 4)  ->  α (N, H, W)
    """
    inside, _, _, _, o, _, _, _, sig = _tube_terms(density, tfield, ends, edge)
    return torch.where(inside, o * sig, torch.zeros_like(sig))


def tube_coverage_grad(
    density: Tensor, tfield: Tensor, ends: Tensor, grad_alpha: Tensor, edge: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The gradient of :func:`tube_coverage` with respect to its fields and ends, written out.

    With σ = sigmoid(z), z = (r - u s)/edge, u = sqrt(-2 ln D), α = o σ, g = o σ (1 - σ) / edge:
        ∂α/∂r = g (1 - u s'),   ∂α/∂o = σ,   ∂α/∂t = Δr ∂α/∂r + Δo ∂α/∂o =: A,
        ∂α/∂D = (g s / u - A t) / D,   ∂α/∂T = A / D,
    and the ends collect Σ ∂α/∂r, Σ t ∂α/∂r, Σ ∂α/∂o, Σ t ∂α/∂o over the pixels.

    density, tfield, grad_alpha: (N, H, W);  ends: (N, 4)  ->  (N, H, W), (N, H, W), (N, 4)
    """
    inside, safe, t, r, o, sig_loc, log_term, u, sig = _tube_terms(density, tfield, ends, edge)
    sig_slope = (r * (1 / HALF_MAX) > SIGMA_MIN).to(r.dtype) * (1 / HALF_MAX)  # s' = dσ/dr
    grad = torch.where(inside, grad_alpha, torch.zeros_like(safe))
    g = o * sig * (1 - sig) * (1 / edge) * grad
    d_r = g * (1 - u * sig_slope)
    d_o = sig * grad
    d_t = ends[:, 1, None, None] * d_r + ends[:, 3, None, None] * d_o
    su = torch.where(log_term > 0, sig_loc / u, torch.zeros_like(safe))
    d_density = (g * su - d_t * t) / safe
    d_tfield = d_t / safe
    d_ends = torch.stack([d_r.sum((1, 2)), (d_r * t).sum((1, 2)), d_o.sum((1, 2)), (d_o * t).sum((1, 2))], -1)
    return d_density, d_tfield, d_ends


def coverage_into(out: Tensor, rows: Tensor, density: Tensor, tfield: Tensor, ends: Tensor, edge: float) -> None:
    """out[rows] = tube_coverage(...), in place (one loop over the pixels when compiled)."""
    out.index_copy_(0, rows, tube_coverage(density, tfield, ends, edge))


def coverage_grad_from(
    grad_out: Tensor, rows: Tensor, density: Tensor, tfield: Tensor, ends: Tensor, edge: float
) -> tuple[Tensor, Tensor, Tensor]:
    """tube_coverage_grad for the rows of the assembled gradient that belong to one stroke group."""
    return tube_coverage_grad(density, tfield, ends, grad_out.index_select(0, rows), edge)
