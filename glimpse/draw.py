"""DRAW: a recurrent variational auto-encoder that draws (Gregor, Danihelka, Graves, Rezende,
Wierstra 2015), split along the paper's parts.

    error image      x̂_t = x − σ(c_{t−1})
    read             r_t = read(x, x̂_t, h^dec_{t−1})       (filterbank attention, or the whole images)
    encoder          h^enc_t = core([r_t, h^dec_{t−1}], h^enc_{t−1})
    Q sampler        z_t = μ_t + σ_t ε_t,  (μ_t, log σ_t) = W h^enc_t      (reparameterisation)
    decoder          h^dec_t = core(z_t, h^dec_{t−1})
    write            c_t = c_{t−1} + write(h^dec_t)          (filterbank attention, or the whole canvas)
    output           p(x | z_1..T) = Bernoulli(σ(c_T))

The loss is the negative variational bound in nats per image: −log p(x | z) plus
Σ_t KL(Q(z_t | x, z_<t) ‖ N(0, I)), with KL = Σ_j ½(μ² + σ² − 2 log σ − 1) (eq. 11).

Speed (the same numbers as the step-by-step version in ``bench/draw_speed.py``, checked by the
tests): everything read off h^dec (write patch, write window, next read window and the encoder's
share of its input) is one matrix product per step, so the encoder input [r, h^dec] is never
concatenated; the image and error image are read in one product; without attention the image's
share of the encoder input is made once, not T times; all noise is drawn at once and the KL is
summed after the loop. Sampling runs the decoder over all T steps in one fused ATen call (its
input, prior noise, does not depend on the canvas), then writes all T·B patches in one batch and
keeps a running sum of the canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glimpse.config import derived, option
from glimpse.cores import CORES, Core, GRUCore, LSTMCore, RNNCore, make_core
from glimpse.filterbank import Window, filterbank, read, window, write


@dataclass
class DRAWConfig:
    """Everything needed to rebuild a DRAW model; saved inside its checkpoints. The defaults are
    the paper's MNIST model (T = 64, 256-unit LSTMs, 100 latents, 2×2 read, 5×5 write)."""

    height: int = derived(28, "image height, set from the data")
    width: int = derived(28, "image width, set from the data")
    channels: int = derived(1, "image channels, set from the data")
    steps: int = option(64, "drawing steps T")
    enc_size: int = option(256, "encoder core width")
    dec_size: int = option(256, "decoder core width")
    z_size: int = option(100, "latent units per step")
    read_n: int = option(2, "read filterbank N (N×N patch; attention only)")
    write_n: int = option(5, "write filterbank N (N×N patch; attention only)")
    attention: bool = option(
        True, "filterbank read and write; --no-attention reads the whole images and writes the whole canvas"
    )
    core: str = option("lstm", "encoder and decoder cores: lstm (the paper), gru or rnn")

    def __post_init__(self) -> None:
        for name in ("height", "width", "channels", "enc_size", "dec_size", "z_size", "read_n", "write_n"):
            if getattr(self, name) < 1:
                raise ValueError(f"DRAWConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.steps < 1:
            raise ValueError(f"DRAWConfig.steps (T) must be >= 1, got {self.steps}")
        side = min(self.height, self.width)
        for name in ("read_n", "write_n"):
            if getattr(self, name) > side:
                raise ValueError(
                    f"DRAWConfig.{name}={getattr(self, name)} is larger than the {self.height}×{self.width} image"
                )
        if self.core not in CORES:
            raise ValueError(f"unknown core {self.core!r}; choose one of {sorted(CORES)}")

    @property
    def read_size(self) -> int:
        """Features the read hands the encoder: two N×N patches per channel, or two whole images."""
        side = self.read_n**2 if self.attention else self.height * self.width
        return 2 * self.channels * side

    @property
    def write_size(self) -> int:
        """Numbers the write head emits: one N×N patch per channel, or the whole canvas."""
        return self.channels * (self.write_n**2 if self.attention else self.height * self.width)


class DRAWLoss(NamedTuple):
    """Negative variational bound and its parts, in nats per image (means over the batch, or (B,)
    tensors with ``reduce=False``); ``total == reconstruction + kl``."""

    total: Tensor
    reconstruction: Tensor  # −log p(x | z), Bernoulli on the final canvas
    kl: Tensor  # Σ_t KL(Q(z_t) ‖ N(0, I))


class DrawRollout(NamedTuple):
    """Per-step tensors of one rollout (T steps, batch B), for losses, evaluation and rendering."""

    canvases: Tensor  # (T, B, C, H, W) canvas logits c_1..c_T; σ(c_t) is the picture after step t
    writes: Window | None  # write windows, fields (T, B); None without attention
    reads: Window | None  # read windows, fields (T, B); None without attention and when sampling
    z: Tensor  # (T, B, Z) latents
    mu: Tensor | None  # (T, B, Z) posterior means; None when sampling from the prior
    log_sigma: Tensor | None  # (T, B, Z) posterior log std; None when sampling

    @property
    def images(self) -> Tensor:  # (T, B, C, H, W) in [0, 1]
        return torch.sigmoid(self.canvases)


def gaussian_kl(mu: Tensor, log_sigma: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over the last axis: Σ ½(μ² + σ² − 2 log σ − 1).  (..., Z) -> (...)"""
    return 0.5 * (mu.square() + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(-1)


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    """−log Bernoulli(x; σ(logits)) summed over each image.  (B, C, H, W) -> (B,)"""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def check_binary(x: Tensor) -> None:
    """The Bernoulli likelihood needs targets that are exactly 0 or 1."""
    if not ((x == 0) | (x == 1)).all():
        raise ValueError(
            "DRAW's Bernoulli likelihood needs binary targets (every pixel 0 or 1); binarise the images "
            "first, e.g. torch.bernoulli(x) for a dynamic binarisation"
        )


def run_sequence(core: Core, xs: Tensor) -> Tensor:
    """A core over a whole input sequence from its zero state, in one fused ATen call (the input
    projections of all steps are one matrix product).  xs: (T, B, I) -> top-layer outputs (T, B, H)"""
    state = core.initial_state(xs.shape[1])
    params = [p for cell in core.cells for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    flags = (True, core.layers, 0.0, False, False, False)  # biases, layers, dropout, train, bidirectional, batch_first
    if type(core) is LSTMCore:
        return torch.lstm(xs, state, params, *flags)[0]
    if type(core) is GRUCore:
        return torch.gru(xs, state[0], params, *flags)[0]
    if type(core) is RNNCore and core.nonlinearity in ("relu", "tanh"):
        fn = torch.rnn_relu if core.nonlinearity == "relu" else torch.rnn_tanh
        return fn(xs, state[0], params, *flags)[0]
    outs = []  # any other core: step by step
    for x in xs:
        out, state = core.step(x, state)
        outs.append(out)
    return torch.stack(outs)


def step_projected(core: Core, gi: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One step of a single-layer core whose input product the caller has made:
    gi = W_ih x + b_ih (B, gates·H). The same numbers as ``core.step(x, state)``, with state
    tensors of shape (B, H) instead of (1, B, H).  -> (h', state')"""
    cell = core.cells[0]
    h = state[0]
    gh = F.linear(h, cell.weight_hh, cell.bias_hh)
    if type(core) is LSTMCore:
        i, f, g, o = (gi + gh).chunk(4, 1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)
    if type(core) is GRUCore:
        (ir, iz, i_n), (hr, hz, h_n) = gi.chunk(3, 1), gh.chunk(3, 1)
        r, u = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(i_n + r * h_n)
        h = n + u * (h - n)
        return h, (h,)
    if type(core) is RNNCore:
        h = torch.relu(gi + gh) if core.nonlinearity == "relu" else torch.tanh(gi + gh)
        return h, (h,)
    raise TypeError(f"step_projected does not know the core {type(core).__name__}")


class DRAW(nn.Module):
    """The DRAW network: :meth:`loss` to train, :meth:`rollout` to watch a reconstruction,
    :meth:`sample` to draw from the prior, :meth:`iwae_bound` for a tighter likelihood bound."""

    def __init__(self, cfg: DRAWConfig) -> None:
        super().__init__()
        self.cfg = c = cfg
        # read: no parameters without attention; with it, a window read off h^dec_{t-1}
        self.read_window = nn.Linear(c.dec_size, 5) if c.attention else None
        self.encoder = make_core(c.core, c.read_size + c.dec_size, c.enc_size)
        self.sampler = nn.Linear(c.enc_size, 2 * c.z_size)  # Q: (μ, log σ)
        self.decoder = make_core(c.core, c.z_size, c.dec_size)
        self.write_patch = nn.Linear(c.dec_size, c.write_size)
        self.write_window = nn.Linear(c.dec_size, 5) if c.attention else None
        self.canvas0 = nn.Parameter(torch.zeros(c.channels, c.height, c.width))  # c_0, a learned bias
        with torch.no_grad():  # windows start over the whole image, each filter half a stride wide
            for head, n in ((self.read_window, c.read_n), (self.write_window, c.write_n)):
                if head is not None:
                    stride = (max(c.height, c.width) - 1) / max(n - 1, 1) if n > 1 else max(c.height, c.width) / 2
                    head.bias[2] = 2 * math.log(stride / 2)  # log σ²

    # --- the parts --------------------------------------------------------------------------
    def heads(self, encoder: bool = True) -> tuple[Tensor, Tensor]:
        """The linear maps read off h^dec as one (weight, bias): write patch | write window | read
        window | the encoder's input product of h^dec (with the encoder's input bias)."""
        layers = [m for m in (self.write_patch, self.write_window, self.read_window) if m is not None]
        weights, biases = [m.weight for m in layers], [m.bias for m in layers]
        if encoder:
            cell = self.encoder.cells[0]
            weights.append(cell.weight_ih[:, self.cfg.read_size :])
            biases.append(cell.bias_ih)
        return torch.cat(weights), torch.cat(biases)

    def split_heads(self, out: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor]:
        """(..., heads) -> write patch (..., write_size), write window (..., 5), read window (..., 5),
        encoder input share (..., gates·enc_size; empty without it)"""
        n = self.cfg.write_size
        if not self.cfg.attention:
            return out[..., :n], None, None, out[..., n:]
        return out[..., :n], out[..., n : n + 5], out[..., n + 5 : n + 10], out[..., n + 10 :]

    def write_canvas(self, patch: Tensor, params: Tensor | None) -> tuple[Tensor, Window | None]:
        """The write: patch (B, write_size), window parameters (B, 5) -> canvas update (B, C, H, W)"""
        c = self.cfg
        if not c.attention:
            return patch.view(-1, c.channels, c.height, c.width), None
        w = window(params, c.height, c.width, c.write_n)
        fx, fy = filterbank(w, c.height, c.width, c.write_n)
        return write(patch.view(-1, c.channels, c.write_n, c.write_n), fx, fy, w.gamma), w

    def read_images(self, x: Tensor, x_hat: Tensor, params: Tensor | None) -> tuple[Tensor, Window | None]:
        """The read: image and error image (B, C, H, W), window parameters (B, 5) -> (B, read_size)"""
        c = self.cfg
        if not c.attention:
            return torch.cat([x, x_hat], 1).flatten(1), None
        w = window(params, c.height, c.width, c.read_n)
        fx, fy = filterbank(w, c.height, c.width, c.read_n)
        return read(x, x_hat, fx, fy, w.gamma).flatten(1), w

    def check_images(self, x: Tensor) -> Tensor:
        """``x`` checked for the model's shape and cast to its dtype (float64 images, a float32 model)."""
        c = self.cfg
        if x.dim() != 4 or tuple(x.shape[1:]) != (c.channels, c.height, c.width):
            raise ValueError(
                f"DRAW expects images of shape (B, {c.channels}, {c.height}, {c.width}), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"DRAW expects floating-point images in [0, 1], got {x.dtype}")
        return x.to(self.canvas0.dtype)

    # --- inference and generation --------------------------------------------------------------
    def rollout(self, x: Tensor, generator: torch.Generator | None = None, keep: bool = True) -> DrawRollout:
        """Encode and reconstruct ``x`` (B, C, H, W) over T steps with z_t ~ Q (the training pass).

        ``keep=False`` skips storing the intermediate canvases and windows (``canvases`` then holds
        only c_T, shape (1, B, C, H, W)), which is what :meth:`loss` needs.
        """
        c = self.cfg
        x = self.check_images(x)
        b = x.shape[0]
        eps = torch.randn((c.steps, b, c.z_size), generator=generator, device=x.device, dtype=x.dtype)
        # The encoder's input [r_t, h^dec_{t-1}] is never concatenated: its h^dec share is one
        # matrix product with the heads, its read share a second, small one.
        w_heads, b_heads = self.heads()
        w_read = self.encoder.cells[0].weight_ih[:, : c.read_size]  # (gates·enc, read_size)
        if not c.attention:
            # r = [x, x − σ(c)]: the x share W_x x + W_x̂ x is the same at every step; made once
            w_x, w_err = w_read.split(c.read_size // 2, 1)
            from_x = F.linear(x.flatten(1), w_x + w_err)  # (B, gates·enc)
        enc_state = tuple(s[0] for s in self.encoder.initial_state(b))  # (B, enc) each
        dec_state = self.decoder.initial_state(b)
        canvas = self.canvas0.expand(b, -1, -1, -1)
        _, _, read_params, enc_in = self.split_heads(F.linear(dec_state[0][-1], w_heads, b_heads))
        mus, log_sigmas, zs, canvases, writes, reads = [], [], [], [], [], []
        for t in range(c.steps):
            if c.attention:
                r, rw = self.read_images(x, x - torch.sigmoid(canvas), read_params)
                gi = enc_in + F.linear(r, w_read)
            else:
                gi = enc_in + from_x - F.linear(torch.sigmoid(canvas).flatten(1), w_err)
            h_enc, enc_state = step_projected(self.encoder, gi, enc_state)
            mu, log_sigma = self.sampler(h_enc).chunk(2, -1)
            z = mu + torch.exp(log_sigma) * eps[t]
            h_dec, dec_state = self.decoder.step(z, dec_state)
            patch, write_params, read_params, enc_in = self.split_heads(F.linear(h_dec, w_heads, b_heads))
            update, ww = self.write_canvas(patch, write_params)
            canvas = canvas + update
            mus.append(mu)
            log_sigmas.append(log_sigma)
            zs.append(z)
            if keep:
                canvases.append(canvas)
                if c.attention:
                    writes.append(ww)
                    reads.append(rw)
        stack = torch.stack
        return DrawRollout(
            canvases=stack(canvases) if keep else canvas.unsqueeze(0),
            writes=Window(*map(stack, zip(*writes, strict=True))) if keep and c.attention else None,
            reads=Window(*map(stack, zip(*reads, strict=True))) if keep and c.attention else None,
            z=stack(zs),
            mu=stack(mus),
            log_sigma=stack(log_sigmas),
        )

    def loss(self, x: Tensor, generator: torch.Generator | None = None, reduce: bool = True) -> DRAWLoss:
        """Negative variational bound of binary images ``x`` (B, C, H, W), in nats per image:
        reconstruction −log p(x | z) plus the analytic KL of every step. Means over the batch,
        or (B,) per image with ``reduce=False``."""
        x = self.check_images(x)
        check_binary(x)
        ro = self.rollout(x, generator, keep=False)
        rec = bernoulli_nll(ro.canvases[-1], x)  # (B,)
        kl = gaussian_kl(ro.mu, ro.log_sigma).sum(0)  # (T, B) -> (B,)
        total = rec + kl
        if reduce:
            return DRAWLoss(total.mean(), rec.mean(), kl.mean())
        return DRAWLoss(total, rec, kl)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> DrawRollout:
        """Draw ``n`` images from the prior, z_t ~ N(0, I), keeping every canvas and write window."""
        c = self.cfg
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        p = self.canvas0
        z = torch.randn((c.steps, n, c.z_size), generator=generator, device=p.device, dtype=p.dtype)
        h_dec = run_sequence(self.decoder, z)  # (T, n, dec): the decoder does not see the canvas
        w_heads, b_heads = self.heads(encoder=False)
        patch, write_params, _, _ = self.split_heads(F.linear(h_dec.flatten(0, 1), w_heads, b_heads))
        updates, ww = self.write_canvas(patch, write_params)  # all T·n writes at once
        canvases = updates.view(c.steps, n, c.channels, c.height, c.width)
        canvases[0] += self.canvas0
        for t in range(1, c.steps):  # the running sum in place (faster than cumsum over the first axis)
            canvases[t] += canvases[t - 1]
        writes = Window(*(f.view(c.steps, n) for f in ww)) if ww is not None else None
        return DrawRollout(canvases, writes, None, z, None, None)

    @torch.no_grad()
    def iwae_bound(self, x: Tensor, k: int, generator: torch.Generator | None = None, chunk: int = 4096) -> Tensor:
        """Negative importance-weighted bound (Burda et al. 2016) with ``k`` samples, nats per
        image, (B,): −log (1/k) Σ_i p(x, z_i)/Q(z_i | x). Tighter than the variational bound for k > 1
        (equal to it in expectation for k = 1)."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        x = self.check_images(x)
        check_binary(x)
        per = max(1, chunk // k)  # images per chunk, so a chunk holds about `chunk` rollouts
        out = []
        for xb in x.split(per):
            xr = xb.repeat_interleave(k, 0)  # (b·k, C, H, W), the k copies of an image adjacent
            ro = self.rollout(xr, generator, keep=False)
            log_px = -bernoulli_nll(ro.canvases[-1], xr)  # (b·k,)
            eps = (ro.z - ro.mu) * torch.exp(-ro.log_sigma)
            # log p(z) − log Q(z | x) = Σ −½ z² + ½ ε² + log σ  (the 2π terms cancel)
            log_ratio = (-0.5 * ro.z.square() + 0.5 * eps.square() + ro.log_sigma).sum((0, 2))
            log_w = (log_px + log_ratio).view(-1, k)
            out.append(-(torch.logsumexp(log_w, 1) - math.log(k)))
        return torch.cat(out)

    def forward(self, x: Tensor) -> Tensor:
        """The negative variational bound, mean over the batch (a scalar to minimise)."""
        return self.loss(x).total
