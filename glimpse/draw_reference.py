"""DRAW written the straightforward way: the paper's equations one step at a time.

A reference for :mod:`glimpse.draw`, which computes the same numbers faster (tests/test_draw.py
checks the bound and its gradients against :func:`straight_loss`; bench/draw_speed.py times the
two). Written as a typical port would be: the image and the error image read separately, the
encoder input concatenated, each head its own linear layer, the KL accumulated per step, and
sampling running the decoder and writing one step at a time. It shares the model's parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor

from glimpse.draw import DRAW, DRAWLoss, bernoulli_nll
from glimpse.filterbank import filterbank, read_patch, window, write


def straight_read(m: DRAW, x: Tensor, x_hat: Tensor, h_dec: Tensor) -> Tensor:
    c = m.cfg
    if not c.attention:
        return torch.cat([x.flatten(1), x_hat.flatten(1)], 1)
    w = window(m.read_window(h_dec), c.height, c.width, c.read_n)
    fx, fy = filterbank(w, c.height, c.width, c.read_n)
    return torch.cat([read_patch(x, fx, fy, w.gamma).flatten(1), read_patch(x_hat, fx, fy, w.gamma).flatten(1)], 1)


def straight_write(m: DRAW, h_dec: Tensor) -> Tensor:
    c = m.cfg
    patch = m.write_patch(h_dec)
    if not c.attention:
        return patch.view(-1, c.channels, c.height, c.width)
    w = window(m.write_window(h_dec), c.height, c.width, c.write_n)
    fx, fy = filterbank(w, c.height, c.width, c.write_n)
    return write(patch.view(-1, c.channels, c.write_n, c.write_n), fx, fy, w.gamma)


def straight_loss(m: DRAW, x: Tensor, eps: Tensor) -> DRAWLoss:
    """The negative bound one step at a time; eps: (T, B, Z) the posterior noise."""
    c = m.cfg
    b = x.shape[0]
    enc_state, dec_state = m.encoder.initial_state(b), m.decoder.initial_state(b)
    h_dec = dec_state[0][-1]
    canvas = m.canvas0.expand(b, -1, -1, -1)
    kl = x.new_zeros(b)
    for t in range(c.steps):
        x_hat = x - torch.sigmoid(canvas)
        r = straight_read(m, x, x_hat, h_dec)
        h_enc, enc_state = m.encoder.step(torch.cat([r, h_dec], 1), enc_state)
        q = m.sampler(h_enc)
        mu, log_sigma = q[:, : c.z_size], q[:, c.z_size :]
        sigma = torch.exp(log_sigma)
        z = mu + sigma * eps[t]
        kl = kl + 0.5 * torch.sum(mu**2 + sigma**2 - 2 * log_sigma - 1, 1)
        h_dec, dec_state = m.decoder.step(z, dec_state)
        canvas = canvas + straight_write(m, h_dec)
    rec = bernoulli_nll(canvas, x)
    return DRAWLoss((rec + kl).mean(), rec.mean(), kl.mean())


@torch.no_grad()
def straight_sample(m: DRAW, z: Tensor) -> Tensor:
    """Prior samples one step at a time; z: (T, n, Z) -> canvases (T, n, C, H, W)."""
    n = z.shape[1]
    dec_state = m.decoder.initial_state(n)
    canvas = m.canvas0.expand(n, -1, -1, -1)
    canvases = []
    for t in range(m.cfg.steps):
        h_dec, dec_state = m.decoder.step(z[t], dec_state)
        canvas = canvas + straight_write(m, h_dec)
        canvases.append(canvas)
    return torch.stack(canvases)
