"""The painting environment: paint a target with a budget of brushstrokes on the library's canvas.

:class:`PaintTask` holds what the single and the batched environment share (spaces, pictures,
episode draws, action checks, painting, rewards, drawing) as batched tensor code;
:class:`PaintEnv` is the single Gymnasium environment on top of it (a batch of one).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from PIL import Image, ImageDraw
from torch import Tensor

from glimpse.canvas import blank, paint, stroke_colour
from glimpse.coverage import tube_coverage
from glimpse.errors import UsageError
from glimpse.render import to_rgb
from glimpse.stamps import fast_fields
from glimpse.strokes import MODES, STROKE_SIZE, STYLES

from .episodes import episode_uniforms, key_from, option_tensor, reset_options, uniform_ints
from .glimpse_env import check_action_values
from .paint_kernel import load as load_kernel
from .paint_kernel import paint_step
from .paint_kernel import squared_error as kernel_error
from .sources import check_choice, picture_source

MIN_SIDE = 36  # Stable-Baselines3's CNN needs images of at least 36×36
CPU_BLOCK = 160  # strokes painted at once on the CPU (see PaintTask.paint)


def to_uint8(x: Tensor) -> Tensor:
    """Float pictures in [0, 1] -> uint8 (rounded)."""
    return x.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def squared_error(canvas: Tensor, target: Tensor) -> Tensor:
    """Squared error per pixel (B,) float64 of canvases (B, C, S, S) to their targets."""
    return (canvas - target).pow(2).mean(dim=(1, 2, 3)).double()


def lay_and_score(
    canvas: Tensor,
    target: Tensor,
    density: Tensor,
    tfield: Tensor,
    ends: Tensor,
    row: Tensor,
    colour: Tensor,
    edge: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """One environment step of the fast flat canvas from its strokes' stamp fields
    (:func:`glimpse.stamps.fast_fields`): coverage, compositing "over", the error and the uint8
    observation, which torch.compile fuses into one loop over the pixels (no coverage is stored).
    ``compile=True`` uses it on a GPU; on the CPU :mod:`envs.paint_kernel` does the same in C.

    canvas, target: (B, C, S, S);  density, tfield: (B·k, S, S) and ends (B·k, 4) in any row
    order;  row: (B, k) the row of each env's strokes;  colour: (B, k, C)
    returns: canvas (B, C, S, S), its uint8 copy, squared error per pixel (B,) float64
    """
    for s in range(row.shape[1]):
        r = row[:, s]
        alpha = tube_coverage(density[r], tfield[r], ends[r], edge)  # (B, S, S)
        canvas = canvas + alpha[:, None] * (colour[:, s, :, None, None] - canvas)
    return canvas, to_uint8(canvas), squared_error(canvas, target)


_lay_and_score_compiled = torch.compile(lay_and_score, dynamic=False)


class PaintTask:
    """Everything of the painting task that a single and a batched environment share."""

    options: ClassVar[tuple[str, ...]] = ("index",)  # what reset(options=...) may choose

    def __init__(
        self,
        dataset: str = "celeba",
        split: str = "train",
        data_root: str | os.PathLike[str] | None = None,
        size: int = 64,
        channels: int = 3,
        strokes_per_step: int = 10,
        strokes: int = 200,
        mode: str = "fast",
        style: str = "flat",
        edge: float = 0.5,
        download: bool = True,
        folder: str | os.PathLike[str] | None = None,
        limit: int | None = None,
        pictures: Tensor | None = None,
        device: str | torch.device = "cpu",
        compile: bool | None = None,
    ) -> None:
        check_choice("mode", mode, MODES)
        check_choice("style", style, STYLES)
        for name, v in (("size", size), ("strokes_per_step", strokes_per_step), ("strokes", strokes)):
            if not isinstance(v, int) or v < 1:
                raise UsageError(f"{name} must be a positive integer, got {v!r}")
        if size < MIN_SIDE:
            raise UsageError(f"size must be at least {MIN_SIDE} px (image policies need it), got {size}")
        if strokes % strokes_per_step:
            raise UsageError(f"strokes ({strokes}) must be a multiple of strokes_per_step ({strokes_per_step})")
        if not 0 < edge < float("inf"):
            raise UsageError(f"edge must be a finite number > 0, got {edge!r}")
        self.device = torch.device(device)
        self.targets = picture_source(dataset, split, data_root, size, channels, download, folder, limit, pictures).to(
            self.device
        )
        self.dataset, self.split, self.size, self.channels = dataset, split, size, channels
        self.k, self.strokes, self.steps = strokes_per_step, strokes, strokes // strokes_per_step
        self.mode, self.style, self.edge = mode, style, float(edge)
        self.fused = self._fused(compile)
        image = spaces.Box(0, 255, (channels, size, size), np.uint8)
        self.observation_space = spaces.Dict(
            {"target": image, "canvas": image, "step": spaces.Box(0.0, float(self.steps), (1,), np.float32)}
        )
        self.action_space = spaces.Box(0.0, 1.0, (strokes_per_step, STROKE_SIZE), np.float32)

    def _fused(self, compile: bool | None) -> bool:
        """Whether steps are painted by a compiled kernel (fast, flat canvases only): ``True`` the C
        kernel on the CPU (an error where it cannot be built), torch.compile on a GPU; ``False``
        eager; ``None`` the C kernel on the CPU where it can be built (else eager, with a
        warning), eager on a GPU."""
        if compile not in (None, True, False):
            raise UsageError(f"compile must be True, False or None, got {compile!r}")
        if compile is False or self.mode != "fast" or self.style != "flat":
            return False
        if self.device.type != "cpu":
            return bool(compile)
        try:
            load_kernel()  # now, so that a machine without a C compiler hears of it at once
        except UsageError as e:
            if compile:
                raise UsageError(f"compile=True paints on the CPU with a C kernel: {e}; or compile=False") from None
            warnings.warn(f"painting eagerly, 6–15× slower: {e}", stacklevel=4)
            return False
        return True

    def new_episodes(self, keys: Tensor, episodes: Tensor, index: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Float targets (B, C, S, S) in [0, 1] (picture ``index`` (B,) if given) and blank canvases."""
        n = len(self.targets)
        if index is None:
            index = uniform_ints(episode_uniforms(keys, episodes, 1)[:, 0], n)
        elif index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
            bad = int(index.max()) if int(index.max()) >= n else int(index.min())
            raise UsageError(f"picture index {bad} is outside the {n} pictures of the {self.split} split")
        target = self.targets[index].float().div_(255.0)
        return target, blank(len(index), self.channels, self.size, self.size, device=self.device)

    def parse(self, actions: Any, batch: int | None) -> Tensor:
        """Check actions and return strokes (B, k, 13) clipped to [0, 1]. ``batch`` None: unbatched."""
        shape = (self.k, STROKE_SIZE) if batch is None else (batch, self.k, STROKE_SIZE)
        a = actions if isinstance(actions, Tensor) else torch.as_tensor(np.asarray(actions, dtype=np.float32))
        if tuple(a.shape) != shape:
            raise ValueError(f"action must have shape {shape} (strokes of 13 numbers), got {tuple(a.shape)}")
        a = a.to(self.device, torch.float32)
        check_action_values(a)
        return a.reshape(-1, self.k, STROKE_SIZE).clamp(0.0, 1.0)

    def paint(self, canvas: Tensor, strokes: Tensor) -> Tensor:
        """Lay strokes (B, k, 13) over canvases (B, C, S, S). On the CPU a large batch is painted in
        blocks of about ``CPU_BLOCK`` strokes, whose per-pixel intermediates stay in cache (2.4×
        faster than one block at 256 × 10 strokes on 64²)."""
        b, block = canvas.shape[0], self._block(canvas)
        with torch.no_grad():
            if b <= block:
                return paint(canvas, strokes, self.mode, self.style, self.edge)
            parts = [
                paint(canvas[i : i + block], strokes[i : i + block], self.mode, self.style, self.edge)
                for i in range(0, b, block)
            ]
            return torch.cat(parts)

    def _block(self, canvas: Tensor) -> int:
        """Environments painted at once: all on a GPU, about ``CPU_BLOCK`` strokes' worth on the CPU."""
        return canvas.shape[0] if canvas.is_cuda else max(1, CPU_BLOCK // self.k)

    def step(self, canvas: Tensor, strokes: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Paint strokes (B, k, 13) over canvases (B, C, S, S): the new canvases, their uint8
        observation and the error to ``target`` (B,) float64. With ``compile`` (fast, flat) it is
        one C kernel on the CPU (:mod:`envs.paint_kernel`) and :func:`lay_and_score` compiled on a GPU."""
        if not self.fused:
            canvas = self.paint(canvas, strokes)
            return canvas, to_uint8(canvas), self.error(canvas, target)
        if canvas.device.type == "cpu":
            return paint_step(canvas, strokes, target, self.edge)
        with torch.no_grad():
            density, tfield, ends, row = fast_fields(
                strokes.reshape(-1, STROKE_SIZE), self.size, self.size, compiled=True
            )
            colour = stroke_colour(strokes, canvas.shape[1])
            return _lay_and_score_compiled(canvas, target, density, tfield, ends, row.view(strokes.shape[:2]), colour,
                                           self.edge)  # fmt: skip

    def error(self, canvas: Tensor, target: Tensor) -> Tensor:
        """Squared error per pixel (B,) float64, values in [0, 1], computed as :meth:`step` does."""
        if self.fused and canvas.device.type == "cpu":
            return kernel_error(canvas, target)
        return squared_error(canvas, target)

    def draw(self, target: Tensor, canvas: Tensor, step: int, error: float) -> np.ndarray:
        """Target and canvas (C, S, S) side by side with a caption, as an RGB array."""
        scale = max(1, round(128 / self.size))
        left, right = to_rgb(target.cpu(), scale), to_rgb(canvas.cpu(), scale)
        tile = Image.new("RGB", (left.width * 2 + 12, left.height + 22), (0, 0, 0))
        tile.paste(left, (4, 4))
        tile.paste(right, (left.width + 8, 4))
        text = f"{step * self.k}/{self.strokes} strokes  error {error:.4f}"
        ImageDraw.Draw(tile).text((4, left.height + 7), text, fill=(255, 255, 255))
        return np.asarray(tile, dtype=np.uint8)


class PaintEnv(gym.Env):
    """Paint a target picture with a budget of brushstrokes: CelebA faces, MNIST digits, a folder.

    ## Observation
    A `Dict`: `target` and `canvas`, uint8 `Box(0, 255, (C, S, S))` (channels first, S ≥ 36, so
    Stable-Baselines3's `CnnPolicy`/`MultiInputPolicy` see images), and `step`, float32
    `Box(0, steps, (1,))`, the number of steps taken. The canvas starts black.

    ## Action
    `Box(0, 1, (k, 13))`: k strokes of the library's 13 numbers (`glimpse.strokes`:
    `x0 y0 cx cy x2 y2 r0 r2 a0 a2 R G B`), laid in order as `glimpse.canvas.paint` lays them
    (`mode`, `style`; on a CPU by default in C, see `compile`). Numbers outside [0, 1] are
    **clipped**; NaN or infinite numbers and wrong shapes raise `ValueError`. On a greyscale
    canvas a stroke lays its colour's luminance.

    ## Reward
    The decrease of the squared error per pixel between canvas and target (values in [0, 1],
    computed on the float canvas, not the uint8 observation), so an episode's return is the first
    error minus the last. `info["error"]` is the error after the step.

    ## Episode end
    `terminated` when the stroke budget is spent (`strokes / strokes_per_step` steps); never
    `truncated`. Stepping after the end without `reset` raises `gymnasium.error.ResetNeeded`.

    ## Arguments
    `dataset` (`"celeba"`, `"mnist"`, `"folder"`), `split` (`"train"`, `"val"`, `"test"`; CelebA's
    test set is IDs 000001–002000, a folder's its last tenth, as `train.paint` holds it out;
    `"all"`), `data_root` (default `$GLIMPSE_DATA`, then `./data`), `download` (MNIST), `folder`,
    `limit` (the first n pictures), `size` (S), `channels`, `strokes_per_step` (k), `strokes` (the
    budget), `mode`, `style`, `edge`, `pictures` (a tensor (N, C, H, W), uint8 or float in [0, 1],
    to paint instead), `render_mode` (`"rgb_array"`: target and canvas side by side), `compile`
    (`fast` and `flat` only. Default `None`: on the CPU one C kernel, :mod:`envs.paint_kernel`,
    built with the system's C compiler when the env is made (eagerly, with a warning, where none is
    found); eager on a GPU. `True`: the C kernel on the CPU (an error without a compiler),
    torch.compile'd kernels on a GPU. `False`: eager. The kernels do stamps, coverage, compositing,
    error and observation in one pass over the pixels: on a CPU about 6× the batched and 13–15× the
    single env's steps per second of eager painting; the same rewards within 1e-6 and canvases
    within one uint8 level). `reset(options={"index": i})` paints picture `i`.

    ## Randomness
    All from `self.np_random`, as in :class:`envs.glimpse_env.GlimpseEnv` (episode draws are a hash
    of a key and the episode's number; `PaintVectorEnv` seeded `s` replays single envs seeded `s + i`).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise UsageError(f"unknown render_mode {render_mode!r}; choose 'rgb_array' or None")
        self.task = PaintTask(**kwargs)
        self.render_mode = render_mode
        self.observation_space = self.task.observation_space
        self.action_space = self.task.action_space
        self._key: int | None = None
        self._episode = -1
        self._t: int | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or self._key is None:
            self._key, self._episode = key_from(self.np_random), -1
        self._episode += 1
        options = reset_options(options, PaintTask.options)
        index = option_tensor(options, "index", (), torch.int64, self.task.device)
        index = None if index is None else index.reshape(1)
        keys = torch.tensor([self._key], device=self.task.device)
        self._target, self._canvas = self.task.new_episodes(keys, torch.tensor([self._episode]), index)
        self._target_u8 = to_uint8(self._target[0]).cpu().numpy()
        self._error = float(self.task.error(self._canvas, self._target)[0])
        self._canvas_u8 = to_uint8(self._canvas)
        self._t = 0
        return self._observation(), {"error": self._error}

    def step(self, action: Any):
        if self._t is None:
            raise ResetNeeded("call reset() before step()")
        if self._t >= self.task.steps:
            raise ResetNeeded(
                f"the stroke budget ({self.task.strokes} strokes, {self.task.steps} steps) is spent; call reset()"
            )
        strokes = self.task.parse(action, None)
        self._canvas, self._canvas_u8, error = self.task.step(self._canvas, strokes, self._target)
        self._t += 1
        error = float(error[0])
        reward, self._error = self._error - error, error
        return self._observation(), reward, self._t == self.task.steps, False, {"error": error}

    def _observation(self) -> dict[str, np.ndarray]:
        return {
            "target": self._target_u8.copy(),
            "canvas": self._canvas_u8[0].cpu().numpy(),
            "step": np.array([self._t], dtype=np.float32),
        }

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode='rgb_array'; returning None")
            return None
        if self._t is None:
            raise ResetNeeded("call reset() before render()")
        return self.task.draw(self._target[0], self._canvas[0], self._t, self._error)
