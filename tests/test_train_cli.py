"""Entry points: a short real-MNIST run, resume after an interruption, and the GIF command."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import pytest
import torch
from PIL import Image

from glimpse.checkpoint import load_checkpoint
from glimpse.cli import main as glimpse_main
from glimpse.cli import shipped_checkpoint
from train import loop
from train import ram as train_ram

from .conftest import REPO


def run(root, out, *extra: str) -> None:
    train_ram.main(
        [
            "--data-root",
            str(root),
            "--out",
            str(out),
            "--no-progress",
            "--threads",
            "1",
            "--train-limit",
            "10000",
            "--val-size",
            "1000",
            *extra,
        ]
    )


def test_short_run_learns_and_resume_continues_exactly(mnist_data_root, tmp_path, monkeypatch, capsys):
    run(mnist_data_root, tmp_path / "straight", "--epochs", "2")
    results = json.loads((tmp_path / "straight" / "results.json").read_text())
    for protocol in ("stochastic", "mean", "average10", "random_locations"):
        assert protocol in results["test"]
    assert results["test"]["mean"] < 0.5, results["test"]  # chance is 0.9

    # Interrupt the same run during its second epoch; --resume must end with the same weights.
    calls = {"n": 0}
    train_epoch = loop.Trainer.train_epoch

    def interrupted(self, epoch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return train_epoch(self, epoch)

    monkeypatch.setattr(loop.Trainer, "train_epoch", interrupted)
    with pytest.raises(SystemExit, match="interrupted during epoch 2; epoch 1 is saved"):
        run(mnist_data_root, tmp_path / "resumed", "--epochs", "2")
    monkeypatch.setattr(loop.Trainer, "train_epoch", train_epoch)
    with pytest.raises(SystemExit) as exit_:
        run(mnist_data_root, tmp_path / "resumed", "--epochs", "2")
    assert exit_.value.code == 2 and "--resume" in capsys.readouterr().err
    run(mnist_data_root, tmp_path / "resumed", "--resume")
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert a["epoch"] == b["epoch"] == 1
    for k, v in a["model"].items():
        torch.testing.assert_close(v, b["model"][k])
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


def test_resume_without_a_run_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        train_ram.main(["--out", str(tmp_path), "--resume"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "last.pt does not exist" in err and len(err.strip().splitlines()) == 1


def test_train_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "train.ram", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "--data-root" in out.stdout and "--resume" in out.stdout
    assert out.stdout.startswith("usage: python -m train.ram ")
    # the docstring's example commands keep their own lines
    assert "\n    python -m train.ram --resume --out runs/ram-mnist     # continue an interrupted run\n" in out.stdout


def test_gif_from_the_shipped_checkpoint(mnist_data_root, tmp_path, capsys):
    gif = tmp_path / "ram.gif"
    args = ["ram-gif", "--data-root", str(mnist_data_root), "--out", str(gif), "--digits", "3"]
    assert glimpse_main(args) == 0
    steps = load_checkpoint(shipped_checkpoint("ram"))["config"]["glimpses"]
    with Image.open(gif) as im:
        assert im.n_frames >= steps and im.size[0] > 3 * 28
    assert glimpse_main(args) == 2 and "--force" in capsys.readouterr().err
    assert glimpse_main([*args, "--force"]) == 0


def test_gif_command_names_a_bad_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert glimpse_main(["ram-gif", "--checkpoint", str(bad), "--out", str(tmp_path / "x.gif")]) == 2
    assert "truncated or not a glimpse checkpoint" in capsys.readouterr().err


def test_compiled_loss_matches_eager(monkeypatch):
    """--compile runs the same rollout and loss: equal losses and gradients for the same draws."""
    import torch._inductor.config as inductor

    from glimpse.ram import RAM, RAMConfig

    monkeypatch.setattr(inductor, "fallback_random", True)  # compiled randn draws eager's numbers
    torch.manual_seed(0)
    model = RAM(RAMConfig(hidden=32, what_size=16, where_size=16, glimpse_out=32, glimpses=3))
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    results = []
    for compiled in (False, True):
        loss_fn = train_ram.loss_function(train_ram.Args(compile=compiled, reward="log_prob"))
        torch.manual_seed(1)
        losses = loss_fn(model, x, y)
        model.zero_grad()
        losses.total.backward()
        results.append((losses, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (eager, eager_grads), (comp, comp_grads) = results
    for a, b in zip(eager, comp, strict=True):
        torch.testing.assert_close(a, b)
    assert len(eager_grads) == len(comp_grads) > 0
    for a, b in zip(eager_grads, comp_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_sigma_anneal_holds_then_falls_to_its_final_value():
    std = train_ram.annealed_std
    assert std(0.0, 0.1, 0.02, 0.8) == std(0.8, 0.1, 0.02, 0.8) == pytest.approx(0.1)
    assert std(1.0, 0.1, 0.02, 0.8) == pytest.approx(0.02)
    assert std(0.9, 0.1, 0.02, 0.8) == pytest.approx(0.06)  # halfway through the fall
    falling = [std(p / 100, 0.1, 0.02, 0.5) for p in range(101)]
    assert all(a >= b for a, b in itertools.pairwise(falling))
    for p in (0.0, 0.25, 0.7):  # from the start it is the cosine learning-rate factor
        assert std(p, 1.0, 0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * p)))
