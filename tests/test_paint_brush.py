"""The brush painter (issue 20): `--brush A` keeps every stroke at least A × as long as it is wide,
in the strokes the training paints and learns from, and `--init-from` starts it from another painter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from glimpse.checkpoint import load_model, save_checkpoint
from glimpse.errors import UsageError
from glimpse.painter import Painter, PainterConfig
from glimpse.strokes import ENDPOINTS, RADII, brush_ends, stroke_dimensions
from train import paint as train_paint
from train.common import parse_args


def test_brush_ends_draw_dabs_out_and_keep_long_strokes():
    g = torch.Generator().manual_seed(0)
    ends = 0.3 + 0.4 * torch.rand(200, 4, generator=g, dtype=torch.float64)
    ends[:20, 2:] = ends[:20, :2]  # dots
    radii = torch.rand(200, 2, generator=g, dtype=torch.float64) * 0.3
    out = brush_ends(ends, radii, 2.5)
    chord = (out[:, 2:] - out[:, :2]).norm(dim=-1)
    wide = 2 * (1 / 256 + radii.sum(-1) / 8)
    inside = ((out > 0) & (out < 1)).all(-1)  # not clamped at the canvas's edge
    assert inside.sum() > 150 and (chord[inside] >= 2.5 * wide[inside] - 1e-12).all()
    centre = (ends[:, :2] + ends[:, 2:]) / 2
    assert torch.allclose(((out[:, :2] + out[:, 2:]) / 2)[inside], centre[inside])  # the centre stays
    long = inside & ((ends[:, 2:] - ends[:, :2]).norm(dim=-1) > 10 * wide)
    assert long.any() and torch.allclose(out[long], ends[long], atol=0.02 * 0.4)  # long strokes keep their ends
    x = ends[20:25].clone().requires_grad_(True)
    r = radii[20:25].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e, q: brush_ends(e, q, 2.5), (x, r))


def ratios(model: Painter, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Length / width of the strokes a training chunk paints, and which lie inside the canvas."""
    strokes = model.rollout(x, 2).strokes.reshape(-1, 13)  # the forward train.paint's paint_chunk runs
    length, width = stroke_dimensions(strokes, x.shape[-2], x.shape[-1])
    inside = ((strokes[:, ENDPOINTS] > 0) & (strokes[:, ENDPOINTS] < 1)).all(-1)
    return length / width, inside


def test_the_training_paints_and_learns_from_brushstrokes():
    torch.manual_seed(0)
    cfg = dict(size=32, steps=4, strokes_per_step=6, hidden=32, width=8)
    x = torch.rand(4, 3, 32, 32)
    brush = Painter(PainterConfig(**cfg, brush=2.5))
    dab = Painter(PainterConfig(**cfg))
    dab.load_state_dict(brush.state_dict())  # the same weights: only the option differs
    ratio, inside = ratios(brush, x)
    assert inside.sum() > 20 and (ratio[inside] >= 2.5 - 1e-4).all()
    ratio_dab, _ = ratios(dab, x)
    assert (ratio_dab < 2.5).float().mean() > 0.5  # without the option the same painter lays dabs
    loss, *_ = train_paint.paint_chunk(brush, x, 2, None, None, 0)
    loss.backward()  # and the gradient reaches the head through the drawn-out ends
    head = brush.head.out.weight.grad
    assert torch.isfinite(head).all() and head[ENDPOINTS, :].abs().sum() > 0 and head[RADII, :].abs().sum() > 0


def test_brush_and_init_are_training_options(tmp_path, capsys):
    args = parse_args(train_paint.Args, ["--brush", "2.5"])
    assert args.model.brush == 2.5 and PainterConfig().brush == 0.0  # the shipped painters: free ends
    with pytest.raises(UsageError, match="brush"):
        parse_args(train_paint.Args, ["--brush", "-1"])
    rng = np.random.default_rng(2)
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(pics / f"{i:03d}.png")
    torch.manual_seed(0)
    shape = dict(size=16, steps=2, strokes_per_step=3, hidden=32, width=8)
    start = tmp_path / "start.pt"
    save_checkpoint(start, "painter", Painter(PainterConfig(**shape)))
    out = tmp_path / "run"
    argv = ["--dataset", "folder", "--folder", str(pics), "--out", str(out), "--size", "16", "--steps", "2"]
    argv += ["--strokes-per-step", "3", "--hidden", "32", "--width", "8", "--batch-size", "8", "--val-size", "4"]
    argv += ["--tbptt", "2", "--no-progress", "--threads", "1", "--epochs", "1", "--lr", "1e-9"]
    train_paint.main([*argv, "--brush", "2.5", "--init-from", str(start)])
    model = load_model(out / "model.pt", kind="painter")
    assert model.cfg.brush == 2.5
    before = load_model(start, kind="painter").state_dict()
    assert all(torch.allclose(model.state_dict()[k], v, atol=1e-5) for k, v in before.items())  # started from it
    with pytest.raises(SystemExit) as exit_:  # --init-from of another shape: one line, exit status 2
        train_paint.main([*argv, "--out", str(tmp_path / "other"), "--hidden", "16", "--init-from", str(start)])
    assert exit_.value.code == 2 and "--init-from" in capsys.readouterr().err
