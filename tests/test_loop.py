"""The shared training loop: where a resumed run writes, which options it may change, bad options,
divergence, and what a killed write leaves behind."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from glimpse.checkpoint import load_checkpoint
from train import paint, ram
from train.common import parse_args
from train.loop import Objective


@pytest.fixture
def pics(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def tiny(pics, out, *extra: str) -> list[str]:
    args = ["--dataset", "folder", "--folder", str(pics), "--size", "16", "--steps", "2", "--strokes-per-step", "2"]
    args += ["--hidden", "16", "--width", "4", "--batch-size", "4", "--val-size", "4", "--tbptt", "2"]
    return [*args, "--no-progress", "--threads", "1", "--out", str(out), *extra]


def fails_with(capsys, argv: list[str], *words: str, main=paint.main) -> str:
    """The run stops with exit status 2 and one line that holds every word."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2, err
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    return err


def test_a_moved_run_resumes_where_it_is_now(pics, tmp_path):
    paint.main(tiny(pics, tmp_path / "a", "--epochs", "1"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a").iterdir()}
    paint.main(["--out", str(tmp_path / "b"), "--resume", "--epochs", "2", "--no-progress"])
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a").iterdir()} == before  # the original is untouched
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 1
    assert json.loads((tmp_path / "b" / "results.json").read_text())["epochs"] == 2


def test_a_painter_run_saved_with_the_old_init_option_resumes(pics, tmp_path):
    import torch

    out = tmp_path / "run"
    paint.main(tiny(pics, out, "--epochs", "1"))
    last = torch.load(out / "last.pt", weights_only=True)
    last["args"]["init"] = None  # train.paint's --init, folded into --init-from on 2026-12-01
    torch.save(last, out / "last.pt")
    paint.main(["--out", str(out), "--resume", "--epochs", "2", "--no-progress", "--threads", "1"])
    assert load_checkpoint(out / "last.pt")["epoch"] == 1


def test_resume_names_the_options_it_cannot_change(pics, tmp_path, capsys):
    out = tmp_path / "run"
    paint.main(tiny(pics, out, "--epochs", "1"))
    fails_with(capsys, ["--out", str(out), "--resume", "--lr", "0.01"], "--lr 0.01", "0.001", "--epochs")
    fails_with(capsys, ["--out", str(out), "--resume", "--hidden", "32"], "--hidden 32", "16")
    fails_with(capsys, ["--out", str(out), "--resume", "--epochs", "0"], "--epochs")
    # the same value as before is no change; more epochs are allowed
    paint.main(["--out", str(out), "--resume", "--lr", "0.001", "--epochs", "2", "--no-progress", "--threads", "1"])
    assert load_checkpoint(out / "last.pt")["args"]["epochs"] == 2
    fails_with(capsys, [*tiny(pics, out), "--epochs", "3"], "last.pt exists", "--resume")
    fails_with(capsys, ["--out", str(tmp_path / "none"), "--resume"], "does not exist")


def test_ram_resume_may_change_the_sigma_schedule():
    a = parse_args(ram.Args, ["--loc-std-final", "0.05", "--anneal-from", "0.5"])
    assert (a.loc_std_final, a.anneal_from) == (0.05, 0.5)
    assert {"epochs", "loc_std_final", "anneal_from"} <= ram.RAMRecipe.resumable
    assert not {"lr", "glimpses", "hidden", "reward"} & ram.RAMRecipe.resumable


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--train-limit", "0", ["--train-limit must be >= 1"]),
        ("--train-limit", "-5", ["--train-limit must be >= 1"]),
        ("--train-limit", "3", ["3 training pictures", "--batch-size 4"]),
        ("--lr", "inf", ["--lr must be a finite number"]),
        ("--lr", "nan", ["--lr must be a finite number"]),
        ("--lr", "-1", ["--lr must be a finite number"]),
        ("--epochs", "0", ["--epochs must be >= 1"]),
        ("--batch-size", "0", ["--batch-size must be >= 1"]),
        ("--size", "20", ["size must be a multiple of 16"]),
        ("--channels", "2", ["channels must be 1 or 3"]),
        ("--clip", "0", ["--clip"]),
        ("--device", "tpu", ["--device must be"]),
        ("--edge", "nan", ["edge"]),
        ("--val-size", "22", ["--val-size 22", "22 training pictures", "last tenth"]),
    ],
)
def test_bad_options_stop_with_one_line(pics, tmp_path, capsys, flag, value, words):
    fails_with(capsys, [*tiny(pics, tmp_path / "run", "--epochs", "1"), flag, value], *words)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_ram_bad_options_stop_with_one_line(tmp_path, capsys):
    out = ["--out", str(tmp_path / "r")]
    fails_with(capsys, [*out, "--loc-std-final", "0.5"], "--loc-std-final", main=ram.main)
    fails_with(capsys, [*out, "--glimpses", "0"], "glimpses", main=ram.main)
    fails_with(capsys, [*out, "--loc-std", "inf"], "loc_std", main=ram.main)
    teacher = ["--dataset", "translated", "--oracle-glimpses", "0.1", "--augment-shift", "3"]
    fails_with(capsys, [*out, *teacher], "--oracle-glimpses", "--augment-shift 0", main=ram.main)


