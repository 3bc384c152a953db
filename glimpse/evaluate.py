"""Evaluation protocols for glimpse classifiers, each reported by name.

- ``stochastic``: one rollout with locations sampled from the policy (what the model does when
  it runs; the protocol of the paper's tables as most public code reads it).
- ``mean``: one deterministic rollout that looks at the policy mean.
- ``average``: class probabilities averaged over ``M`` sampled rollouts (``average10`` for M=10).
- ``random``: locations drawn uniformly in [-1, 1] (for the random-glimpse control).

Sampling uses its own seeded generator, so a protocol gives the same number every time.
"""

from __future__ import annotations

import torch
from torch import Tensor

from glimpse.data import ImageSet
from glimpse.ram import RAM

PROTOCOLS = ("stochastic", "mean", "average", "random")


@torch.no_grad()
def predict(
    model: RAM,
    images: Tensor,
    protocol: str = "stochastic",
    rollouts: int = 10,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Class probabilities (B, classes) after the last glimpse under a named protocol."""
    if protocol == "stochastic":
        return model.rollout(images, "sample", generator).class_probs[-1]
    if protocol == "mean":
        return model.rollout(images, "mean").class_probs[-1]
    if protocol == "random":
        return model.rollout(images, "random", generator).class_probs[-1]
    if protocol == "average":
        if rollouts < 1:
            raise ValueError(f"rollouts must be >= 1, got {rollouts}")
        probs = sum(model.rollout(images, "sample", generator).class_probs[-1] for _ in range(rollouts))
        return probs / rollouts
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")


@torch.no_grad()
def error_rate(
    model: RAM,
    data: ImageSet,
    protocol: str = "stochastic",
    rollouts: int = 10,
    batch_size: int = 1000,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> float:
    """Fraction of ``data`` misclassified under ``protocol`` (model left in its previous mode)."""
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    wrong = 0
    for x, y in data.batches(batch_size, device=device):
        wrong += (predict(model, x, protocol, rollouts, gen).argmax(-1) != y).sum().item()
    model.train(was_training)
    return wrong / len(data)


def protocol_name(protocol: str, rollouts: int = 10) -> str:
    """The label a protocol is reported under, e.g. ``average10``."""
    return f"average{rollouts}" if protocol == "average" else protocol
