"""Run by tests/test_distributed.py under torchrun: ``python -m tests.ddp_worker paint|ram ARGS``
trains with train.paint or train.ram, then each rank saves its weights."""

from __future__ import annotations

import sys

import torch

from train import loop, paint, ram

_run = loop._run


def _run_and_save(trainer: loop.Trainer):
    results = _run(trainer)
    torch.save(trainer.model.state_dict(), trainer.out / f"weights-rank{trainer.recipe.dist.rank}.pt")
    return results


loop._run = _run_and_save
{"paint": paint, "ram": ram}[sys.argv[1]].main(sys.argv[2:])
