"""Batched tensor environments: N glimpse or painting environments stepped as one tensor operation.

``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point", device="cuda")``
returns one of these. Every environment is stepped at once by the same batched code the single
environments use (:class:`~envs.glimpse_env.GlimpseTask`, :class:`~envs.paint_env.PaintTask`), on
the CPU or a GPU; there is no Python loop over environments in ``step``.

- **Autoreset**: ``metadata["autoreset_mode"]`` is ``AutoresetMode.NEXT_STEP`` (Gymnasium's default,
  as in ``SyncVectorEnv``): the step after an environment's last one resets it, ignores its action
  and returns its first observation with reward 0 and both flags False.
- **Seeding**: ``reset(seed=s)`` gives environment i the episodes of a single environment seeded
  ``s + i`` (a list of N seeds is also accepted), so a batched environment and a ``SyncVectorEnv``
  of single ones agree step for step. Episode draws are counter-based hashes (``envs.episodes``),
  identical on every device.
- **Outputs**: NumPy arrays by default (a Dict of batched arrays; rewards float64, flags bool); with
  ``torch_obs=True`` observations, rewards and flags stay torch tensors on ``device`` (a GPU agent
  never copies to the host). Actions may be NumPy arrays or tensors.
- **Options**: ``reset(options={"index": (N,), "start": (N, 2), "reset_mask": (N,) bool})``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from PIL import Image
from torch import Tensor

from glimpse.errors import UsageError
from glimpse.render import tile_grid

from .episodes import key_for_seed, option_tensor, reset_options
from .glimpse_env import GlimpseTask, check_action_values
from .paint_env import PaintTask, to_uint8

MAX_RENDERED = 16  # environments drawn by render()


def env_grid(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Frames of environments (H, W, 3) uint8, the first ``MAX_RENDERED`` in one grid 4 wide."""
    frames = frames[:MAX_RENDERED]
    return tile_grid([Image.fromarray(np.asarray(f)) for f in frames], cols=min(len(frames), 4))


class _TensorVectorEnv(VectorEnv):
    """What both batched environments share: seeding, autoreset bookkeeping, output conversion."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}
    task_class: ClassVar[type]  # the task both the single and the batched environment run

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        torch_obs: bool = False,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        task = self.task_class(device=device, **kwargs)
        self._setup(task, num_envs, torch_obs, render_mode, self._horizon(task))

    def _horizon(self, task: Any) -> int:
        """Steps per episode."""
        raise NotImplementedError

    def _setup(self, task: Any, num_envs: int, torch_obs: bool, render_mode: str | None, horizon: int) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise UsageError(f"num_envs must be a positive integer, got {num_envs!r}")
        if render_mode is not None and render_mode != "rgb_array":
            raise UsageError(f"unknown render_mode {render_mode!r}; choose 'rgb_array' or None")
        self.task, self.num_envs, self.torch_obs, self.render_mode = task, num_envs, torch_obs, render_mode
        self.device = task.device
        self.horizon = horizon
        self.single_observation_space = task.observation_space
        self.single_action_space = task.action_space
        self.observation_space = batch_space(task.observation_space, num_envs)
        self.action_space = batch_space(task.action_space, num_envs)
        self._keys: Tensor | None = None
        self._episodes = torch.full((num_envs,), -1, dtype=torch.int64, device=self.device)
        self._t = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self._autoreset = torch.zeros(num_envs, dtype=torch.bool, device=self.device)
        self._started = False

    def _seed(self, seed: int | list[int] | None) -> None:
        if seed is None and self._keys is not None:
            return
        if seed is None:  # unseeded: a random base seed from the vector environment's generator
            seed = int(self.np_random.integers(0, 2**31))
        seeds = list(seed) if isinstance(seed, list | tuple) else [int(seed) + i for i in range(self.num_envs)]
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed must be an int or a list of {self.num_envs} ints, got {len(seeds)} seeds")
        self._keys = torch.tensor([key_for_seed(s) for s in seeds], dtype=torch.int64, device=self.device)
        self._episodes.fill_(-1)

    def _option(self, options: dict[str, Any], name: str, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor | None:
        return option_tensor(options, name, shape, dtype, self.device)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed if isinstance(seed, int) else None)
        self._seed(seed)
        options = reset_options(options, (*self.task_class.options, "reset_mask"))
        mask = self._option(options, "reset_mask", (self.num_envs,), torch.bool)
        if mask is None:
            mask = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        elif not self._started and not bool(mask.all()):
            raise ResetNeeded("the first reset() must reset every environment (no reset_mask)")
        idx = mask.nonzero().squeeze(1)
        self._begin(idx, options)
        self._started = True
        self._autoreset[idx] = False
        self._record_path(replace=len(idx) < self.num_envs)
        return self._observation(), {}

    def _next_episodes(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and (incremented) episode numbers of environments ``idx``."""
        self._episodes[idx] += 1
        self._t[idx] = 0
        return self._keys[idx], self._episodes[idx]

    def _check_started(self) -> None:
        if not self._started:
            raise ResetNeeded("call reset() before step()")

    def _record_path(self, replace: bool = False) -> None:
        pass

    def _out(self, x: Tensor) -> Tensor | np.ndarray:
        return x if self.torch_obs else x.cpu().numpy()

    def render(self) -> np.ndarray | None:
        """The first environments (up to 16) as one uint8 (H, W, 3) grid."""
        if self.render_mode is None:
            return None
        self._check_started()
        return env_grid([self._draw(i) for i in range(min(self.num_envs, MAX_RENDERED))])

    def close_extras(self, **kwargs: Any) -> None:
        self._started = False


