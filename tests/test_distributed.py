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


def train(out, pics, nproc: int) -> None:
    args = ["--dataset", "folder", "--folder", str(pics), "--out", str(out), "--size", "16", "--steps", "4"]
    args += ["--strokes-per-step", "2", "--hidden", "32", "--width", "8", "--batch-size", "8", "--val-size", "4"]
    args += ["--tbptt", "2", "--epochs", "2", "--no-progress", "--threads", "1", "--device", "cpu"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    if nproc == 1:
        launch = [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([*launch, "-m", "tests.ddp_worker", *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


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
