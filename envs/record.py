"""Episode GIFs: one call records an episode of a single environment, or one episode of every
environment of a batched one as a grid (the first 16), through their ``rgb_array`` render."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from glimpse.errors import UsageError
from glimpse.render import write_gif

from .vector import env_grid

Policy = Callable[[Any], Any]


def _check_renders(env: Any) -> None:
    if getattr(env, "render_mode", None) != "rgb_array":
        raise UsageError("recording needs an environment made with render_mode='rgb_array'")


def record_episode(
    env: gym.Env,
    path: str | os.PathLike[str],
    policy: Policy | None = None,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    fps: float | None = None,
) -> Path:
    """Play one episode of ``env`` with ``policy(obs) -> action`` (random actions if None) and
    write every rendered frame (after reset and after each step) to a GIF at ``path``."""
    _check_renders(env)
    obs, _ = env.reset(seed=seed, options=options)
    frames = [env.render()]
    done = False
    while not done:
        action = env.action_space.sample() if policy is None else policy(obs)
        obs, _, terminated, truncated, _ = env.step(action)
        frames.append(env.render())
        done = terminated or truncated
    return write_gif(frames, path, fps or env.metadata.get("render_fps", 2))


def record_batch(
    venv: gym.vector.VectorEnv,
    path: str | os.PathLike[str],
    policy: Policy | None = None,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    fps: float | None = None,
) -> Path:
    """Play one episode of every environment of a batched environment (they run in lockstep) with
    ``policy(obs) -> actions`` (random if None) and write the render grids to a GIF at ``path``.
    Gymnasium's own vector environments (``SyncVectorEnv``, ``AsyncVectorEnv``) render a frame per
    environment; those are laid out in the same grid."""
    _check_renders(venv)
    obs, _ = venv.reset(seed=seed, options=options)
    frames = [_grid(venv.render())]
    done = np.zeros(venv.num_envs, dtype=bool)
    while not done.all():
        actions = venv.action_space.sample() if policy is None else policy(obs)
        obs, _, terminated, truncated, _ = venv.step(actions)
        frames.append(_grid(venv.render()))
        done |= np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
    return write_gif(frames, path, fps or venv.metadata.get("render_fps", 2))


def _grid(rendered: Any) -> np.ndarray:
    """A batched environment's render as one image: the grid it drew, or the per-environment frames
    of Gymnasium's vector environments laid out as the batched environments lay theirs."""
    return env_grid(rendered) if isinstance(rendered, (tuple, list)) else rendered
