"""The painting environments' C kernel (envs/paint_kernel.c) against the library's fast canvas."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("gymnasium")

from envs import paint_kernel
from envs.paint_env import PaintTask, to_uint8
from glimpse.canvas import paint
from glimpse.errors import UsageError


def odd_strokes(b: int, k: int, seed: int) -> torch.Tensor:
    """Random strokes (b, k, 13), the first of each env an edge case: a dot, the thinnest and the
    broadest brush, no paint at all, a corner-to-corner sweep, a radius from thinnest to broadest."""
    s = torch.rand(b, k, 13, generator=torch.Generator().manual_seed(seed))
    s[0, 0, 4:6] = s[0, 0, 0:2]
    s[1 % b, 0, 6:8] = 0.0
    s[2 % b, 0, 6:8] = 1.0
    s[3 % b, 0, 8:10] = 0.0
    s[4 % b, 0, :6] = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    s[5 % b, :, 6], s[5 % b, :, 7] = 0.0, 1.0
    return s


@pytest.mark.parametrize("size", [36, 53, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("edge", [0.2, 0.5, 2.0])
def test_kernel_paints_as_the_library(size, channels, edge):
    """Canvases as glimpse.canvas.paint's within float rounding, errors within 1e-7, uint8 within one level."""
    g = torch.Generator().manual_seed(size + channels)
    canvas, target = torch.rand(2, 6, channels, size, size, generator=g)
    strokes = odd_strokes(6, 4, seed=size)
    before = canvas.clone()
    out, observed, error = paint_kernel.paint_step(canvas, strokes, target, edge)
    ref = paint(canvas, strokes, edge=edge)
    assert torch.equal(canvas, before)
    assert (out - ref).abs().max() < 3e-5
    assert observed.dtype == torch.uint8
    assert (observed.int() - to_uint8(ref).int()).abs().max() <= 1
    torch.testing.assert_close(error, (ref - target).pow(2).mean((1, 2, 3)).double(), rtol=0, atol=1e-7)
    assert (out - before).abs().amax((1, 2, 3)).min() > 0.01  # every env got paint


def test_kernel_result_is_independent_of_batch_and_threads():
    """An environment's canvas does not depend on its neighbours or on the number of threads."""
    canvas, target = torch.rand(2, 8, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    strokes = odd_strokes(8, 10, seed=1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        both = paint_kernel.paint_step(canvas, strokes, target, 0.5)
        torch.set_num_threads(1)
        one = paint_kernel.paint_step(canvas, strokes, target, 0.5)
    finally:
        torch.set_num_threads(threads)
    alone = paint_kernel.paint_step(canvas[5:6], strokes[5:6], target[5:6], 0.5)
    for a, b, c in zip(both, one, alone, strict=True):
        assert torch.equal(a, b)
        assert torch.equal(a[5:6], c)


def test_kernel_refuses_what_it_cannot_paint():
    canvas = torch.zeros(2, 3, 40, 40)
    with pytest.raises(ValueError, match="strokes"):
        paint_kernel.paint_step(canvas, torch.rand(3, 1, 13), canvas, 0.5)
    with pytest.raises(ValueError, match="1- or 3-channel"):
        paint_kernel.paint_step(torch.zeros(2, 2, 40, 40), torch.rand(2, 1, 13), torch.zeros(2, 2, 40, 40), 0.5)
    with pytest.raises(ValueError, match=r"strokes \(B, k, 13\)"):
        paint_kernel.paint_step(canvas, torch.rand(13), canvas, 0.5)
    with pytest.raises(ValueError, match=r"canvas \(B, C, H, W\)"):
        paint_kernel.paint_step(canvas[0], torch.rand(2, 1, 13), canvas[0], 0.5)
    # the kernel reads raw pointers: a tensor anywhere but the CPU is refused, never read
    for name, args in (
        ("canvas", (canvas.to("meta"), torch.rand(2, 1, 13), canvas)),
        ("strokes", (canvas, torch.rand(2, 1, 13, device="meta"), canvas)),
        ("target", (canvas, torch.rand(2, 1, 13), canvas.to("meta"))),
    ):
        with pytest.raises(ValueError, match=f"{name} is on meta"):
            paint_kernel.paint_step(*args, 0.5)
    with pytest.raises(ValueError, match="target is on meta"):
        paint_kernel.squared_error(canvas, canvas.to("meta"))


def test_a_missing_compiler_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("GLIMPSE_CACHE", str(tmp_path / "cache"))
    paint_kernel._built.cache_clear()
    try:
        with pytest.raises(UsageError, match=r"no-such-cc.*set CC to a C compiler"):
            paint_kernel.load()
    finally:
        paint_kernel._built.cache_clear()


def test_without_a_compiler_painting_falls_back_to_eager(monkeypatch, tmp_path):
    """compile=None (the default) paints eagerly, with a warning, where the kernel cannot be built;
    compile=True refuses."""
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("GLIMPSE_CACHE", str(tmp_path / "cache"))
    paint_kernel._built.cache_clear()
    pictures = torch.rand(2, 3, 40, 40)
    try:
        with pytest.warns(UserWarning, match="painting eagerly.*no-such-cc"):
            task = PaintTask(pictures=pictures, size=40)
        assert not task.fused
        with pytest.raises(UsageError, match="no-such-cc"):
            PaintTask(pictures=pictures, size=40, compile=True)
        assert not PaintTask(pictures=pictures, size=40, compile=False).fused
    finally:
        monkeypatch.undo()
        paint_kernel._built.cache_clear()
    assert PaintTask(pictures=pictures, size=40).fused  # with a compiler, the kernel by default


def test_the_kernel_builds_once_per_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("GLIMPSE_CACHE", str(tmp_path))
    paint_kernel._built.cache_clear()
    try:
        paint_kernel.load()
        built = sorted(tmp_path.glob("paint_kernel-*.so"))
        assert len(built) == 1
        stamp = built[0].stat().st_mtime_ns
        paint_kernel._built.cache_clear()
        paint_kernel.load()
        assert built[0].stat().st_mtime_ns == stamp and sorted(tmp_path.glob("*")) == built
    finally:
        paint_kernel._built.cache_clear()
