"""`glimpse paint`, `train.paint` and the picture loaders: outputs, refusals, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from glimpse.canvas import blank, paint
from glimpse.checkpoint import load_checkpoint, load_model, save_checkpoint
from glimpse.cli import main as glimpse_main
from glimpse.errors import UsageError
from glimpse.painter import Painter, PainterConfig
from glimpse.painting import map_strokes, paint_pictures, plan
from glimpse.pictures import PictureError, folder_pictures, load_picture
from train import paint as train_paint
from train.common import parse_args


@pytest.fixture
def painter_ckpt(tmp_path):
    torch.manual_seed(0)
    model = Painter(PainterConfig(size=16, steps=4, strokes_per_step=3, hidden=32, width=8))
    path = tmp_path / "painter.pt"
    save_checkpoint(path, "painter", model)
    return path


@pytest.fixture
def picture(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "pic.png"
    Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(path)
    return path


def test_paint_writes_gif_and_png_and_refuses_to_overwrite(painter_ckpt, picture, tmp_path, capsys):
    out = tmp_path / "p.gif"
    args = ["paint", str(picture), "--checkpoint", str(painter_ckpt), "--strokes", "10", "--size", "16"]
    assert glimpse_main([*args, "--out", str(out), "--outline"]) == 0
    gif = Image.open(out)
    assert gif.n_frames >= 4  # one frame per step (plus the held last frame)
    assert Image.open(tmp_path / "p.png").size == (16, 16)
    assert "10 strokes" in capsys.readouterr().out
    before = out.read_bytes()
    assert glimpse_main([*args, "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert glimpse_main([*args, "--out", str(out), "--force", "--style", "oil", "--refine", "3"]) == 0
    assert "past what it learned" not in capsys.readouterr().err
    # 4 steps of 3 strokes: 20 strokes need 7 steps, beyond the painter's training, and it says so
    args[args.index("10")] = "20"
    assert glimpse_main([*args, "--out", str(out), "--force"]) == 0
    assert "trained for 4 steps of 3 strokes; 20 strokes at 16² take 7 steps" in capsys.readouterr().err


def test_paint_bad_input_is_named(painter_ckpt, tmp_path, capsys):
    junk = tmp_path / "notes.png"
    junk.write_text("not a picture")
    assert glimpse_main(["paint", str(junk), "--checkpoint", str(painter_ckpt), "--out", str(tmp_path / "a.gif")]) == 2
    assert "notes.png: not a readable image" in capsys.readouterr().err
    assert glimpse_main(["paint", str(junk), "--strokes", "0", "--out", str(tmp_path / "b.gif")]) == 2
    assert "--strokes must be at least 1, got 0" in capsys.readouterr().err
    good = tmp_path / "good.png"
    Image.new("RGB", (30, 20)).save(good)
    args = ["paint", str(good), "--checkpoint", str(painter_ckpt), "--crop", "0", "0", "40", "10"]
    assert glimpse_main([*args, "--out", str(tmp_path / "c.gif")]) == 2
    assert "crop box (0, 0, 40, 10) is not inside its 30×20 pixels" in capsys.readouterr().err
    assert not (tmp_path / "a.gif").exists() and not (tmp_path / "a.png").exists()


def test_alpha_and_grey_pictures_become_rgb_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:4, :, :3] = 255 - 40  # top half opaque light grey, bottom half fully transparent
    rgba[:4, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match="RGBA picture converted to RGB"):
        x = load_picture(tmp_path / "a.png", 8, quiet=False)
    assert x.shape == (3, 8, 8)
    assert torch.allclose(x[:, 6], torch.ones(3, 8))  # transparent -> white
    assert torch.allclose(x[:, 1], torch.full((3, 8), 215 / 255))
    Image.fromarray(np.full((5, 5), 100, dtype=np.uint8), "L").save(tmp_path / "g.png")
    with pytest.warns(UserWarning, match="L picture"):
        assert load_picture(tmp_path / "g.png", 5, quiet=False).shape == (3, 5, 5)
    with pytest.raises(PictureError, match="size must be a positive"):
        load_picture(tmp_path / "g.png", 0)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        folder_pictures(tmp_path / "a.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no pictures"):
        folder_pictures(tmp_path / "empty")


def test_patch_strokes_land_where_the_patch_is():
    s = torch.tensor([[[0.2, 0.3, 0.5, 0.5, 0.7, 0.6, 0.5, 0.3, 0.9, 0.9, 1, 0.5, 0.2]]])
    patch = paint(blank(1, 3, 32, 32), s)
    whole = paint(blank(1, 3, 64, 64), map_strokes(s, 0.5, 0.0, 0.5))
    assert (whole[..., 0:32, 32:64] - patch).abs().max() < 1e-4
    assert whole[..., 32:, :].abs().max() < 1e-6


def test_coarse_to_fine_keeps_the_stroke_budget(painter_ckpt):
    painter = load_model(painter_ckpt, kind="painter")
    assert plan(200, 128, 64, 10) == (20, 1, 0)  # up to 2× the painter's size: one pass
    assert plan(200, 128, 64, 10, one_pass_up_to=1.0) == (12, 2, 2)  # forced coarse to fine: 2×2 patches
    assert plan(200, 192, 64, 5) == (22, 3, 2)  # 110 strokes on the whole, 2 steps on each of 3×3 patches
    assert plan(30, 64, 64, 5) == (6, 1, 0)
    x = torch.rand(2, 3, 48, 48)  # 3× the painter's 16²: 3×3 patches
    p = paint_pictures(painter, x, 50)
    assert sum(s.shape[1] for s in p.steps) == 50
    assert p.canvas.shape == (2, 3, 48, 48)


def test_coarse_to_fine_gives_every_patch_its_share(painter_ckpt):
    # a budget too small for 8 × 8 patches of 16² (3 strokes a step each): fewer, larger patches,
    # each painted, and a budget that ends within a patch step is shared evenly
    assert plan(200, 512, 64, 10) == (4, 4, 1)  # not 8 × 8, of which only 19 patches would be painted
    painter = load_model(painter_ckpt, kind="painter")
    for budget, grid in ((30, 3), (28, 2)):  # 28: 18 on the whole, then 10 of 2 × 2 × 3
        coarse, g, _ = plan(budget, 128, 16, 3)
        assert g == grid
        p = paint_pictures(painter, torch.rand(1, 3, 128, 128), budget)
        late = torch.cat([s[0] for s in p.steps[coarse:]])  # the patches' strokes
        centre = (late[:, [0, 1]] + late[:, [4, 5]]) / 2  # both ends lie in the stroke's patch
        patch = (centre[:, 0] * grid).long() + grid * (centre[:, 1] * grid).long()
        counts = torch.bincount(patch, minlength=grid * grid)
        assert counts.min() >= 1 and counts.max() - counts.min() <= 1, counts


def test_train_paint_encoder_size_defaults_to_half_the_canvas():
    def args(*argv: str) -> train_paint.Args:
        return parse_args(train_paint.Args, list(argv))

    assert args().model.encoder_size == 32  # the shipped face painter's shape: 64² canvas, encoder at 32²
    assert args().model == PainterConfig()  # the config's defaults are the training script's
    assert args("--size", "128").model.encoder_size == 64
    assert args("--size", "16").model.encoder_size == 16  # never below the encoder's smallest input
    assert args("--size", "48").model.encoder_size == 16
    assert args("--size", "64", "--encoder-size", "64").model.encoder_size == 64
    for bad in ("40", "80", "0"):  # not a multiple of 16, above --size, zero
        with pytest.raises(UsageError, match="encoder_size"):
            args("--encoder-size", bad)


def test_train_paint_folder_runs_and_resumes(tmp_path):
    rng = np.random.default_rng(1)
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(pics / f"{i:03d}.png")
    out = tmp_path / "run"
    base = ["--dataset", "folder", "--folder", str(pics), "--out", str(out), "--size", "16", "--steps", "4"]
    base += ["--strokes-per-step", "2", "--hidden", "32", "--width", "8", "--batch-size", "8", "--val-size", "4"]
    base += ["--tbptt", "2", "--no-progress", "--threads", "1"]
    train_paint.main([*base, "--epochs", "1"])
    with pytest.raises(SystemExit) as exit_:
        train_paint.main([*base, "--epochs", "2"])
    assert exit_.value.code == 2
    train_paint.main(["--out", str(out), "--resume", "--no-progress", "--epochs", "2"])  # one more epoch
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 2 and set(results["test_mse"]) == {"8"}
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_export_is_half_size_and_loads_with_no_flags(painter_ckpt, tmp_path):
    small = tmp_path / "small.pt"
    assert glimpse_main(["export", str(painter_ckpt), str(small)]) == 0
    ckpt = load_checkpoint(small)
    assert all(v.dtype == torch.float16 for v in ckpt["model"].values() if v.is_floating_point())
    a, b = load_model(painter_ckpt, kind="painter"), load_model(small, kind="painter")
    assert next(b.parameters()).dtype == torch.float32
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert (a.rollout(x).canvases[-1] - b.rollout(x).canvases[-1]).abs().max() < 0.02
    assert glimpse_main(["export", str(painter_ckpt), str(small)]) == 2


def test_export_full_keeps_float32_and_the_entries_asked_for(tmp_path):
    model = Painter(PainterConfig(size=16, steps=4, strokes_per_step=3, hidden=32, width=8))
    run = tmp_path / "last.pt"
    save_checkpoint(run, "painter", model, epoch=3, test_mse={"12": 0.5}, optimizer={"state": {}})
    full = tmp_path / "full.pt"
    assert glimpse_main(["export", str(run), str(full), "--full", "--keep"]) == 0  # keep nothing extra
    ckpt = load_checkpoint(full)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in ckpt["model"].items())  # float32, unchanged
    assert not {"epoch", "test_mse", "optimizer"} & set(ckpt)
    kept = tmp_path / "kept.pt"
    assert glimpse_main(["export", str(run), str(kept), "--keep", "epoch"]) == 0
    ckpt = load_checkpoint(kept)
    assert ckpt["epoch"] == 3 and "test_mse" not in ckpt and "optimizer" not in ckpt
    assert glimpse_main(["export", str(run), str(tmp_path / "d.pt")]) == 0  # default: the test results
    assert load_checkpoint(tmp_path / "d.pt")["test_mse"] == {"12": 0.5}


def test_paint_mnist_writes_a_grid_of_digits(mnist_data_root, tmp_path):
    from PIL import Image

    out = tmp_path / "m.gif"
    argv = ["paint-mnist", "--data-root", str(mnist_data_root), "--digits", "4", "--cols", "2", "--out", str(out)]
    assert glimpse_main(argv) == 0
    gif = Image.open(out)
    assert gif.n_frames >= 10 and gif.size[0] > gif.size[1] / 2  # the painter's steps, 2 × 2 digits


def test_shipped_painters_load():
    from glimpse.cli import shipped_checkpoint

    for kind, strokes in (("painter", 200), ("painter-30", 30), ("painter-mnist", 20)):
        path = shipped_checkpoint(kind)
        model = load_model(path, kind="painter")
        assert model.cfg.strokes == strokes


def test_the_gif_paints_with_the_painters_edge():
    from glimpse.render import paint_frames, to_rgb

    steps = list(torch.rand(2, 4, 13, generator=torch.Generator().manual_seed(0)))  # 2 steps of 4 strokes
    target = torch.rand(3, 20, 20)
    for edge in (0.5, 2.0):
        right = paint_frames(target, steps, scale=1, edge=edge)[-1][4:24, 28:48]  # the canvas beside the target
        canvas = paint(blank(1, 3, 20, 20), torch.cat(steps)[None], edge=edge)[0]
        assert np.abs(right.astype(int) - np.asarray(to_rgb(canvas, 1)).astype(int)).max() <= 1, edge
