"""Translated and cluttered MNIST (Mnih et al. 2014), as batched pure functions.

All functions take float images (B, C, h, w) in [0, 1] and a ``torch.Generator`` for every random
choice, so a variant is reproducible from its seed, and none loops over samples in Python.

- :func:`place` pastes each image at its own offset on a zero canvas (the primitive).
- :func:`add_at` adds each image into a canvas at its own offset, touching only its pixels.
- :func:`shift` moves digits by up to ``max_shift`` pixels inside their own frame (augmentation).
- :func:`jitter` rotates and scales each digit about its centre by a random amount (augmentation).
- :func:`translate` puts each digit at a uniformly random position of an ``S × S`` canvas.
- :func:`digit_centres` says where the placed digits' centres are, in location units.
- :func:`clutter` follows DeepMind's ``mnist-cluttered`` generator: ``n`` random ``p × p`` crops of
  random digits of the same split are added at random positions and clipped to 1, then the digit
  is added at a random position and the canvas clipped to [0, 1]. The pool may stay uint8 (0..255):
  only the crops are turned into floats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def place(images: Tensor, height: int, width: int, offsets: Tensor) -> Tensor:
    """Paste image ``b`` with its top-left pixel at ``offsets[b] = (top, left)`` on a zero canvas.

    images: (B, C, h, w);  offsets: (B, 2) long, may be negative (the image is clipped)
    returns: (B, C, height, width)
    """
    b, c, h, w = images.shape
    dev = images.device
    ys = torch.arange(height, device=dev).view(1, height) - offsets[:, :1]  # (B, height) source row
    xs = torch.arange(width, device=dev).view(1, width) - offsets[:, 1:]  # (B, width) source col
    inside = ((ys >= 0) & (ys < h)).view(b, height, 1) & ((xs >= 0) & (xs < w)).view(b, 1, width)
    index = ys.clamp(0, h - 1).view(b, height, 1) * w + xs.clamp(0, w - 1).view(b, 1, width)
    flat = images.reshape(b, c, h * w).gather(2, index.view(b, 1, height * width).expand(b, c, height * width))
    return flat.view(b, c, height, width) * inside.view(b, 1, height, width).to(images.dtype)


def add_at(canvas: Tensor, pieces: Tensor, offsets: Tensor) -> Tensor:
    """Add piece ``b`` into ``canvas[b]`` with its top-left pixel at ``offsets[b] = (top, left)``,
    in place; every piece must lie wholly inside the canvas. Only the pieces' pixels are touched
    (a scatter-add), so pasting small pieces into a large canvas costs what the pieces do.

    canvas: (B, C, H, W) contiguous;  pieces: (B, C, h, w);  offsets: (B, 2) long
    returns: canvas
    """
    b, c, h, w = pieces.shape
    dev = pieces.device
    rows = offsets[:, :1] + torch.arange(h, device=dev)  # (B, h)
    cols = offsets[:, 1:] + torch.arange(w, device=dev)  # (B, w)
    flat = (rows[:, :, None] * canvas.shape[-1] + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    canvas.view(b, c, canvas.shape[-2] * canvas.shape[-1]).scatter_add_(
        2, flat, pieces.reshape(b, c, h * w).to(canvas.dtype)
    )
    return canvas


def random_offsets(n: int, low: int, high: int, generator: torch.Generator | None = None) -> Tensor:
    """(n, 2) long offsets drawn uniformly from [low, high] (inclusive), on the CPU."""
    return torch.randint(low, high + 1, (n, 2), generator=generator)


def digit_offsets(n: int, high: int, generator: torch.Generator | None, given: Tensor | None) -> Tensor:
    """(n, 2) long digit offsets: ``given`` (checked to lie in [0, high]), else uniform draws."""
    if given is None:
        return random_offsets(n, 0, high, generator)
    if given.shape != (n, 2) or given.dtype != torch.long or not bool(((given >= 0) & (given <= high)).all()):
        raise ValueError(f"offsets must be ({n}, 2) long in [0, {high}], got {tuple(given.shape)} {given.dtype}")
    return given


def digit_centres(offsets: Tensor, digit: int, size: int) -> Tensor:
    """Where the ``digit × digit`` digits placed at ``offsets`` ((B, 2) long (top, left)) on a
    ``size × size`` canvas have their centres, as locations (x, y) in [-1, 1] (the sensor's
    convention).  (B, 2) -> (B, 2) float"""
    return ((offsets.float() + digit / 2) / (size / 2) - 1).flip(-1)


def shift(images: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Move every image by its own random (dy, dx) in [-max_shift, max_shift]; same size out."""
    if max_shift <= 0:
        return images
    offsets = random_offsets(images.shape[0], -max_shift, max_shift, generator).to(images.device)
    return place(images, images.shape[-2], images.shape[-1], offsets)


