"""torchrun: two gloo processes on the CPU train exactly what one process trains on the same batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from .conftest import REPO


def pictures(folder, n: int = 40) -> None:
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")


def launch(script: str, args: list[str], nproc: int) -> None:
    """``python -m tests.ddp_worker SCRIPT ARGS`` in ``nproc`` gloo processes (one: no torchrun)."""
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    if nproc == 1:
        run = [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [*run, "-m", "tests.ddp_worker", script, *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


def train(out, pics, nproc: int) -> None:
    args = ["--dataset", "folder", "--folder", str(pics), "--out", str(out), "--size", "16", "--steps", "4"]
    args += ["--strokes-per-step", "2", "--hidden", "32", "--width", "8", "--batch-size", "8", "--val-size", "4"]
    args += ["--tbptt", "2", "--epochs", "2", "--no-progress", "--threads", "1", "--device", "cpu"]
    launch("paint", args, nproc)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    pics = tmp_path / "pics"
    pictures(pics)
    train(tmp_path / "one", pics, 1)
    train(tmp_path / "two", pics, 2)
    rank0 = torch.load(tmp_path / "two" / "weights-rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "two" / "weights-rank1.pt", weights_only=True)
    single = torch.load(tmp_path / "one" / "weights-rank0.pt", weights_only=True)
    assert not (tmp_path / "two" / "weights-rank2.pt").exists()
    for k, v in rank0.items():
        assert torch.equal(v, rank1[k]), k  # DDP keeps the processes' weights identical
        torch.testing.assert_close(v, single[k], rtol=1e-4, atol=1e-5)  # the same updates as one process
    logs = [
        [json.loads(x) for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()] for run in ("one", "two")
    ]
    assert [r["epoch"] for r in logs[1]] == [1, 2]  # rank 0 alone writes
    for a, b in zip(*logs, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["val_mse"] == pytest.approx(b["val_mse"], rel=1e-4)


@pytest.mark.slow
def test_a_resumed_torchrun_run_ends_where_an_uninterrupted_one_does(mnist_data_root, tmp_path):
    # RAM draws its glimpse locations from each process's own random stream: a resumed run must
    # give every process its own stream back, not rank 0's
    args = ["--data-root", str(mnist_data_root), "--train-limit", "512", "--val-size", "200", "--hidden", "32"]
    args += ["--what-size", "16", "--where-size", "16", "--glimpse-out", "32", "--batch-size", "64"]
    args += ["--no-progress", "--threads", "1", "--device", "cpu"]
    args += ["--schedule", "constant", "--loc-std-final", "none"]  # so that --epochs 1 is the first epoch of 3
    launch("ram", [*args, "--epochs", "3", "--out", str(tmp_path / "straight")], 2)
    launch("ram", [*args, "--epochs", "1", "--out", str(tmp_path / "resumed")], 2)
    assert len(torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)["rng_ranks"]) == 2
    launch("ram", [*args, "--epochs", "3", "--out", str(tmp_path / "resumed"), "--resume"], 2)
    for rank in (0, 1):
        straight = torch.load(tmp_path / "straight" / f"weights-rank{rank}.pt", weights_only=True)
        resumed = torch.load(tmp_path / "resumed" / f"weights-rank{rank}.pt", weights_only=True)
        for k, v in straight.items():
            assert torch.equal(v, resumed[k]), (rank, k)
