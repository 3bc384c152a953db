"""Rendering: every step of an agent as a frame, frames to a GIF.

Generic pieces (:func:`to_rgb`, :func:`tile_grid`, :func:`write_gif`) serve every agent; the
glimpse classifier's frames come from :func:`ram_frames`, which reads only a :class:`Rollout`;
the soft-attention classifier's from :func:`soft_frames`, which reads only a :class:`SoftRollout`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from glimpse.files import atomic_path
from glimpse.filterbank import Window, coarser
from glimpse.ram import Rollout
from glimpse.sensor import glimpse_boxes
from glimpse.soft import SoftRollout

if TYPE_CHECKING:
    from glimpse.stroke_files import StrokeList

# One colour per retina scale, finest first (the finest is the one the glimpse network sees sharpest).
SCALE_COLOURS = [(255, 64, 64), (255, 190, 40), (70, 200, 255), (160, 110, 255)]
TRAIL = (90, 220, 90)


def to_rgb(image: Tensor, scale: int = 1) -> Image.Image:
    """A (C, H, W) float image in [0, 1] (C = 1 or 3) as an RGB PIL image, upscaled by ``scale``."""
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected a (1|3, H, W) image, got {tuple(image.shape)}")
    arr = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    arr = arr.expand(3, -1, -1).permute(1, 2, 0).numpy()
    img = Image.fromarray(np.ascontiguousarray(arr), "RGB")
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale != 1 else img


def tile_grid(tiles: Sequence[Image.Image], cols: int, pad: int = 4, background: int = 24) -> np.ndarray:
    """Lay equally sized tiles out in a grid; returns an (H, W, 3) uint8 array."""
    w, h = tiles[0].size
    rows = -(-len(tiles) // cols)
    canvas = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad) + pad), (background,) * 3)
    for i, tile in enumerate(tiles):
        canvas.paste(tile, (pad + (i % cols) * (w + pad), pad + (i // cols) * (h + pad)))
    return np.asarray(canvas)


def gif_palette(frames: Sequence[np.ndarray], sampled: int = 6) -> Image.Image:
    """One 256-colour palette for every frame (median cut): the last frame in full, which shows the
    finished picture, and up to ``sampled`` other frames at every second pixel.

    frames: (H, W, 3) uint8 arrays  ->  a palette ("P") image for :meth:`PIL.Image.Image.quantize`
    """
    picks = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), sampled + 1)).round().astype(int))[:-1]
    w = frames[-1].shape[1]
    parts = [frames[-1].reshape(-1, w, 3)]
    for i in picks:
        sub = np.ascontiguousarray(frames[i][::2, ::2]).reshape(-1, 3)
        sub = sub[: len(sub) // w * w]  # whole rows of the last frame's width
        parts.append(sub.reshape(-1, w, 3))
    sample = Image.fromarray(np.concatenate(parts, 0), "RGB")
    return sample.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def write_gif(
    frames: Sequence[np.ndarray],
    path: str | os.PathLike[str],
    fps: float = 2.0,
    hold_last: int = 3,
    shared_palette: bool = True,
) -> Path:
    """Write frames as a looping GIF, atomically (a half-written file never replaces a good one).

    The frames share one palette (:func:`gif_palette`), quantised once and mapped to it without
    dithering, so Pillow stores each frame as its change from the one before. ``shared_palette=False``
    is the earlier path, kept for comparison: imageio, a palette quantised for every frame."""
    if not frames:
        raise ValueError("no frames to write")
    if not shared_palette:
        import imageio.v3 as iio

        with atomic_path(path) as tmp:
            stack = np.stack([*frames, *[frames[-1]] * hold_last])
            iio.imwrite(tmp, stack, extension=".gif", duration=1000 / fps, loop=0)
        return Path(path)
    palette = gif_palette(frames)
    images = [Image.fromarray(np.ascontiguousarray(f), "RGB").quantize(palette=palette, dither=Image.Dither.NONE)
              for f in frames]  # fmt: skip
    images += [images[-1]] * hold_last
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=1000 / fps, loop=0)
    return Path(path)


def ram_frames(
    images: Tensor,
    rollout: Rollout,
    glimpse_size: int,
    scales: int,
    labels: Tensor | None = None,
    scale: int = 5,
    cols: int = 4,
) -> list[np.ndarray]:
    """One frame per glimpse: each image with the boxes of every retina scale at the current
    location, the path of earlier glimpses, the step, and the predicted class with its probability.

    images: (B, C, H, W) in [0, 1];  rollout: that batch's rollout (T steps)
    returns: T frames, (H', W', 3) uint8
    """
    b, _, h, w = images.shape
    steps = rollout.locations.shape[0]
    boxes = torch.stack([glimpse_boxes(rollout.locations[t], glimpse_size, scales, h, w) for t in range(steps)])
    centres = (rollout.locations + 1) * 0.5 * rollout.locations.new_tensor([w, h]) * scale  # (T, B, 2) px
    probs = rollout.class_probs.detach()  # (T, B, classes)
    font = ImageFont.load_default()
    caption = 26
    frames = []
    for t in range(steps):
        tiles = []
        for i in range(b):
            digit = to_rgb(images[i], scale)
            tile = Image.new("RGB", (digit.width, digit.height + caption), (0, 0, 0))
            tile.paste(digit, (0, 0))
            draw = ImageDraw.Draw(tile)
            path = [tuple(centres[s, i].tolist()) for s in range(t + 1)]
            if len(path) > 1:
                draw.line(path, fill=TRAIL, width=2)
            for s in range(scales - 1, -1, -1):
                left, top, right, bottom = (boxes[t, i, s] * scale).tolist()
                draw.rectangle([left, top, right - 1, bottom - 1], outline=SCALE_COLOURS[s % 4], width=2)
            p, k = probs[t, i].max(0)
            ok = labels is None or int(k) == int(labels[i])
            text = f"t={t + 1}  {int(k)} ({float(p):.2f})"
            draw.text((4, digit.height + 6), text, fill=(255, 255, 255) if ok else (255, 110, 110), font=font)
            tiles.append(tile)
        frames.append(tile_grid(tiles, cols))
    return frames


OUTLINE = (255, 60, 200)


def paint_frames(
    target: Tensor,
    steps: Sequence[Tensor],
    mode: str = "fast",
    style: str = "flat",
    background: float = 0.0,
    scale: int = 2,
    outline: bool = False,
    every: int = 1,
    window: bool = True,
    edge: float = 0.5,
) -> list[np.ndarray]:
    """One frame per painting step (or every ``every`` steps): target and canvas side by side,
    optionally with the centre lines of the strokes that step added. Each step paints its strokes
    over the canvas so far, each stroke on its window only (fast mode, :func:`glimpse.canvas.paint_steps`;
    ``window=False``: on the whole canvas, the earlier path), with the painter's ``edge`` softness.

    target: (C, H, W) in [0, 1];  steps: per step, its strokes (n_i, 13)
    returns: frames (H', W', 3) uint8
    """
    from glimpse.canvas import bezier, blank, paint, paint_steps

    c, h, w = target.shape
    canvas = blank(1, c, h, w, background, dtype=target.dtype)
    left = to_rgb(target, scale)
    font = ImageFont.load_default()
    frames, count = [], 0
    batched = [s[None].to(canvas.dtype) for s in steps]

    def one_by_one(canvas: Tensor):  # the earlier path: each step on the whole canvas
        for step in batched:
            canvas = paint(canvas, step, mode, style, edge)
            yield canvas

    # many steps' windows rendered together
    canvases = paint_steps(canvas, batched, mode, style, edge) if window else one_by_one(canvas)
    for i, (strokes, canvas) in enumerate(zip(steps, canvases, strict=True)):
        count += strokes.shape[0]
        if (i + 1) % every and i + 1 != len(steps):
            continue
        right = to_rgb(canvas[0], scale)
        if outline and strokes.shape[0]:
            draw = ImageDraw.Draw(right)
            pts, _, _ = bezier(strokes, torch.linspace(0, 1, 12))
            pts = (pts * pts.new_tensor([w, h]) * scale).tolist()
            for line in pts:
                draw.line([tuple(p) for p in line], fill=OUTLINE, width=1)
        tile = Image.new("RGB", (left.width * 2 + 12, left.height + 22), (0, 0, 0))
        tile.paste(left, (4, 4))
        tile.paste(right, (left.width + 8, 4))
        ImageDraw.Draw(tile).text(
            (left.width + 8, left.height + 7), f"{count} strokes", fill=(255, 255, 255), font=font
        )
        frames.append(np.asarray(tile))
    return frames


def stroke_frames(
    strokes: StrokeList, height: int, width: int, style: str | None = None, scale: int = 1
) -> list[np.ndarray]:
    """One frame per step of a stroke list (:class:`glimpse.stroke_files.StrokeList`): its canvas at
    ``height`` × ``width``, upscaled by ``scale``, each step painted over the last (windowed), with
    the stroke count beneath.  ->  frames (H', W', 3) uint8"""
    from glimpse.canvas import blank, paint_steps

    canvas = blank(1, strokes.channels, height, width, strokes.background, dtype=torch.float32)
    font = ImageFont.load_default()
    frames, count = [], 0
    steps = strokes.step_strokes()
    canvases = paint_steps(canvas, [s[None] for s in steps], strokes.mode, style or strokes.style, strokes.edge)
    for step, canvas in zip(steps, canvases, strict=True):
        count += step.shape[0]
        image = to_rgb(canvas[0], scale)
        tile = Image.new("RGB", (image.width, image.height + 18), (0, 0, 0))
        tile.paste(image, (0, 0))
        ImageDraw.Draw(tile).text((4, image.height + 4), f"{count} strokes", fill=(255, 255, 255), font=font)
        frames.append(np.asarray(tile))
    return frames


WRITE_COLOUR = (255, 70, 70)  # DRAW's write window
READ_COLOUR = (70, 220, 90)  # DRAW's read window


def window_boxes(gx: Tensor, gy: Tensor, delta: Tensor, n: int) -> Tensor:
    """The square an N×N filterbank covers, in pixels with (0, 0) at the image's top-left corner:
    its filter centres ± half a stride. gx, gy, delta: (...) in the filterbank's 1-indexed pixel
    coordinates -> (..., 4) left, top, right, bottom."""
    half = n * delta / 2
    cx, cy = gx - 0.5, gy - 0.5  # 1-indexed pixel centres -> continuous coordinates
    return torch.stack([cx - half, cy - half, cx + half, cy + half], -1)


def draw_frames(
    images: Tensor,
    writes: tuple[Tensor, ...] | None = None,
    write_n: int = 0,
    reads: tuple[Tensor, ...] | None = None,
    read_n: int = 0,
    targets: Tensor | None = None,
    scale: int = 4,
    cols: int = 8,
) -> list[np.ndarray]:
    """One frame per drawing step: a grid of canvases, each with the window it just wrote through
    (red) and, for reconstructions, the window it read through (green) and its target beside it.

    images: (T, B, C, H, W) canvases in [0, 1];  writes / reads: windows (gx, gy, delta, ...) with
    (T, B) fields, or None;  targets: (B, C, H, W) or None
    returns: T frames, (H', W', 3) uint8
    """
    steps, b, _, h, w = images.shape
    limits = torch.tensor([w, h, w, h], dtype=images.dtype)  # boxes are clipped to the canvas
    boxes = [
        (torch.minimum(window_boxes(win[0], win[1], win[2], n).clamp(min=0), limits) * scale, colour)
        for win, n, colour in ((reads, read_n, READ_COLOUR), (writes, write_n, WRITE_COLOUR))
        if win is not None
    ]  # (T, B, 4) each, in frame pixels
    font = ImageFont.load_default()
    header = 18
    frames = []
    for t in range(steps):
        tiles = []
        for i in range(b):
            canvas = to_rgb(images[t, i], scale)
            draw = ImageDraw.Draw(canvas)
            for box, colour in boxes:
                left, top, right, bottom = box[t, i].tolist()
                draw.rectangle([left, top, right - 1, bottom - 1], outline=colour, width=max(1, scale // 2))
            if targets is not None:
                pair = Image.new("RGB", (canvas.width * 2 + 2, canvas.height), (60, 60, 60))
                pair.paste(to_rgb(targets[i], scale), (0, 0))
                pair.paste(canvas, (canvas.width + 2, 0))
                canvas = pair
            tiles.append(canvas)
        grid = Image.fromarray(tile_grid(tiles, min(cols, b)))
        frame = Image.new("RGB", (grid.width, grid.height + header), (24, 24, 24))
        frame.paste(grid, (0, header))
        ImageDraw.Draw(frame).text((6, 4), f"step {t + 1}/{steps}", fill=(255, 255, 255), font=font)
        frames.append(np.asarray(frame))
    return frames


def soft_frames(
    images: Tensor,
    rollout: SoftRollout,
    labels: Tensor | None = None,
    scale: int = 5,
    cols: int = 4,
    show_patch: bool = True,
) -> list[np.ndarray]:
    """One frame per glimpse of the soft-attention classifier: each image with the square its N×N
    filterbank covers (:func:`window_boxes`: the filter centres ± half a stride, clipped to the
    image; one per scale, in :data:`SCALE_COLOURS` from the finest), the path of earlier window
    centres, optionally the N×N patch it read (the finest scale) beside it, the step, and the
    predicted class with its probability.

    images: (B, C, H, W) in [0, 1];  rollout: that batch's :class:`glimpse.soft.SoftRollout` (T steps)
    returns: T frames, (H', W', 3) uint8
    """
    b, _, h, w = images.shape
    steps, n = rollout.logits.shape[0], rollout.patches.shape[-1]
    win = Window(*(f.detach().float().cpu() for f in rollout.windows))
    limits = torch.tensor([w, h, w, h], dtype=torch.float32)
    scales = rollout.patches.shape[2] // images.shape[1]  # concentric reads
    strides = torch.stack([coarser(win, k).delta for k in range(scales)], -1)  # (T, B, S)
    boxes = window_boxes(win.gx[..., None], win.gy[..., None], strides, n)  # (T, B, S, 4)
    boxes = torch.minimum(boxes.clamp(min=0), limits) * scale
    centres = torch.stack([(win.gx - 0.5).clamp(0, w), (win.gy - 0.5).clamp(0, h)], -1) * scale  # (T, B, 2)
    probs = rollout.class_probs.detach().cpu()  # (T, B, classes)
    patches = rollout.patches.detach().cpu().clamp(0, 1)  # (T, B, S·C, N, N); γ may brighten them
    font = ImageFont.load_default()
    caption, gap = 26, 4
    frames = []
    for t in range(steps):
        tiles = []
        for i in range(b):
            digit = to_rgb(images[i], scale)
            side = digit.height
            tile = Image.new("RGB", (digit.width + (gap + side if show_patch else 0), side + caption), (0, 0, 0))
            tile.paste(digit, (0, 0))
            if show_patch:
                patch = to_rgb(patches[t, i, : images.shape[1]])  # the finest scale
                tile.paste(patch.resize((side, side), Image.NEAREST), (digit.width + gap, 0))
            draw = ImageDraw.Draw(tile)
            path = [tuple(centres[s, i].tolist()) for s in range(t + 1)]
            if len(path) > 1:
                draw.line(path, fill=TRAIL, width=2)
            for k in reversed(range(scales)):  # the finest box on top
                left, top, right, bottom = boxes[t, i, k].tolist()
                if right - left >= 1 and bottom - top >= 1:  # a window off the image has no box
                    colour = SCALE_COLOURS[k % len(SCALE_COLOURS)]
                    draw.rectangle([left, top, right - 1, bottom - 1], outline=colour, width=2)
            p, k = probs[t, i].max(0)
            ok = labels is None or int(k) == int(labels[i])
            text = f"t={t + 1}  {int(k)} ({float(p):.2f})"
            draw.text((4, side + 6), text, fill=(255, 255, 255) if ok else (255, 110, 110), font=font)
            tiles.append(tile)
        frames.append(tile_grid(tiles, min(cols, b)))
    return frames
