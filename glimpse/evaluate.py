"""Evaluation: named protocols for glimpse classifiers, and the painting error for painters.

- ``stochastic``: one rollout with locations sampled from the policy (what the model does when
  it runs; the protocol of the paper's tables as most public code reads it).
- ``mean``: one deterministic rollout that looks at the policy mean.
- ``average``: class probabilities averaged over ``M`` sampled rollouts (``average10`` for M=10).
- ``random``: locations drawn uniformly in [-1, 1] (for the random-glimpse control).

Sampling uses its own seeded generator, so a protocol gives the same number every time.

The protocols collapse for models with less to sample: a deterministic rollout (the soft-attention
classifier, ``model.deterministic``) gives its ``mean`` rollout under ``stochastic`` and
``average``, and still has ``random`` (its windows at uniform centres); a model without a rollout
(the CNN baseline) gives its one prediction under every protocol but ``random``, which it refuses.

Painters are measured by :func:`painting_error`: the squared error per pixel after the first n
strokes, averaged over pictures; DRAW by :func:`variational_bound`, in nats per image.
"""

from __future__ import annotations

import torch
from torch import Tensor

from glimpse.cnn import CNN
from glimpse.data import ImageSet
from glimpse.draw import DRAW
from glimpse.painter import Painter, mse_by_strokes, stroke_sequence
from glimpse.ram import RAM
from glimpse.soft import SoftAttention

PROTOCOLS = ("stochastic", "mean", "average", "random")
Classifier = RAM | SoftAttention | CNN


def has_glimpses(model: Classifier) -> bool:
    """Whether a classifier takes glimpses (has a rollout) rather than seeing the whole image."""
    return hasattr(model, "rollout")


def is_deterministic(model: Classifier) -> bool:
    """Whether a classifier's prediction involves no sampling (its sampled protocols are its mean)."""
    return not has_glimpses(model) or bool(getattr(model, "deterministic", False))


@torch.no_grad()
def predict(
    model: Classifier,
    images: Tensor,
    protocol: str = "stochastic",
    rollouts: int = 10,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Class probabilities (B, classes) after the last glimpse under a named protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    if protocol == "average" and rollouts < 1:
        raise ValueError(f"rollouts must be >= 1, got {rollouts}")
    if not has_glimpses(model):  # sees the whole image: one prediction
        if protocol == "random":
            raise ValueError(f"{type(model).__name__} takes no glimpses, so it has no locations to randomise")
        return model(images).softmax(-1)
    if is_deterministic(model) and protocol in ("stochastic", "average"):
        protocol = "mean"
    if protocol == "stochastic":
        return model.rollout(images, "sample", generator).class_probs[-1]
    if protocol == "mean":  # the generator serves the random-glimpse control, which ignores its policy
        return model.rollout(images, "mean", generator).class_probs[-1]
    if protocol == "random":
        return model.rollout(images, "random", generator).class_probs[-1]
    probs = sum(model.rollout(images, "sample", generator).class_probs[-1] for _ in range(rollouts))  # average
    return probs / rollouts


@torch.no_grad()
def error_rate(
    model: Classifier,
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


def all_protocols(
    model: Classifier, data: ImageSet, rollouts: int = 10, device: torch.device | str = "cpu", seed: int = 0
) -> dict[str, float]:
    """Error rates under every protocol, keyed by the names they are reported under
    (``stochastic``, ``mean``, ``average10``, and ``random_locations`` unless the model is the
    random-glimpse control). A deterministic rollout is measured once and reported under
    ``stochastic``, ``mean`` and ``average10`` alike; a model without glimpses (the CNN) under
    ``stochastic`` and ``mean`` only."""
    if not has_glimpses(model):
        error = error_rate(model, data, "mean", device=device)
        return {"stochastic": error, "mean": error}
    if is_deterministic(model):
        error = error_rate(model, data, "mean", device=device)
        out = {"stochastic": error, "mean": error, protocol_name("average", rollouts): error}
    else:
        out = {
            "stochastic": error_rate(model, data, "stochastic", device=device, seed=seed),
            "mean": error_rate(model, data, "mean", device=device, seed=seed),
            protocol_name("average", rollouts): error_rate(model, data, "average", rollouts, device=device, seed=seed),
        }
    if not getattr(model.cfg, "random_glimpses", False):  # the trained model, but looking at random places
        out["random_locations"] = error_rate(model, data, "random", device=device, seed=seed)
    return out


@torch.no_grad()
def painting_error(
    model: Painter,
    data: ImageSet,
    counts: list[int] | tuple[int, ...],
    device: torch.device | str = "cpu",
    batch_size: int = 100,
) -> dict[int, float]:
    """Mean squared error per pixel after each stroke count in ``counts`` (those up to the
    painter's total; its total if none is), over ``data`` (model left in its previous mode)."""
    was_training = model.training
    model.eval()
    cfg = model.cfg
    counts = [c for c in counts if c <= cfg.strokes] or [cfg.strokes]
    sums = dict.fromkeys(counts, 0.0)
    for x, _ in data.batches(batch_size, device=device):
        strokes = stroke_sequence(model.rollout(x))
        for c, err in mse_by_strokes(strokes, x, counts, cfg.mode, cfg.style, cfg.edge, cfg.background).items():
            sums[c] += err.sum().item()
    model.train(was_training)
    return {c: s / len(data) for c, s in sums.items()}


@torch.no_grad()
def variational_bound(
    model: DRAW, data: ImageSet, device: torch.device | str = "cpu", seed: int = 0, batch_size: int = 500
) -> dict[str, float]:
    """Mean negative variational bound and its parts (nats per image) over a fixed binary set, one
    posterior sample per image from a seeded generator (the same noise every time)."""
    was_training = model.training
    model.eval()
    g = torch.Generator(device=device).manual_seed(seed)
    sums = torch.zeros(3, dtype=torch.float64)
    for x, _ in data.batches(batch_size, device=device):
        sums += torch.stack([v.sum() for v in model.loss(x, generator=g, reduce=False)]).double().cpu()
    model.train(was_training)
    total, rec, kl = (sums / len(data)).tolist()
    return {"bound": total, "reconstruction": rec, "kl": kl}