class GlimpseVectorEnv(_TensorVectorEnv):
    """N glimpse environments in one batch; the spaces, rewards and arguments of
    :class:`envs.glimpse_env.GlimpseEnv`, plus ``num_envs``, ``device`` and ``torch_obs``
    (see the module docstring for autoreset, seeding and options)."""

    metadata: ClassVar[dict[str, Any]] = {**_TensorVectorEnv.metadata, "render_fps": 2}
    task_class = GlimpseTask

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._paths: list[Tensor] = []  # glimpse locations so far, for rendering

    def _horizon(self, task: GlimpseTask) -> int:
        return task.glimpses

    def _begin(self, idx: Tensor, options: dict[str, Any]) -> None:
        n = self.num_envs
        index = self._option(options, "index", (n,), torch.int64)
        start = self._option(options, "start", (n, 2), torch.float32)
        if start is not None:
            check_action_values(start, "options['start']")
            start = start.clamp(-1, 1)
        keys, episodes = self._next_episodes(idx)
        frames, labels, loc = self.task.new_episodes(
            keys, episodes, None if index is None else index[idx], None if start is None else start[idx]
        )
        if len(idx) == n:  # every environment (the usual case: all episodes last T steps): no copy
            self._frames, self._labels, self._loc = frames, labels, loc
            self._pred = torch.full((n,), -1, dtype=torch.int64, device=self.device)
            return
        self._frames[idx], self._labels[idx], self._loc[idx] = frames, labels, loc
        self._pred[idx] = -1

    def _record_path(self, replace: bool = False) -> None:
        """Keep the last T + 1 locations of every environment (for render only). ``replace``: a
        reset of some environments, whose path restarts at their new location; the others have not
        moved, so the last locations are replaced rather than appended to."""
        if self.render_mode is not None:
            if replace and self._paths:
                self._paths[-1] = self._loc.clone()
            else:
                self._paths = [*self._paths[-self.horizon :], self._loc.clone()]

    def step(self, actions: Any):
        self._check_started()
        loc, scores = self.task.parse(actions, self.num_envs)
        resetting = self._autoreset
        any_reset = bool(resetting.any())
        running = ~resetting
        self._t += running.long()
        final = running & (self._t == self.horizon)
        rewards = self.task.rewards(scores, self._labels, final) * running
        pred = scores.argmax(-1)
        if any_reset:
            loc = torch.where(running[:, None], loc, self._loc)
            pred = torch.where(running, pred, self._pred)
        self._loc, self._pred = loc, pred
        if any_reset:
            self._begin(resetting.nonzero().squeeze(1), {})
        self._record_path()
        self._autoreset = final
        infos: dict[str, Any] = {}
        if bool(final.any()):
            correct = (pred == self._labels) & final
            infos = {"label": self._out(self._labels), "_label": self._out(final),
                     "correct": self._out(correct), "_correct": self._out(final)}  # fmt: skip
        zeros = torch.zeros_like(final)
        return self._observation(), self._out(rewards), self._out(final), self._out(zeros), infos

    def _observation(self) -> dict[str, Tensor | np.ndarray]:
        return {
            "glimpse": self._out(self.task.look(self._frames, self._loc)),
            "location": self._out(self._loc.clone()),
            "step": self._out(self._t.float()[:, None]),
        }

    def _draw(self, i: int) -> np.ndarray:
        t = int(self._t[i])
        path = [p[i] for p in self._paths[-(t + 1) :]]
        pred = int(self._pred[i]) if t > 0 else None
        return self.task.draw(self._frames[i], path, int(self._labels[i]), pred, t)


