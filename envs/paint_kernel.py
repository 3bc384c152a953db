"""The painting environments' step on the CPU as one C kernel (``paint_kernel.c``), built with the
system's C compiler at first use and loaded with ctypes.

:func:`paint_step` lays k strokes over every canvas, in order, and returns the new canvases, their
uint8 observation and their squared error, as :func:`envs.paint_env.lay_and_score` does, without
a tensor per stroke: each stroke's stamps, coverage and compositing happen in one pass over the
pixels it can reach, environments in parallel (OpenMP, ``torch.get_num_threads()`` threads). The
maths is :mod:`glimpse.stamps`' fast, flat rasteriser (the kernel's comments name each function it
mirrors); canvases agree with :func:`glimpse.canvas.paint` within 3e-5 and the errors within 1e-7
(tests/test_paint_kernel.py).

The build: ``$CC`` (default ``cc``) with ``-O3 -march=native -ffast-math -fopenmp`` (dropping the
flags the compiler refuses), once per machine and source, into ``$GLIMPSE_CACHE`` (default
``$XDG_CACHE_HOME/glimpse``, else ``~/.cache/glimpse``), tried once per process. Where it cannot
be built (no C compiler), :func:`load` raises a :class:`UsageError` that says why.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from glimpse.canvas import LUMA
from glimpse.errors import UsageError
from glimpse.stamps import DOT, END_WEIGHT, HALF_MAX, SIGMA_MIN, SPACING, WINDOW_EDGES
from glimpse.strokes import STROKE_SIZE

SOURCE = Path(__file__).with_name("paint_kernel.c")
MAX_STAMPS = 4096  # glimpse.stamps._stamp_groups clamps the stamp count here
# the kernel's params, in its enum's order
PARAMS = (HALF_MAX, SIGMA_MIN, SPACING, END_WEIGHT, MAX_STAMPS, WINDOW_EDGES, *LUMA, DOT)
_PARAMS = torch.tensor(PARAMS, dtype=torch.float32)  # what the kernel reads
# flag sets tried in turn: the fast one, then without what some compilers refuse (Apple's clang
# has no OpenMP; some targets no -march=native)
FLAG_SETS = (
    ["-O3", "-march=native", "-ffast-math", "-fopenmp"],
    ["-O3", "-march=native", "-ffast-math"],
    ["-O3", "-ffast-math", "-fopenmp"],
    ["-O3", "-ffast-math"],
)


def cache_dir() -> Path:
    """Where built kernels are kept: ``$GLIMPSE_CACHE``, else ``$XDG_CACHE_HOME/glimpse``, else
    ``~/.cache/glimpse``."""
    root = os.environ.get("GLIMPSE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "glimpse"
    )
    return Path(root)


def _build(compiler: str, flags: list[str], out: Path) -> str | None:
    """Compile and link the kernel to ``out``; None on success, else the compiler's complaint.

    -ffast-math is given when compiling, not when linking: linked into a shared library it would
    switch the whole process to flushing denormals (the kernel does that itself, in its own threads)."""
    openmp = ["-fopenmp"] if "-fopenmp" in flags else []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:  # beside out, so that the rename is atomic
            obj, lib = Path(tmp) / "paint_kernel.o", Path(tmp) / out.name
            for cmd in (
                [compiler, *flags, "-fPIC", "-c", str(SOURCE), "-o", str(obj)],
                [compiler, "-shared", *openmp, str(obj), "-o", str(lib), "-lm"],
            ):
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    said = (done.stderr or done.stdout).strip().splitlines()
                    return " / ".join(said[-2:]) if said else f"exit status {done.returncode}"
            os.replace(lib, out)  # concurrent builds each leave a whole file
    except OSError as e:  # no such compiler, or a cache folder that cannot be written
        return f"{e.filename or compiler}: {e.strerror}"
    return None


@functools.cache
def _built() -> ctypes.CDLL | str:
    """The built kernel (built first if this machine has none for this source), or why it could
    not be built; kept either way, so that a machine without a compiler tries once per process."""
    compiler = os.environ.get("CC", "cc")
    source = SOURCE.read_bytes()
    complaints = []
    for flags in FLAG_SETS:
        # -march=native code belongs to this machine: its name is in the key
        key = f"{compiler}|{' '.join(flags)}|{platform.node()}|{platform.machine()}".encode()
        out = cache_dir() / f"paint_kernel-{hashlib.sha256(source + key).hexdigest()[:16]}.so"
        complaint = None if out.exists() else _build(compiler, flags, out)
        if complaint is None:
            lib = ctypes.CDLL(str(out))
            fn = lib.glimpse_paint_step
            fn.argtypes = [ctypes.c_int] * 5 + [ctypes.c_void_p] * 2 + [ctypes.c_float] + [ctypes.c_void_p] * 4
            fn.argtypes += [ctypes.c_int]
            fn.restype = ctypes.c_int
            err = lib.glimpse_squared_error
            err.argtypes = [ctypes.c_int, ctypes.c_size_t] + [ctypes.c_void_p] * 3
            err.restype = None
            return lib
        complaints.append((" ".join(flags), complaint))
    said = {c for _, c in complaints}
    why = said.pop() if len(said) == 1 else "; ".join(f"{f}: {c}" for f, c in complaints)
    return f"building the painting kernel with {compiler!r} failed (set CC to a C compiler): {why}"


def load() -> ctypes.CDLL:
    """The built kernel; a :class:`UsageError` that says why when this machine cannot build it."""
    built = _built()
    if isinstance(built, str):
        raise UsageError(built)
    return built


def _on_the_cpu(**tensors: Tensor) -> None:
    """The kernel reads raw pointers: refuse any tensor that is not in the CPU's memory."""
    for name, x in tensors.items():
        if x.device.type != "cpu":
            raise ValueError(f"the C kernel works on the CPU; {name} is on {x.device}")


