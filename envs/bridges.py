"""Bridges: the shipped glimpse classifier and the shipped painter acting in the environments.

An agent here sees only what the environment observes and answers with the environment's actions:

- :class:`RAMAgent` feeds the glimpse observation to a RAM's glimpse network and core, looks next
  where its location policy says (its mean, or a sample) and scores classes with its classifier
  (logits divided by their largest magnitude, which keeps the top class, into [-1, 1]). Its first
  location (RAM's l_0, chosen before any glimpse) goes in ``reset(options={"start": ...})``.
- :class:`PainterAgent` feeds target and canvas (the uint8 observations, divided by 255) to a
  painter's step and lays its strokes in the painter's colours (least squares on the target when
  the painter solves colours).

:func:`ram_test_error` and :func:`painter_errors` measure both through the batched environments,
to compare with :func:`glimpse.evaluate.error_rate` and ``glimpse paint``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from glimpse.painter import Painter
from glimpse.ram import RAM

from .vector import GlimpseVectorEnv, PaintVectorEnv


def _batch(x: Any, dims: int) -> tuple[Tensor, bool]:
    """An observation part as a float tensor with a batch axis; whether it had one."""
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    return (t, True) if t.dim() == dims + 1 else (t.unsqueeze(0), False)


class RAMAgent:
    """A RAM acting in a glimpse environment (single or batched, NumPy or torch observations).

    ``policy``: ``"mean"`` looks at the policy mean (the ``mean`` protocol of
    :mod:`glimpse.evaluate`), ``"sample"`` samples locations with ``generator`` in the same order
    as ``RAM.rollout`` (the ``stochastic`` protocol). Call :meth:`start` before each reset.
    """

    def __init__(self, model: RAM, policy: str = "mean", generator: torch.Generator | None = None) -> None:
        if policy not in ("mean", "sample"):
            raise ValueError(f"policy must be 'mean' or 'sample', got {policy!r}")
        self.model, self.policy, self.generator = model.eval(), policy, generator
        self.cfg = model.cfg

    def _next(self, h: Tensor) -> Tensor:
        mean = self.model.policy(h)
        if self.policy == "mean":
            return mean
        noise = torch.randn(mean.shape, generator=self.generator, device=mean.device, dtype=mean.dtype)
        return (mean + self.model.policy.std * noise).clamp(-1.0, 1.0)

    @torch.no_grad()
    def start(self, n: int | None = None) -> np.ndarray:
        """First locations (n, 2), or (2,) for one environment (n None); resets the core's state."""
        self.state = self.model.core.initial_state(n or 1)
        loc = self._next(self.state[0][-1]).nan_to_num(0.0)
        return loc.numpy() if n is not None else loc[0].numpy()

    @torch.no_grad()
    def act(self, obs: dict[str, Any]) -> np.ndarray | Tensor:
        """Actions (n, 2 + classes): the next location and the class scores after this glimpse."""
        rho, batched = _batch(obs["glimpse"], 4)
        loc, _ = _batch(obs["location"], 1)
        step = int(_batch(obs["step"], 1)[0].reshape(-1)[0])
        g = self.model.glimpse.features(rho.float(), loc.float())
        h, self.state = self.model.core.step(g, self.state)
        logits = self.model.classifier(h)
        scores = logits / logits.abs().amax(-1, keepdim=True).clamp_min(1e-30)
        # the last step's location is not used: no draw, so the generator stays in step with RAM.rollout
        nxt = self._next(h) if step < self.cfg.glimpses - 1 else self.model.policy(h)
        action = torch.cat([nxt.nan_to_num(0.0), scores], -1)
        if not batched:
            action = action[0]
        return action if isinstance(obs["glimpse"], Tensor) else action.numpy()


def _resize(x: Tensor, size: int) -> Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="area" if x.shape[-1] > size else "bilinear")