def jitter(images: Tensor, degrees: float, scale: float, generator: torch.Generator | None = None) -> Tensor:
    """Rotate every image about its centre by its own angle, uniform in ±``degrees``, and scale it
    by its own factor, uniform in [1 − ``scale``, 1 + ``scale``] (bilinear; zeros come in at the
    edges). Same size out; the images themselves when both are 0.  images: (B, C, h, w)"""
    if degrees < 0 or not 0 <= scale < 1:
        raise ValueError(f"jitter needs degrees >= 0 and scale in [0, 1), got {degrees} and {scale}")
    if degrees == 0 and scale == 0:
        return images
    b = images.shape[0]
    u = torch.rand((2, b), generator=generator).to(images.device, images.dtype) * 2 - 1  # (2, B) in [-1, 1)
    angle, factor = u[0] * math.radians(degrees), 1 + u[1] * scale
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor  # output -> input coordinates
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def translate(
    images: Tensor, size: int = 60, generator: torch.Generator | None = None, offsets: Tensor | None = None
) -> Tensor:
    """Each digit at a uniformly random position of a ``size × size`` black canvas (or at
    ``offsets``, (B, 2) long (top, left), when given: for measuring where a model looks)."""
    b, c, h, w = images.shape
    if size < max(h, w):
        raise ValueError(f"canvas size {size} is smaller than the {h}×{w} images")
    offsets = digit_offsets(b, size - max(h, w), generator, offsets).to(images.device)
    return add_at(images.new_zeros(b, c, size, size), images, offsets)


def clutter(
    images: Tensor,
    pool: Tensor,
    size: int = 60,
    distractors: int = 4,
    patch: int = 8,
    generator: torch.Generator | None = None,
    offsets: Tensor | None = None,
) -> Tensor:
    """Cluttered translated digits.

    images: (B, C, h, w) float, the digits to classify;  pool: (N, C, h', w') digits to cut
    distractors from, float in [0, 1] or uint8 (any device: only the crops move);  offsets:
    (B, 2) long (top, left) of each digit, drawn last from ``generator`` when None (so giving
    them leaves the distractors as they were)
    returns: (B, C, size, size)
    """
    b, c, h, w = images.shape
    dev = images.device
    if size < max(h, w):
        raise ValueError(f"canvas size {size} is smaller than the {h}×{w} images")
    if distractors > 0 and not patch <= min(size, *pool.shape[-2:]):
        raise ValueError(f"distractor patch {patch} is larger than the canvas ({size}) or the pool's digits")
    canvas = images.new_zeros(b, c, size, size)
    if distractors > 0:
        n = b * distractors
        src = torch.randint(0, pool.shape[0], (n,), generator=generator).to(pool.device)
        crop_at = random_offsets(n, 0, min(pool.shape[-2:]) - patch, generator).to(pool.device)
        # Cut the crops by placing each source digit at minus the crop corner on a patch canvas.
        crops = place(pool[src], patch, patch, -crop_at).to(dev, images.dtype)  # (n, C, p, p)
        if pool.dtype == torch.uint8:
            crops = crops / 255.0
        where = random_offsets(n, 0, size - patch, generator).to(dev).view(b, distractors, 2)
        crops = crops.view(b, distractors, c, patch, patch)
        for d in range(distractors):  # a few distractors, not samples: each adds one crop per image
            add_at(canvas, crops[:, d], where[:, d])
        canvas.clamp_(max=1.0)
    offsets = digit_offsets(b, size - max(h, w), generator, offsets).to(dev)
    return add_at(canvas, images, offsets).clamp_(0.0, 1.0)