class PaintVectorEnv(_TensorVectorEnv):
    """N painting environments in one batch; the spaces, rewards and arguments of
    :class:`envs.paint_env.PaintEnv`, plus ``num_envs``, ``device`` and ``torch_obs``
    (see the module docstring for autoreset, seeding and options)."""

    metadata: ClassVar[dict[str, Any]] = {**_TensorVectorEnv.metadata, "render_fps": 4}
    task_class = PaintTask

    def _horizon(self, task: PaintTask) -> int:
        return task.steps

    def _begin(self, idx: Tensor, options: dict[str, Any]) -> None:
        index = self._option(options, "index", (self.num_envs,), torch.int64)
        keys, episodes = self._next_episodes(idx)
        target, canvas = self.task.new_episodes(keys, episodes, None if index is None else index[idx])
        if not self._started:
            self._target = target.new_zeros((self.num_envs, *target.shape[1:]))
            self._target_u8 = torch.zeros(self._target.shape, dtype=torch.uint8, device=self.device)
            self._canvas = torch.zeros_like(self._target)
            self._canvas_u8 = torch.zeros_like(self._target_u8)
            self._error = torch.zeros(self.num_envs, dtype=torch.float64, device=self.device)
        self._target[idx], self._canvas[idx] = target, canvas
        self._target_u8[idx], self._canvas_u8[idx] = to_uint8(target), to_uint8(canvas)
        self._error[idx] = self.task.error(canvas, target)

    def step(self, actions: Any):
        self._check_started()
        strokes = self.task.parse(actions, self.num_envs)
        resetting = self._autoreset
        n_reset = int(resetting.sum())
        running = ~resetting
        # every canvas is painted (one shape for the compiled kernel); _begin below repaints the
        # resetting ones blank, and their reward is 0
        self._canvas, self._canvas_u8, error = self.task.step(self._canvas, strokes, self._target)
        self._t += running.long()
        rewards = (self._error - error) * running
        self._error = torch.where(running, error, self._error)
        final = running & (self._t == self.horizon)
        if n_reset:
            self._begin(resetting.nonzero().squeeze(1), {})
        self._autoreset = final
        infos = {"error": self._out(self._error.clone()), "_error": self._out(running)}
        zeros = torch.zeros_like(final)
        return self._observation(), self._out(rewards), self._out(final), self._out(zeros), infos

    def _observation(self) -> dict[str, Tensor | np.ndarray]:
        return {
            "target": self._out(self._target_u8.clone()),
            "canvas": self._out(self._canvas_u8.clone()),
            "step": self._out(self._t.float()[:, None]),
        }

    def _draw(self, i: int) -> np.ndarray:
        return self.task.draw(self._target[i], self._canvas[i], int(self._t[i]), float(self._error[i]))
