"""Run by tests/test_distributed.py under torchrun: train.paint, then each rank saves its weights."""

from __future__ import annotations

import sys

import torch

from train import loop, paint

_run = loop._run


def _run_and_save(trainer: loop.Trainer):
    results = _run(trainer)
    torch.save(trainer.model.state_dict(), trainer.out / f"weights-rank{trainer.recipe.dist.rank}.pt")
    return results


loop._run = _run_and_save
paint.main(sys.argv[1:])
