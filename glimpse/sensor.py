"""The glimpse sensor: a multi-resolution retina, batched in tensor ops.

Location convention (used everywhere in the library)
----------------------------------------------------
A location is ``(x, y)`` in ``[-1, 1]^2``: ``x`` runs left to right, ``y`` top to bottom,
``(0, 0)`` is the image centre and ``(-1, -1)`` its top-left corner. ``±1`` reaches the image
*edges*: on an image of width ``W`` pixels, one unit of ``x`` is ``W / 2`` pixels, so on a
28×28 MNIST digit ``x = ±1`` is 14 px from the centre and a location standard deviation of
0.1 is 1.4 px. In pixel units (pixel ``j`` spans ``[j, j + 1)``) the centre is

    c_x = (x + 1) / 2 * W,        c_y = (y + 1) / 2 * H.

A patch of side ``s`` covers the integer pixels ``top .. top + s - 1`` with
``top = floor(c - s / 2 + 0.5)`` (the nearest integer grid). Pixels outside the image read as
background (zero).

The retina takes ``k`` square patches centred at the location: the first ``g × g``, each next one
twice as wide, every one averaged down ("area" resize) to ``g × g``; scale ``i`` is thus
``(g·2^i)²`` pixels pooled by ``2^i``. The sensor is not differentiable with respect to the
location (RAM learns where to look by REINFORCE); it is differentiable with respect to the image.
:func:`densest_window` finds where an image holds the most ink, the cue of ``train.ram
--ink-glimpses``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

RANGE_SLACK = 1e-3  # how far outside [0, 1] pixel values may stray (resampling overshoot)


def check_images(images: Tensor, channels: int | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """Check a batch of images (B, C, H, W) with values in [0, 1] and return it, cast to ``dtype``
    when given (a model's entry passes its parameters' dtype, so float64, float16 and bfloat16
    images work with a float32 model). Raise a ``ValueError`` that names the problem for a wrong
    shape, an empty batch, integer images (uint8 pictures: divide by 255), or values outside
    [0, 1] or not finite. The value check is one reduction; it is skipped while ``torch.compile``
    traces (a data-dependent branch would break the graph)."""
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must have shape (batch, channels, height, width), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError(f"images is an empty batch (shape {tuple(images.shape)}); pass at least one image")
    if images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"images have no pixels (shape {tuple(images.shape)})")
    if not images.is_floating_point():
        hint = " (for 0..255 pictures use images.float() / 255)" if images.dtype == torch.uint8 else ""
        raise ValueError(f"images must be a floating-point tensor in [0, 1], got {images.dtype}{hint}")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(f"expected {channels} channel(s), got images of shape {tuple(images.shape)}")
    if dtype is not None and images.dtype != dtype:
        images = images.to(dtype)
    if not torch.compiler.is_compiling():
        lo, hi = torch.stack(torch.aminmax(images.detach())).tolist()  # one reduction, one sync
        if not (lo >= -RANGE_SLACK and hi <= 1.0 + RANGE_SLACK):  # NaN fails both comparisons
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError("images contain NaN or infinite pixels")
            if hi > 1.0 + RANGE_SLACK:
                raise ValueError(
                    f"images must lie in [0, 1]; got values up to {hi:.4g} (divide 0..255 pictures by 255)"
                )
            raise ValueError(f"images must lie in [0, 1]; got values down to {lo:.4g}")
    return images


def check_locations(loc: Tensor, batch: int) -> None:
    """Raise a ``ValueError`` unless ``loc`` is a finite (batch, 2) tensor inside [-1, 1]."""
    if loc.dim() != 2 or loc.shape != (batch, 2):
        raise ValueError(f"locations must have shape ({batch}, 2), got {tuple(loc.shape)}")
    if not torch.isfinite(loc).all():
        raise ValueError("locations contain NaN or infinite values")
    worst = loc.detach().abs().max().item()
    if worst > 1.0 + 1e-6:
        raise ValueError(f"locations must lie in [-1, 1] (x, y); got a coordinate of magnitude {worst:.4g}")


def to_pixels(loc: Tensor, height: int, width: int) -> Tensor:
    """Locations in [-1, 1] -> pixel centres (c_x, c_y) in [0, W] x [0, H].  (B, 2) -> (B, 2)"""
    scale = loc.new_tensor([width, height])
    return (loc + 1.0) * 0.5 * scale


def patch_corners(loc: Tensor, size: int, height: int, width: int) -> Tensor:
    """Integer (left, top) pixel of the side-``size`` patch centred at ``loc``.  (B, 2) -> (B, 2) long"""
    centre = to_pixels(loc, height, width)
    return torch.floor(centre - size / 2 + 0.5).long()


def extract_patches(padded: Tensor, corners: Tensor, size: int, pad: int, index: Tensor | None = None) -> Tensor:
    """Gather one ``size × size`` patch per image from a zero-padded batch.

    padded:  (B, C, H + 2·pad, W + 2·pad), the images padded by ``pad`` on every side
    corners: (B, 2) long, (left, top) in unpadded pixel coordinates
    index:   optional (N,) long: patch n comes from image index[n] (several patches per image);
             corners is then (N, 2)
    returns: (B, C, size, size), or (N, C, size, size) with ``index``
    """
    if index is not None:
        return _extract_indexed(padded, corners, size, pad, index)
    b, c, hp, wp = padded.shape
    offsets = torch.arange(size, device=padded.device)
    rows = (corners[:, 1] + pad).view(b, 1) + offsets  # (B, size)
    cols = (corners[:, 0] + pad).view(b, 1) + offsets  # (B, size)
    flat = (rows.view(b, size, 1) * wp + cols.view(b, 1, size)).view(b, 1, size * size)  # (B, 1, s²)
    flat = flat.expand(b, c, size * size)
    return padded.reshape(b, c, hp * wp).gather(2, flat).view(b, c, size, size)


def _extract_indexed(padded: Tensor, corners: Tensor, size: int, pad: int, index: Tensor) -> Tensor:
    """Patches from chosen images, copying only the patches' pixels.  -> (N, C, size, size)"""
    b, c, hp, wp = padded.shape
    n = corners.shape[0]
    offsets = torch.arange(size, device=padded.device)
    rows = (corners[:, 1] + pad).view(n, 1) + offsets
    cols = (corners[:, 0] + pad).view(n, 1) + offsets
    flat = (rows.view(n, size, 1) * wp + cols.view(n, 1, size)).view(n, size * size) + index.view(n, 1) * (hp * wp)
    pixels = padded.permute(0, 2, 3, 1).reshape(b * hp * wp, c)
    return pixels[flat.view(-1)].view(n, size, size, c).permute(0, 3, 1, 2)