class PainterAgent:
    """A painter acting in a painting environment whose ``strokes_per_step`` is the painter's."""

    def __init__(self, model: Painter) -> None:
        self.model, self.cfg = model.eval(), model.cfg
        self.dtype = next(model.parameters()).dtype

    def reset(self, n: int = 1) -> None:
        self.state = self.model.initial_state(n)

    @torch.no_grad()
    def act(self, obs: dict[str, Any]) -> np.ndarray | Tensor:
        """Strokes (n, k, 13) (or (k, 13) for one environment) for the observed target and canvas."""
        target, batched = _batch(obs["target"], 3)
        canvas, _ = _batch(obs["canvas"], 3)
        step = float(_batch(obs["step"], 1)[0].reshape(-1)[0])
        target = target.to(self.dtype) / 255
        canvas = canvas.to(self.dtype) / 255
        progress = target.new_full((target.shape[0],), step / self.cfg.steps)
        size = self.cfg.size
        strokes, self.state = self.model.step(_resize(target, size), _resize(canvas, size), progress, self.state)
        if self.cfg.colour == "solved":
            _, strokes = self.model.lay_solved(canvas, strokes, target)
        strokes = strokes.float()
        if not batched:
            strokes = strokes[0]
        return strokes if isinstance(obs["target"], Tensor) else strokes.numpy()


@torch.no_grad()
def ram_test_error(
    model: RAM,
    data_root: str | os.PathLike[str] | None = None,
    policy: str = "mean",
    seed: int = 0,
    batch: int = 1000,
    limit: int | None = None,
) -> float:
    """The RAM's error on MNIST's test digits, in order, measured through ``GlimpseVectorEnv``
    (``reward="correct"``: an episode's return is 1 when the last class scores are right). With
    ``policy="sample"`` and the same ``seed`` and ``batch`` it reproduces
    ``error_rate(model, test, "stochastic", seed=seed, batch_size=batch)``; ``"mean"`` the ``mean``
    protocol."""
    cfg = model.cfg
    venv = GlimpseVectorEnv(
        num_envs=batch, dataset="mnist", split="test", data_root=data_root, reward="correct",
        glimpses=cfg.glimpses, glimpse_size=cfg.glimpse_size, scales=cfg.scales,
    )  # fmt: skip
    total = len(venv.task.source.labels) if limit is None else limit
    if total % batch:
        what = f"limit {total}" if limit is not None else f"the {total} test digits (give limit=)"
        raise ValueError(f"{what} must be a multiple of batch {batch}")
    agent = RAMAgent(model, policy, torch.Generator().manual_seed(seed))
    correct = 0.0
    for lo in range(0, total, batch):
        start = agent.start(batch)
        obs, _ = venv.reset(seed=seed, options={"index": np.arange(lo, lo + batch), "start": start})
        for _ in range(cfg.glimpses):
            obs, reward, _, _, _ = venv.step(agent.act(obs))
            correct += float(reward.sum())
    return 1.0 - correct / total


@torch.no_grad()
def painter_errors(model: Painter, pictures: Tensor, strokes: int | None = None) -> np.ndarray:
    """Squared error per pixel of each picture (N, C, S, S) after the painter has painted it with
    ``strokes`` strokes (default: its own budget) through ``PaintVectorEnv``."""
    cfg = model.cfg
    strokes = strokes or cfg.strokes
    venv = PaintVectorEnv(
        num_envs=len(pictures), dataset="folder", pictures=pictures, size=pictures.shape[-1],
        channels=cfg.channels, strokes_per_step=cfg.strokes_per_step, strokes=strokes,
        mode=cfg.mode, style=cfg.style, edge=cfg.edge,
    )  # fmt: skip
    agent = PainterAgent(model)
    agent.reset(len(pictures))
    obs, _ = venv.reset(seed=0, options={"index": np.arange(len(pictures))})
    for _ in range(venv.task.steps):
        obs, _, _, _, info = venv.step(agent.act(obs))
    return np.asarray(info["error"])
