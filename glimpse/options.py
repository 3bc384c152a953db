"""Checks of the ``glimpse`` command's options and outputs, made before anything is loaded or
written, and writing a command's outputs together or not at all.

Every check raises :class:`~glimpse.errors.UsageError` naming the option and its value.
"""

from __future__ import annotations

import errno
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from glimpse.errors import UsageError

# Limits on options, checked before anything is loaded or written (and shown in --help).
MAX_SIZE = 4096  # paint --size, pixels per side
MAX_STROKES = 100_000  # paint --strokes
MAX_REFINE = 100_000  # paint --refine iterations
MAX_DIGITS = 256  # ram-gif / paint-mnist --digits: all in one batch and one GIF
MAX_FPS = 100.0  # GIF frames per second (viewers clamp shorter frames anyway)
PAINT_MEMORY_GIB = 8.0  # what one `glimpse paint` may hold: canvases, the strokes' windows, and the frames
FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # where an output cannot be written
BYTES_PER_STROKE_PIXEL = 24  # the fast canvas's coverage maps with their intermediates (measured peak)
WINDOW_PIXELS = 2**22  # glimpse.canvas.WINDOW_PIXELS: window pixels rendered at once
CANVAS_COPIES = 16  # float32 RGB canvases of the picture's size held at once (target, canvas, patches, steps)
PATCH_BYTES_PER_PIXEL = 600  # the coarse-to-fine patch pass: the painter on every tile at once (measured 565)


def count(value: int, option: str, low: int = 1, high: int | None = None) -> None:
    """Refuse an integer option outside [low, high]."""
    if value < low:
        raise UsageError(f"{option} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise UsageError(f"{option} must be at most {high:,}, got {value:,}")


def fps(value: float) -> None:
    if not (math.isfinite(value) and 0 < value <= MAX_FPS):
        raise UsageError(f"--fps must be a number of frames per second in (0, {MAX_FPS:g}], got {value:g}")


def seed(value: int) -> None:
    if not 0 <= value < 2**63:
        raise UsageError(f"--seed must be a non-negative integer below 2**63, got {value}")


def suffix(path: Path, option: str, suffix: str) -> None:
    if path.suffix.lower() != suffix:
        raise UsageError(f"{option} must name a {suffix} file, got {path}")


def writable(path: Path, option: str) -> None:
    """Refuse an output whose folder cannot hold it (a file on the way, or no write permission)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the nearest folder that exists
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: cannot write there, {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot write there, folder {folder} is not writable")


def refuse_overwrite(
    paths: Sequence[Path], force: bool, options: Sequence[str] | None = None, inputs: Sequence[Path] = ()
) -> None:
    """Refuse outputs before anything is written: two outputs naming one file (compared as resolved
    paths), an output that is one of the ``inputs``, a folder, an unwritable place, or an existing
    file without ``--force``. ``options`` name the outputs in messages (default ``output``)."""
    options = list(options) if options is not None else ["output"] * len(paths)
    seen: dict[Path, str] = {}
    sources = {Path(p).expanduser().resolve(): Path(p) for p in inputs}
    for path, option in zip(paths, options, strict=True):
        path = Path(path)
        real = path.expanduser().resolve()
        if real in seen:
            raise UsageError(f"{seen[real]} and {option} name the same file ({path}); give them different names")
        seen[real] = option
        if real in sources:
            raise UsageError(f"{option} {path} is the input {sources[real]}: writing it would destroy the input")
        if path.is_dir():
            raise UsageError(f"{option} {path} is a folder; name a file to write")
        writable(path, option)
        if path.exists() and not force:
            raise UsageError(f"{path} exists; pass --force to overwrite it")


def write_together(outputs: Sequence[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write every output to a temporary file beside it, then rename them all into place: the
    outputs appear together or not at all (an error leaves no file, and no temporary, behind)."""
    from glimpse.files import atomic_paths

    current = outputs[0][0]
    try:
        with atomic_paths([path for path, _ in outputs]) as temps:
            for tmp, (path, write) in zip(temps, outputs, strict=True):
                current = path
                write(tmp)
    except OSError as err:
        cannot = isinstance(err, (PermissionError, IsADirectoryError, NotADirectoryError)) or err.errno in FULL_DISK
        if not cannot:
            raise
        raise UsageError(f"cannot write {current}: {err.strerror or err}") from None


def notes(messages: Sequence[str]) -> None:
    for message in messages:
        print(f"glimpse: note: {message}", file=sys.stderr)


def frame_scale(size: int) -> int:
    """How much `glimpse paint` enlarges its GIF frames (small paintings are shown larger)."""
    return max(1, 256 // size)


def paint_memory(strokes: int, size: int, steps: int, patches: bool = False) -> None:
    """Refuse a painting whose estimated memory passes :data:`PAINT_MEMORY_GIB`: strokes are
    rendered on their windows, at most :data:`WINDOW_PIXELS` window pixels at once, beside a few
    canvases of the picture's size; with ``patches`` (coarse to fine) the painter looks at every
    tile of the picture at once; the GIF keeps every frame (one per step)."""
    side = size * frame_scale(size)
    frame = (2 * side + 12) * (side + 22) * 3 * 2  # target and canvas side by side, RGB, held twice
    windows = min(strokes * size * size, WINDOW_PIXELS) * BYTES_PER_STROKE_PIXEL
    pixels = (CANVAS_COPIES * 3 * 4 + (PATCH_BYTES_PER_PIXEL if patches else 0)) * size * size
    need = windows + pixels + strokes * 256 + (steps + 3) * frame
    if need > PAINT_MEMORY_GIB * 2**30:
        raise UsageError(
            f"--strokes {strokes} at --size {size} would need about {need / 2**30:.1f} GiB of memory "
            f"(limit {PAINT_MEMORY_GIB:g} GiB: canvases, the painter on every patch and the GIF's {steps} frames); "
            "paint fewer strokes or a smaller size"
        )