def test_fewer_training_images_than_one_batch_is_refused(mnist_data_root, tmp_path, capsys):
    from train import draw

    for main in (ram.main, draw.main):
        argv = ["--data-root", str(mnist_data_root), "--train-limit", "10", "--batch-size", "64"]
        fails_with(capsys, [*argv, "--out", str(tmp_path / "r"), "--threads", "1"], "10 training digits", main=main)
        assert not (tmp_path / "r" / "last.pt").exists()


def test_a_ram_run_from_trained_weights_uses_its_own_sigma(mnist_data_root, tmp_path):
    from glimpse.checkpoint import load_model, save_checkpoint
    from glimpse.ram import RAM, RAMConfig

    shape = dict(hidden=32, what_size=16, where_size=16, glimpse_out=32)
    source = RAM(RAMConfig(**shape, loc_std=0.1))
    source.policy.set_std(0.01)  # where a source run's σ schedule ended
    save_checkpoint(tmp_path / "source.pt", "ram", source)
    argv = ["--data-root", str(mnist_data_root), "--train-limit", "128", "--val-size", "100", "--epochs", "1"]
    argv += ["--hidden", "32", "--what-size", "16", "--where-size", "16", "--glimpse-out", "32", "--lr", "1e-12"]
    argv += ["--init-from", str(tmp_path / "source.pt"), "--loc-std", "0.2", "--loc-std-final", "none"]
    ram.main([*argv, "--out", str(tmp_path / "run"), "--threads", "1", "--no-progress"])
    assert float(load_model(tmp_path / "run" / "model.pt", kind="ram").policy.std) == pytest.approx(0.2)


def test_a_diverging_run_stops_and_keeps_its_last_good_checkpoint(pics, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    paint.main(tiny(pics, out, "--epochs", "1"))
    good = load_checkpoint(out / "last.pt")
    real = paint.paint_loss

    def poisoned(*args, **kw):  # the loss turns NaN in the second epoch
        loss, per_step = real(*args, **kw)
        return loss * float("nan"), per_step

    monkeypatch.setattr(paint, "paint_loss", poisoned)
    with pytest.raises(SystemExit) as stop:
        paint.main(["--out", str(out), "--resume", "--epochs", "2", "--no-progress"])
    assert "non-finite at epoch 2, optimiser step 1" in str(stop.value.code)
    kept = load_checkpoint(out / "last.pt")
    assert kept["epoch"] == 0 and all(torch.equal(v, kept["model"][k]) for k, v in good["model"].items())
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1]


def test_a_new_run_clears_what_a_killed_one_left(pics, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "loss": 9.0}) + "\n")  # killed before last.pt
    (out / ".last.k2x_9ab1.pt.tmp").write_bytes(b"half a checkpoint")  # killed inside an atomic write
    paint.main(tiny(pics, out, "--epochs", "1"))
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    assert [json.loads(x)["loss"] != 9.0 for x in (out / "metrics.jsonl").read_text().splitlines()] == [True]


def test_init_from_starts_a_new_run_from_trained_weights(pics, tmp_path):
    paint.main(tiny(pics, tmp_path / "a", "--epochs", "1"))
    source = load_checkpoint(tmp_path / "a" / "model.pt")["model"]
    # a learning rate this small leaves the loaded weights where they were (Adam moves each by ~lr)
    paint.main(
        tiny(pics, tmp_path / "b", "--epochs", "1", "--lr", "1e-12", "--init-from", str(tmp_path / "a" / "model.pt"))
    )
    paint.main(tiny(pics, tmp_path / "c", "--epochs", "1", "--lr", "1e-12", "--seed", "1"))
    started = load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    fresh = load_checkpoint(tmp_path / "c" / "last.pt")["model"]
    assert all(torch.allclose(started[k], v, atol=1e-8) for k, v in source.items())
    assert not all(torch.allclose(fresh[k], v, atol=1e-3) for k, v in source.items())


def test_init_from_names_a_model_that_does_not_fit(pics, tmp_path, capsys):
    paint.main(tiny(pics, tmp_path / "a", "--epochs", "1"))
    model = str(tmp_path / "a" / "model.pt")
    fails_with(capsys, tiny(pics, tmp_path / "b", "--hidden", "32", "--init-from", model), "--init-from", "(32", "(16")
    fails_with(
        capsys, tiny(pics, tmp_path / "c", "--init-from", str(tmp_path / "nothing.pt")), "--init-from", "nothing.pt"
    )


def test_objective_runs_under_bfloat16_autocast_only_with_amp():
    model, x = torch.nn.Linear(4, 3), torch.randn(2, 4)
    assert Objective(model, lambda m, v: m(v))(x).dtype == torch.float32
    out = Objective(model, lambda m, v: m(v), amp=True)(x)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert model.weight.dtype == model.weight.grad.dtype == torch.float32


def test_amp_run_trains_like_float32_and_keeps_float32_weights(pics, tmp_path):
    paint.main(tiny(pics, tmp_path / "f32", "--epochs", "2"))
    paint.main(tiny(pics, tmp_path / "bf16", "--epochs", "2", "--amp"))
    ckpt = load_checkpoint(tmp_path / "bf16" / "last.pt")
    assert ckpt["args"]["amp"] is True and all(v.dtype == torch.float32 for v in ckpt["model"].values())
    f32, bf16 = ((tmp_path / r / "metrics.jsonl").read_text().splitlines() for r in ("f32", "bf16"))
    # the same run, matrix products rounded to bfloat16: validation within 5 %
    for a, b in zip(map(json.loads, f32), map(json.loads, bf16), strict=True):
        assert b["val_mse"] == pytest.approx(a["val_mse"], rel=0.05)