def paint_step(canvas: Tensor, strokes: Tensor, target: Tensor, edge: float) -> tuple[Tensor, Tensor, Tensor]:
    """Lay strokes (B, k, 13) in [0, 1] over canvases (B, C, H, W) in order, on the CPU.

    returns: the new canvases (B, C, H, W), their uint8 copy (rounded) and the squared error per
    pixel to ``target`` (B,) float64; ``canvas`` itself is not changed
    """
    _on_the_cpu(canvas=canvas, strokes=strokes, target=target)
    if canvas.dim() != 4 or strokes.dim() != 3:
        raise ValueError(f"expected canvas (B, C, H, W) and strokes (B, k, 13); got {tuple(canvas.shape)} "
                         f"and {tuple(strokes.shape)}")  # fmt: skip
    b, c, h, w = canvas.shape
    if strokes.shape != (b, strokes.shape[1], STROKE_SIZE) or target.shape != canvas.shape:
        raise ValueError(f"expected strokes (B, k, 13) and target {tuple(canvas.shape)}; got "
                         f"{tuple(strokes.shape)} and {tuple(target.shape)}")  # fmt: skip
    if c not in (1, 3):
        raise ValueError(f"the C kernel paints 1- or 3-channel canvases, got {tuple(canvas.shape)}")
    out = canvas.detach().to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    strokes = strokes.detach().float().contiguous()
    target = target.detach().float().contiguous()
    observed = torch.empty(out.shape, dtype=torch.uint8)
    error = torch.empty(b, dtype=torch.float64)
    threads = max(1, min(torch.get_num_threads(), b))
    failed = load().glimpse_paint_step(
        b, c, h, w, strokes.shape[1], strokes.data_ptr(), _PARAMS.data_ptr(), float(edge),
        target.data_ptr(), out.data_ptr(), observed.data_ptr(), error.data_ptr(), threads,
    )  # fmt: skip
    if failed:
        raise MemoryError(f"the paint kernel ran out of memory for strokes on {h}×{w} canvases")
    return out, observed, error


def squared_error(canvas: Tensor, target: Tensor) -> Tensor:
    """The squared error per pixel of canvases (B, C, H, W) to ``target``, (B,) float64, computed
    as :func:`paint_step` computes it (an unchanged canvas has exactly the same error)."""
    _on_the_cpu(canvas=canvas, target=target)
    if target.shape != canvas.shape or canvas.dim() == 0:
        raise ValueError(f"expected canvas and target of one shape (B, ...), got {tuple(canvas.shape)} "
                         f"and {tuple(target.shape)}")  # fmt: skip
    canvas, target = canvas.detach().float().contiguous(), target.detach().float().contiguous()
    error = torch.empty(canvas.shape[0], dtype=torch.float64)
    load().glimpse_squared_error(canvas.shape[0], math.prod(canvas.shape[1:]),
                                 canvas.data_ptr(), target.data_ptr(), error.data_ptr())  # fmt: skip
    return error
