"""Kill training at random points (SIGKILL: no clean-up runs), resume each time, and end exactly
where an uninterrupted run of the same seed ends: weights, metrics, results, no stray files."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from .conftest import REPO

TIMING = {"time", "epoch_s", "images_per_s", "wall_s", "train_wall_min"}


def launch(script: str, args: list[str]) -> subprocess.Popen:
    # unbuffered: the test reads the run's progress lines as they are printed
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", script, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def run_to_end(script: str, args: list[str]) -> float:
    """Run to completion; returns the seconds from the run's first line (training starts) to its end."""
    p = launch(script, args)
    p.stdout.readline()
    t0 = time.perf_counter()
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err.decode()[-2000:]
    return time.perf_counter() - t0


def kill_at_random(script: str, args: list[str], epoch_seconds: float, epochs_left: int, rng: random.Random) -> None:
    """Start (or resume) the run and SIGKILL it at a random moment: after a random number of the
    epochs it has left, a random part of an epoch's time later (inside training, validation or
    the writes that end an epoch)."""
    p = launch(script, args)
    p.stdout.readline()  # the run has started: options parsed, data loaded, model built
    for _ in range(rng.randrange(epochs_left)):
        p.stdout.readline()  # an epoch ended
    time.sleep(rng.uniform(0, epoch_seconds))
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)


def records(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING} for x in path.read_text().splitlines()]


def same_run(a: Path, b: Path) -> None:
    for name in ("last.pt", "best.pt", "model.pt"):
        wa = torch.load(a / name, weights_only=True)["model"]
        wb = torch.load(b / name, weights_only=True)["model"]
        assert all(torch.equal(v, wb[k]) for k, v in wa.items()), name
    assert records(a / "metrics.jsonl") == records(b / "metrics.jsonl")
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    for k in ("out", "resume"):  # where and how it was started: the rest must be equal
        ra["args"][k] = rb["args"][k]
    assert {k: v for k, v in ra.items() if k not in TIMING} == {k: v for k, v in rb.items() if k not in TIMING}
    assert sorted(p.name for p in b.iterdir()) == sorted(p.name for p in a.iterdir())  # no .tmp left


def killed_and_resumed_matches(script: str, args: list[str], epochs: int, tmp_path: Path, kills: int, seed: int) -> int:
    """The fault test itself; returns how many kills landed before the run had finished."""
    straight, faulty = tmp_path / "straight", tmp_path / "faulty"
    epoch_seconds = run_to_end(script, [*args, "--epochs", str(epochs), "--out", str(straight)]) / epochs
    rng = random.Random(seed)
    landed = 0
    for _ in range(kills):
        last = faulty / "last.pt"
        done = torch.load(last, weights_only=True)["epoch"] + 1 if last.exists() else 0
        resume = ["--resume"] if last.exists() else []
        run = [*args, "--epochs", str(epochs), "--out", str(faulty), *resume]
        kill_at_random(script, run, epoch_seconds, max(epochs - done, 1), rng)
        landed += not (faulty / "results.json").exists()
    resume = ["--resume"] if (faulty / "last.pt").exists() else []
    run_to_end(script, [*args, "--epochs", str(epochs), "--out", str(faulty), *resume])
    same_run(straight, faulty)
    return landed


def test_painter_run_survives_random_kills(tmp_path):
    pics = tmp_path / "pics"
    pics.mkdir()
    rng = np.random.default_rng(3)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(pics / f"{i:03d}.png")
    args = ["--dataset", "folder", "--folder", str(pics), "--size", "16", "--steps", "4", "--strokes-per-step", "2"]
    args += ["--hidden", "32", "--width", "8", "--batch-size", "4", "--val-size", "4", "--tbptt", "2"]
    args += ["--no-progress", "--threads", "1", "--device", "cpu"]
    assert killed_and_resumed_matches("train.paint", args, 8, tmp_path, kills=5, seed=0) >= 3


def test_ram_run_survives_random_kills(mnist_data_root, tmp_path):
    args = ["--data-root", str(mnist_data_root), "--train-limit", "1024", "--val-size", "500"]
    args += ["--hidden", "32", "--what-size", "16", "--where-size", "16", "--glimpse-out", "32", "--batch-size", "64"]
    args += ["--no-progress", "--threads", "1", "--device", "cpu"]
    assert killed_and_resumed_matches("train.ram", args, 6, tmp_path, kills=5, seed=1) >= 3


@pytest.mark.parametrize("when", ["metrics", "best"])
def test_a_kill_between_writes_logs_each_epoch_once(tmp_path, monkeypatch, when):
    """A run killed after it logged (or saved best.pt for) an epoch, but before last.pt, logs that
    epoch again when it resumes: the log keeps one line per epoch."""
    from train import loop, paint

    pics = tmp_path / "pics"
    pics.mkdir()
    rng = np.random.default_rng(3)
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(pics / f"{i:03d}.png")
    out = tmp_path / "run"
    args = ["--dataset", "folder", "--folder", str(pics), "--size", "16", "--steps", "2", "--strokes-per-step", "2"]
    args += ["--hidden", "16", "--width", "4", "--batch-size", "4", "--val-size", "4", "--tbptt", "2"]
    args += ["--epochs", "2", "--no-progress", "--threads", "1", "--out", str(out)]
    real = loop.save_checkpoint

    def dies_at_epoch_2(path, *a, **kw):
        if kw.get("epoch") == 1 and Path(path).name == ("best.pt" if when == "metrics" else "last.pt"):
            raise KeyboardInterrupt  # stands in for a kill: nothing after this write happens
        return real(path, *a, **kw)

    monkeypatch.setattr(loop, "save_checkpoint", dies_at_epoch_2)
    with pytest.raises(SystemExit):
        paint.main(args)
    monkeypatch.setattr(loop, "save_checkpoint", real)
    assert [r["epoch"] for r in records(out / "metrics.jsonl")] == [1, 2]
    paint.main([*args, "--resume"])
    assert [r["epoch"] for r in records(out / "metrics.jsonl")] == [1, 2]
