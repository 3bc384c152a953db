"""The glimpse environment: classify a digit from T glimpses of the library's retina.

:class:`GlimpseTask` holds what the single and the batched environment share (spaces, data,
episode draws, the retina, action checks, rewards, drawing) as batched tensor code;
:class:`GlimpseEnv` is the single Gymnasium environment on top of it (a batch of one).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from PIL import ImageDraw
from torch import Tensor

from glimpse.errors import UsageError
from glimpse.render import SCALE_COLOURS, TRAIL, to_rgb
from glimpse.sensor import glimpse_boxes, patch_corners

from .episodes import episode_uniforms, key_from, option_tensor, reset_options, uniform_ints
from .sources import check_choice, digit_source

REWARDS = ("correct", "log_prob")
ACTION_TYPES = ("flat", "dict")
STARTS = ("centre", "random")
CLASSES = 10


def check_action_values(a: Tensor | np.ndarray, what: str = "action") -> None:
    """Refuse NaN or infinite numbers in an action, naming where they are."""
    bad = ~np.isfinite(a) if isinstance(a, np.ndarray) else ~torch.isfinite(a)
    if bad.any():
        where = tuple(int(i) for i in (np.argwhere(bad)[0] if isinstance(bad, np.ndarray) else bad.nonzero()[0]))
        raise ValueError(f"{what} contains a non-finite number: {what}[{where}] = {a[where]!r}")


class GlimpseTask:
    """Everything of the glimpse task that a single and a batched environment share."""

    options: ClassVar[tuple[str, ...]] = ("index", "start")  # what reset(options=...) may choose

    def __init__(
        self,
        dataset: str = "mnist",
        split: str = "train",
        data_root: str | os.PathLike[str] | None = None,
        size: int = 60,
        distractors: int = 4,
        glimpses: int = 6,
        glimpse_size: int = 8,
        scales: int = 1,
        reward: str = "correct",
        logit_scale: float = 5.0,
        start: str = "centre",
        action_type: str = "flat",
        download: bool = True,
        images: object = None,
        device: str | torch.device = "cpu",
    ) -> None:
        check_choice("reward", reward, REWARDS)
        check_choice("action_type", action_type, ACTION_TYPES)
        check_choice("start", start, STARTS)
        for name, v in (("glimpses", glimpses), ("glimpse_size", glimpse_size), ("scales", scales)):
            if not isinstance(v, int) or v < 1:
                raise UsageError(f"{name} must be a positive integer, got {v!r}")
        if not 0 < logit_scale < float("inf"):
            raise UsageError(f"logit_scale must be a finite number > 0, got {logit_scale!r}")
        self.device = torch.device(device)
        self.source = digit_source(dataset, split, data_root, size, distractors, download, images).to(self.device)
        self.dataset, self.split, self.reward_kind, self.start = dataset, split, reward, start
        self.glimpses, self.glimpse_size, self.scales = glimpses, glimpse_size, scales
        self.logit_scale, self.action_type = float(logit_scale), action_type
        self.channels = self.source.images.shape[1]
        self.side = self.source.side
        g = (scales, self.channels, glimpse_size, glimpse_size)
        self.observation_space = spaces.Dict(
            {
                "glimpse": spaces.Box(0.0, 1.0, g, np.float32),
                "location": spaces.Box(-1.0, 1.0, (2,), np.float32),
                "step": spaces.Box(0.0, float(glimpses), (1,), np.float32),
            }
        )
        if action_type == "flat":
            self.action_space: spaces.Space = spaces.Box(-1.0, 1.0, (2 + CLASSES,), np.float32)
        else:
            self.action_space = spaces.Dict(
                {
                    "location": spaces.Box(-1.0, 1.0, (2,), np.float32),
                    "prediction": spaces.Box(-1.0, 1.0, (CLASSES,), np.float32),
                }
            )

    # -- episodes ---------------------------------------------------------------------------------
    def new_episodes(
        self, keys: Tensor, episodes: Tensor, index: Tensor | None = None, start: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Frames (B, C, S+1, S+1) (see :meth:`frames`), labels (B,) and first locations (B, 2) of
        new episodes. ``index`` (B,) chooses the images instead of the draw; ``start`` (B, 2) the
        first locations."""
        u = episode_uniforms(keys, episodes, 3 + self.source.draws)
        n = len(self.source.labels)
        if index is None:
            index = uniform_ints(u[:, 0], n)
        elif index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
            bad = int(index.max()) if int(index.max()) >= n else int(index.min())
            raise UsageError(f"image index {bad} is outside the {n} images of the {self.split} split")
        levels = self.source.levels(index, u[:, 3:])
        if start is None:
            start = u[:, 1:3].float() * 2 - 1 if self.start == "random" else levels.new_zeros(len(index), 2)
        return self.frames(levels), self.source.labels[index], start.float()

    @staticmethod
    def frames(levels: Tensor) -> Tensor:
        """What an episode keeps of its picture, given as grey levels 0..255 (B, C, S, S): their
        summed-area table (B, C, S+1, S+1), ``I[y, x]`` = the sum of the levels above and left of
        (y, x). Whole levels sum exactly in float32 up to 2^24 (S ≤ 256; float64 beyond), so every
        box sum, a single pixel included, is exact."""
        h, w = levels.shape[-2:]
        dtype = torch.float32 if 255 * h * w < 2**24 else torch.float64
        return F.pad(levels.to(dtype).cumsum(3).cumsum(2), (1, 0, 1, 0))

    @staticmethod
    def picture(frames: Tensor) -> Tensor:
        """The float32 pictures (..., C, S, S) in [0, 1] back from their frames."""
        f = frames
        return ((f[..., 1:, 1:] - f[..., :-1, 1:] - f[..., 1:, :-1] + f[..., :-1, :-1]) / 255.0).float()

    def look(self, frames: Tensor, loc: Tensor) -> Tensor:
        """The retina's glimpses (B, scales, C, g, g) at locations (B, 2): the patches of
        :func:`glimpse.sensor.retina` (same pixels, same zero background), each scale's
        2^i × 2^i block means read as four lookups in the summed-area table instead of gathering
        (g·2^i)² pixels. Scale 0 is bit-identical to the library's retina; coarser scales are the
        exact block means rounded once to float32 (the library's average pooling rounds as it sums:
        they differ by at most an ulp or so)."""
        b, c, hp, wp = frames.shape
        s, g = self.side, self.glimpse_size
        flat = frames.reshape(b, c, hp * wp)
        steps = torch.arange(g + 1, device=frames.device)
        out = []
        for i in range(self.scales):  # a few scales, not samples
            block = 2**i
            corner = patch_corners(loc, g * block, s, s)  # (B, 2): left, top
            xs = (corner[:, :1] + steps * block).clamp_(0, s)  # (B, g+1) table columns
            ys = (corner[:, 1:] + steps * block).clamp_(0, s)  # rows; outside the picture adds 0
            idx = (ys[:, :, None] * wp + xs[:, None, :]).view(b, 1, -1).expand(b, c, -1)
            table = flat.gather(2, idx).view(b, c, g + 1, g + 1)
            box = table[..., 1:, 1:] - table[..., :-1, 1:] - table[..., 1:, :-1] + table[..., :-1, :-1]
            out.append((box / (255.0 * block * block)).float())
        return torch.stack(out, 1)

    # -- actions and rewards ----------------------------------------------------------------------
    def parse(self, actions: Any, batch: int | None) -> tuple[Tensor, Tensor]:
        """Check actions and split them into locations (B, 2) and class scores (B, classes), both
        clipped to [-1, 1]. ``batch`` None: one unbatched action (B = 1)."""
        lead = () if batch is None else (batch,)
        if self.action_type == "dict":
            if not isinstance(actions, dict) or set(actions) != {"location", "prediction"}:
                got = sorted(actions) if isinstance(actions, dict) else type(actions).__name__
                raise ValueError(f"a dict action needs the keys 'location' and 'prediction', got {got}")
            parts = [self._tensor(actions["location"], (*lead, 2), "action['location']")]
            parts.append(self._tensor(actions["prediction"], (*lead, CLASSES), "action['prediction']"))
            a = torch.cat(parts, -1)
        else:
            a = self._tensor(actions, (*lead, 2 + CLASSES), "action")
        a = a.reshape(-1, 2 + CLASSES).clamp(-1.0, 1.0)
        return a[:, :2], a[:, 2:]

    def _tensor(self, x: Any, shape: tuple[int, ...], what: str) -> Tensor:
        t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float32))
        if tuple(t.shape) != shape:
            raise ValueError(f"{what} must have shape {shape}, got {tuple(t.shape)}")
        t = t.to(self.device, torch.float32)
        check_action_values(t, what)
        return t

    def rewards(self, scores: Tensor, labels: Tensor, final: Tensor) -> Tensor:
        """Rewards (B,) float64 of steps whose class scores are ``scores``; ``final`` (B,) bool marks
        each episode's last step. ``correct``: 1 at the last step if the top score is the label;
        ``log_prob``: log softmax(logit_scale · scores)[label] at every step."""
        if self.reward_kind == "correct":
            return ((scores.argmax(-1) == labels) & final).double()
        logp = torch.log_softmax(self.logit_scale * scores.double(), -1)
        return logp.gather(1, labels[:, None]).squeeze(1)

    # -- drawing ----------------------------------------------------------------------------------
    def draw(self, frames: Tensor, path: list[Tensor], label: int, prediction: int | None, step: int) -> np.ndarray:
        """One environment as an RGB array: the picture, every scale's box at the current location,
        the path of earlier glimpses and a caption.  frames: (C, S+1, S+1); path: locations (2,)"""
        s = self.side
        if step == self.glimpses and len(path) > 1:
            path = path[:-1]  # the last action's location is not used: show the glimpses decided on
        scale = max(1, round(200 / s))
        img = to_rgb(self.picture(frames).cpu(), scale)
        canvas = img.crop((0, 0, img.width, img.height + 16))
        draw = ImageDraw.Draw(canvas)
        locs = torch.stack(path).cpu().float()
        centres = ((locs + 1) * 0.5 * s * scale).tolist()
        if len(centres) > 1:
            draw.line([tuple(c) for c in centres], fill=TRAIL, width=2)
        boxes = glimpse_boxes(locs[-1:], self.glimpse_size, self.scales, s, s)[0] * scale
        for i in range(self.scales - 1, -1, -1):
            left, top, right, bottom = boxes[i].tolist()
            draw.rectangle([left, top, right - 1, bottom - 1], outline=SCALE_COLOURS[i % 4], width=2)
        text = f"t={step}/{self.glimpses}" + (f"  says {prediction} (true {label})" if prediction is not None else "")
        draw.text((3, img.height + 2), text, fill=(255, 255, 255))
        return np.asarray(canvas, dtype=np.uint8)


