"""Rendering: one frame per glimpse, GIFs written atomically."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from glimpse.ram import RAM, RAMConfig
from glimpse.render import ram_frames, to_rgb, write_gif


def test_one_frame_per_glimpse_with_boxes(tmp_path):
    cfg = RAMConfig(height=20, width=30, channels=3, glimpses=4, glimpse_size=4, scales=2, hidden=16)
    images = torch.zeros(5, 3, 20, 30)
    rollout = RAM(cfg).rollout(images, "sample")
    frames = ram_frames(images, rollout, cfg.glimpse_size, cfg.scales, torch.zeros(5, dtype=torch.long), cols=3)
    assert len(frames) == 4
    assert all(f.shape == frames[0].shape and f.dtype == np.uint8 for f in frames)
    # The images are black: every coloured pixel is a box, a trail or a caption.
    assert (frames[0].astype(int).sum(-1) > 0).sum() > 100
    path = write_gif(frames, tmp_path / "out.gif", fps=4)
    with Image.open(path) as im:
        assert im.size == (frames[0].shape[1], frames[0].shape[0]) and im.n_frames >= 4


def test_failed_write_keeps_the_old_gif(tmp_path, monkeypatch):
    frame = np.zeros((8, 8, 3), np.uint8)
    path = write_gif([frame], tmp_path / "a.gif")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("PIL.Image.Image.save", broken)
    with pytest.raises(OSError, match="disk full"):
        write_gif([frame + 255], path)
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(ValueError, match="no frames"):
        write_gif([], path)


def test_to_rgb_checks_shape():
    assert to_rgb(torch.rand(1, 4, 5), scale=2).size == (10, 8)
    with pytest.raises(ValueError, match="image"):
        to_rgb(torch.rand(2, 4, 5))