def retina_pad(glimpse_size: int, scales: int) -> int:
    """Zero padding that keeps the widest patch in range for any location in [-1, 1]."""
    return glimpse_size * 2 ** (scales - 1) // 2 + 1


def pad_images(images: Tensor, glimpse_size: int, scales: int) -> Tensor:
    """Zero-pad a batch once so that many glimpses can be read from it.  (B,C,H,W) -> (B,C,H+2p,W+2p)"""
    p = retina_pad(glimpse_size, scales)
    return F.pad(images, (p, p, p, p))


def retina_padded(
    padded: Tensor,
    loc: Tensor,
    glimpse_size: int,
    scales: int,
    height: int,
    width: int,
    index: Tensor | None = None,
) -> Tensor:
    """The retina on images already padded by :func:`pad_images` (the fast path of a rollout).

    padded: (B, C, H + 2p, W + 2p);  loc: (B, 2) in [-1, 1]
    index: optional (N,) long, glimpse n looks at image index[n]; loc is then (N, 2)
    returns: (B, scales, C, g, g), or (N, scales, C, g, g) with ``index``
    """
    pad = retina_pad(glimpse_size, scales)
    loc = loc.detach()
    out = []
    for i in range(scales):
        size = glimpse_size * 2**i
        patch = extract_patches(padded, patch_corners(loc, size, height, width), size, pad, index)
        if i:
            patch = F.avg_pool2d(patch, 2**i)  # "area" resize to g × g
        out.append(patch)
    return torch.stack(out, dim=1)


def retina(images: Tensor, loc: Tensor, glimpse_size: int = 8, scales: int = 1) -> Tensor:
    """Multi-resolution glimpses of a batch of images.

    images: (B, C, H, W) float;  loc: (B, 2) (x, y) in [-1, 1]
    returns: (B, scales, C, g, g), scale ``i`` covering ``g·2^i`` pixels pooled to ``g``
    """
    check_images(images)
    check_locations(loc, images.shape[0])
    if glimpse_size < 1 or scales < 1:
        raise ValueError(f"glimpse_size and scales must be >= 1, got {glimpse_size} and {scales}")
    h, w = images.shape[-2:]
    padded = pad_images(images, glimpse_size, scales)
    return retina_padded(padded, loc, glimpse_size, scales, h, w)


def glimpse_boxes(loc: Tensor, glimpse_size: int, scales: int, height: int, width: int) -> Tensor:
    """Pixel boxes (left, top, right, bottom) the retina reads, for drawing.  (B, 2) -> (B, scales, 4)"""
    boxes = []
    for i in range(scales):
        size = glimpse_size * 2**i
        corner = patch_corners(loc, size, height, width)
        boxes.append(torch.cat([corner, corner + size], dim=1))
    return torch.stack(boxes, dim=1)


def densest_window(images: Tensor, side: int) -> Tensor:
    """Where each image holds the most ink in a ``side × side`` window: the centre of that window
    as a location (x, y) in [-1, 1] (ties go to the first window in row-major order). The window
    sums come from a summed-area table, so the cost does not grow with ``side``. A cue read from
    the pixels alone (no labels): on cluttered MNIST a 16-pixel window lands on the digit, whose
    ink fills the middle 20 × 20 of its 28 × 28 frame, while the distractors are 8 × 8 crops.

    images: (B, C, H, W) with H, W >= side  ->  (B, 2)
    """
    h, w = images.shape[-2:]
    if not 1 <= side <= min(h, w):
        raise ValueError(f"window side must lie in [1, {min(h, w)}] for {h}×{w} images, got {side}")
    # float64 (but on MPS, which has none): the table's sums are then exact, so tied windows tie
    ink = images.to(torch.float32 if images.device.type == "mps" else torch.float64).sum(1)  # (B, H, W)
    table = F.pad(ink.cumsum(1).cumsum(2), (1, 0, 1, 0))  # (B, H + 1, W + 1) sums above-left
    sums = (
        table[:, side:, side:] - table[:, :-side, side:] - table[:, side:, :-side] + table[:, :-side, :-side]
    )  # (B, H - side + 1, W - side + 1) the window with top-left (i, j)
    n = sums.shape[-1]
    best = sums.flatten(1).argmax(1)  # (B,)
    centre = torch.stack([best % n, best // n], -1).float() + side / 2  # (B, 2) pixels (x, y)
    size = torch.tensor([w, h], dtype=centre.dtype, device=centre.device)
    return centre / (size / 2) - 1