class GlimpseEnv(gym.Env):
    """Classify a digit from T glimpses: MNIST, translated or cluttered MNIST.

    ## Observation
    A `Dict` of float32 `Box`es:
    - `glimpse`: `(scales, C, g, g)` in [0, 1], the retina at the current location (scale *i*
      covers g·2^i px averaged down to g×g; `glimpse.sensor`).
    - `location`: `(2,)` in [-1, 1], where that glimpse was taken, `(x, y)`, `±1` the image edges.
    - `step`: `(1,)` in [0, T], the number of actions taken so far.

    `reset` takes the first glimpse at the image centre (`start="centre"`), at a uniformly random
    place (`start="random"`), or where `options={"start": (x, y)}` says.

    ## Action
    `Box(-1, 1, (2 + 10,))`: the next location `(x, y)`, then 10 class scores. With
    `action_type="dict"`, ap_gym's form: `{"location": Box(-1, 1, (2,)), "prediction": Box(-1, 1, (10,))}`.
    Numbers outside [-1, 1] are **clipped**; NaN or infinite numbers and wrong shapes raise
    `ValueError`. The location of the last step is not used (no decision follows its glimpse).

    ## Reward
    - `reward="correct"` (default, the paper's): 1.0 at the last step if the top class score is
      the true class, else 0.0; 0.0 at earlier steps.
    - `reward="log_prob"` (ap_gym's shaping): every step, log p(true class) with p =
      softmax(`logit_scale` × scores) (`logit_scale` 5: a margin of 2 over the 9 other scores is
      a probability of 0.9996).

    ## Episode end
    `terminated` after `glimpses` (T) steps, i.e. T glimpses seen before the last decision; never
    `truncated`. Stepping after the end without `reset` raises `gymnasium.error.ResetNeeded`.
    `info` holds `episode` (its number since seeding) after reset and `label`, `prediction`,
    `correct` at the end.

    ## Arguments
    `dataset` (a kind of task: `"mnist"`, `"translated"`, `"cluttered"`; each registered id sets
    its task's `size`, `distractors` and retina from `glimpse.data.TASKS`), `split` (`"train"`: 55,000 digits,
    variants drawn afresh each episode; `"val"`, `"test"`: the library's fixed sets), `data_root`
    (default `$GLIMPSE_DATA`, then `./data`), `download`, `size` (canvas side of the variants),
    `distractors`, `glimpses` (T), `glimpse_size` (g), `scales` (k), `reward`, `logit_scale`,
    `start`, `action_type`, `images` (an `ImageSet` or `(images, labels)` to use instead of MNIST),
    `render_mode` (`"rgb_array"`). `reset(options={"index": i})` plays image `i` of the split.

    ## Randomness
    All from `self.np_random`: seeding draws a key, and every episode's choices are a hash of the
    key and the episode's number (`envs.episodes`), so `GlimpseVectorEnv` seeded `s` replays the
    episodes of single environments seeded `s, s+1, ...`.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise UsageError(f"unknown render_mode {render_mode!r}; choose 'rgb_array' or None")
        self.task = GlimpseTask(**kwargs)
        self.render_mode = render_mode
        self.observation_space = self.task.observation_space
        self.action_space = self.task.action_space
        self._key: int | None = None
        self._episode = -1
        self._t: int | None = None  # None: no episode running

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or self._key is None:
            self._key, self._episode = key_from(self.np_random), -1
        self._episode += 1
        options = reset_options(options, GlimpseTask.options)
        index = option_tensor(options, "index", (), torch.int64, self.task.device)
        index = None if index is None else index.reshape(1)
        start = option_tensor(options, "start", (2,), torch.float32, self.task.device)
        if start is not None:
            start = start.reshape(1, 2)
            check_action_values(start, "options['start']")
            start = start.clamp(-1, 1)
        keys = torch.tensor([self._key], device=self.task.device)
        self._frames, labels, loc = self.task.new_episodes(keys, torch.tensor([self._episode]), index, start)
        self._label = int(labels[0])
        self._path = [loc[0]]
        self._t, self._prediction = 0, None
        return self._observation(loc), {"episode": self._episode}

    def step(self, action: Any):
        if self._t is None:
            raise ResetNeeded("call reset() before step()")
        if self._t >= self.task.glimpses:
            raise ResetNeeded(f"the episode ended after {self.task.glimpses} steps (glimpses); call reset()")
        loc, scores = self.task.parse(action, None)
        self._t += 1
        final = self._t == self.task.glimpses
        label = torch.tensor([self._label], device=self.task.device)
        reward = float(self.task.rewards(scores, label, torch.tensor([final], device=self.task.device))[0])
        self._prediction = int(scores[0].argmax())
        self._path.append(loc[0])
        info: dict[str, Any] = {}
        if final:
            info = {"label": self._label, "prediction": self._prediction, "correct": self._prediction == self._label}
        return self._observation(loc), reward, final, False, info

    def _observation(self, loc: Tensor) -> dict[str, np.ndarray]:
        g = self.task.look(self._frames, loc)[0]
        return {
            "glimpse": g.cpu().numpy().astype(np.float32, copy=False),
            "location": loc[0].cpu().numpy().astype(np.float32),
            "step": np.array([self._t], dtype=np.float32),
        }

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode='rgb_array'; returning None")
            return None
        if self._t is None:
            raise ResetNeeded("call reset() before render()")
        return self.task.draw(self._frames[0], self._path, self._label, self._prediction, self._t)
