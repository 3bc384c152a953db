"""Translated and cluttered MNIST (Mnih et al. 2014), as batched pure functions.

All functions take float images (B, C, h, w) in [0, 1] and a ``torch.Generator`` for every random
choice, so a variant is reproducible from its seed, and none loops over samples in Python.

- :func:`place` pastes each image at its own offset on a zero canvas (the primitive).
- :func:`shift` moves digits by up to ``max_shift`` pixels inside their own frame (augmentation).
- :func:`translate` puts each digit at a uniformly random position of an ``S × S`` canvas.
- :func:`clutter` follows DeepMind's ``mnist-cluttered`` generator: ``n`` random ``p × p`` crops of
  random digits of the same split are added at random positions and clipped to 1, then the digit
  is added at a random position and the canvas clipped to [0, 1].
"""

from __future__ import annotations

import torch
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
    flat = images.reshape(b, c, h * w).gather(2, index.view(b, 1, -1).expand(b, c, height * width))
    return flat.view(b, c, height, width) * inside.view(b, 1, height, width).to(images.dtype)


def random_offsets(n: int, low: int, high: int, generator: torch.Generator | None = None) -> Tensor:
    """(n, 2) long offsets drawn uniformly from [low, high] (inclusive), on the CPU."""
    return torch.randint(low, high + 1, (n, 2), generator=generator)


def shift(images: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Move every image by its own random (dy, dx) in [-max_shift, max_shift]; same size out."""
    if max_shift <= 0:
        return images
    offsets = random_offsets(images.shape[0], -max_shift, max_shift, generator).to(images.device)
    return place(images, images.shape[-2], images.shape[-1], offsets)


def translate(images: Tensor, size: int = 60, generator: torch.Generator | None = None) -> Tensor:
    """Each digit at a uniformly random position of a ``size × size`` black canvas."""
    h, w = images.shape[-2:]
    if size < max(h, w):
        raise ValueError(f"canvas size {size} is smaller than the {h}×{w} images")
    offsets = random_offsets(images.shape[0], 0, size - max(h, w), generator).to(images.device)
    return place(images, size, size, offsets)


def clutter(
    images: Tensor,
    pool: Tensor,
    size: int = 60,
    distractors: int = 4,
    patch: int = 8,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Cluttered translated digits.

    images: (B, C, h, w) the digits to classify;  pool: (N, C, h, w) digits to cut distractors from
    returns: (B, C, size, size)
    """
    b, c, h, w = images.shape
    dev = images.device
    canvas = images.new_zeros(b, c, size, size)
    if distractors > 0:
        n = b * distractors
        src = torch.randint(0, pool.shape[0], (n,), generator=generator).to(pool.device)
        crop_at = random_offsets(n, 0, min(h, w) - patch, generator).to(dev)
        # Cut the crops by placing each source digit at minus the crop corner on a patch canvas.
        crops = place(pool[src].to(images), patch, patch, -crop_at)  # (n, C, p, p)
        where = random_offsets(n, 0, size - patch, generator).to(dev)
        pieces = place(crops, size, size, where).view(b, distractors, c, size, size)
        canvas = pieces.sum(1).clamp_(max=1.0)
    return (canvas + translate(images, size, generator)).clamp_(0.0, 1.0)
