"""A soft-attention glimpse classifier: DRAW's Gaussian filterbank read, trained end to end.

The differentiable counterpart of :mod:`glimpse.ram` (Gregor et al. 2015, section 4.1, the
"differentiable RAM": an LSTM reads a 12×12 filterbank patch per step; 3.36 % error with 8
glimpses on 100×100 cluttered MNIST). Every step, with h_0 = 0:

    window      p_t = W_w h_{t−1} + b_w = (g̃_X, g̃_Y, log σ², log δ̃, log γ)      (:func:`glimpse.filterbank.window`)
    read        ρ_t = γ F_Y x F_Xᵀ                                 an N×N patch per channel (:func:`read_patch`)
                (``scales`` S > 1: S concentric reads, stride and σ doubling, a soft retina as RAM's)
    glimpse     g_t = ReLU(W_a ReLU(W_ρ ρ_t) + W_b ReLU(W_l p_t))   the patch ("what") and the window ("where")
                (``what_net="conv"``: RAM's three 3×3 convolutions in place of W_ρ)
    core        h_t = core(g_t, h_{t−1})                           (LSTM as in DRAW; RNN, GRU)
    classifier  p(y | x, t) = softmax(W_c h_t)                     read out after every step

Nothing is sampled: the window is a smooth function of h_{t−1}, so plain backpropagation trains
the window head, the glimpse network, the core and the classifier together. :func:`soft_loss` is
the cross-entropy of the last step's logits (the default, like RAM and DRAW's classifier) or the
mean over all steps (deep supervision: every step must already guess the class).

The window head's bias starts where DRAW starts its read: centred, the N×N grid spanning the whole
image, each filter half a stride wide (σ = δ/2), γ = 1, so the first glimpse is a blurred view of
the whole image. With S scales it is the coarsest read that spans the image (the finest reads the
middle 2^(1−S) of it), as RAM's first retina does.

The rollout's policies match :mod:`glimpse.evaluate`'s protocols: ``"sample"`` and ``"mean"`` are
the same deterministic rollout, and ``"random"`` replaces each window's centre (g̃_X, g̃_Y) by a
uniform draw in [-1, 1]² — the image from edge to edge — while keeping the stride, variance and
intensity the model chose (the random-glimpse control of a trained model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glimpse.config import derived, option
from glimpse.cores import CORES, CoreKind, State, make_core
from glimpse.filterbank import Window, coarser, filterbank, read_patch, window
from glimpse.ram import conv_what
from glimpse.sensor import check_images

Policy = Literal["sample", "mean", "random"]
LossSteps = Literal["last", "all"]


@dataclass
class SoftAttentionConfig:
    """Everything needed to rebuild a soft-attention classifier; saved inside its checkpoints. The
    defaults are DRAW's cluttered-MNIST classifier: 8 glimpses of 12×12, a 256-unit LSTM."""

    height: int = derived(28, "image height in pixels (from the data)")
    width: int = derived(28, "image width in pixels (from the data)")
    channels: int = derived(1, "image channels (from the data)")
    classes: int = derived(10, "number of classes (from the data)")
    read_n: int = option(12, "filterbank N: each glimpse is an N×N patch")
    scales: int = option(
        1, "concentric reads per glimpse, each with twice the stride and filter width of the last (1: DRAW's)"
    )
    glimpses: int = option(8, "glimpses per image, T")
    what_size: int = option(256, "width of the glimpse network's patch ('what') pathway")
    where_size: int = option(64, "width of its window-parameter ('where') pathway")
    what_net: Literal["linear", "conv"] = option(
        "linear", "the 'what' pathway: DRAW's linear layer, or RAM's three 3×3 convolutions over the patches"
    )
    glimpse_out: int = option(256, "width of the glimpse feature g_t")
    core: CoreKind = option("lstm", "recurrent core (lstm: DRAW's)")
    hidden: int = option(256, "core width")
    layers: int = option(1, "stacked core layers")

    def __post_init__(self) -> None:
        sizes = ("height", "width", "channels", "classes", "read_n", "scales", "glimpses")
        for name in (*sizes, "what_size", "where_size", "glimpse_out", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"SoftAttentionConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.read_n > min(self.height, self.width):
            raise ValueError(
                f"SoftAttentionConfig.read_n={self.read_n} is larger than the {self.height}×{self.width} image "
                "(an N×N patch must not have more filters than the image has pixels)"
            )
        if self.what_net not in ("linear", "conv"):
            raise ValueError(f"SoftAttentionConfig.what_net must be 'linear' or 'conv', got {self.what_net!r}")
        if self.core not in CORES:
            raise ValueError(f"SoftAttentionConfig.core: unknown core {self.core!r}; choose one of {sorted(CORES)}")


class SoftStep(NamedTuple):
    """What one step produced (batch B)."""

    params: Tensor  # (B, 5) window parameters (g̃_X, g̃_Y, log σ², log δ̃, log γ) read off h_{t−1}
    window: Window  # the window they place, (B,) fields in pixels (1-indexed, as in the paper)
    patch: Tensor  # (B, S·C, N, N) what the glimpse saw: S scales, finest first, C channels each
    hidden: Tensor  # (B, hidden) core output h_t
    logits: Tensor  # (B, classes) the classifier after this glimpse


class SoftRollout(NamedTuple):
    """Per-step tensors of one rollout (T glimpses, batch B); read by :mod:`glimpse.evaluate` and
    :func:`glimpse.render.soft_frames`."""

    params: Tensor  # (T, B, 5) window parameters
    windows: Window  # fields (T, B): centre gx, gy, stride delta, variance sigma2, intensity gamma
    patches: Tensor  # (T, B, S·C, N, N) the glimpses, finest scale first
    logits: Tensor  # (T, B, classes) classifier read out after every glimpse
    hidden: Tensor  # (T, B, hidden) core output after every glimpse

    @property
    def class_probs(self) -> Tensor:  # (T, B, classes)
        return self.logits.softmax(-1)


class SoftLoss(NamedTuple):
    total: Tensor  # scalar cross-entropy, what to backpropagate
    correct: Tensor  # (B,) 1 where the last step's prediction is right, else 0


def soft_loss(rollout: SoftRollout, labels: Tensor, steps: LossSteps = "last") -> SoftLoss:
    """Cross-entropy of a rollout's classifier: on the last step's logits (``"last"``), or the
    mean over every step and image (``"all"``).  labels: (B,) long"""
    if steps not in ("last", "all"):
        raise ValueError(f"steps must be 'last' or 'all', got {steps!r}")
    logits = rollout.logits  # (T, B, classes)
    if steps == "last":
        total = F.cross_entropy(logits[-1], labels)
    else:  # (T·B, classes) against the labels repeated T times, t-major like the flattened logits
        total = F.cross_entropy(logits.flatten(0, 1), labels.repeat(logits.shape[0]))
    correct = (logits[-1].detach().argmax(-1) == labels).to(logits.dtype)
    return SoftLoss(total, correct)


class SoftGlimpseNetwork(nn.Module):
    """The N×N patches ("what") and the window's five parameters ("where") combined into g_t.
    The "what" pathway is a linear layer over the flattened patches, or (``what_net="conv"``)
    :func:`glimpse.ram.conv_what` with the S·C patches as channels."""

    def __init__(self, cfg: SoftAttentionConfig) -> None:
        super().__init__()
        n = cfg.scales * cfg.channels
        self.what = (
            conv_what(n, cfg.read_n, cfg.what_size)
            if cfg.what_net == "conv"
            else nn.Linear(n * cfg.read_n**2, cfg.what_size)
        )
        self.where = nn.Linear(5, cfg.where_size)
        self.what_out = nn.Linear(cfg.what_size, cfg.glimpse_out)
        self.where_out = nn.Linear(cfg.where_size, cfg.glimpse_out, bias=False)

    def forward(self, patch: Tensor, params: Tensor) -> Tensor:
        """patch: (B, S·C, N, N), params: (B, 5) -> g: (B, glimpse_out)"""
        what = F.relu(self.what(patch.flatten(1) if isinstance(self.what, nn.Linear) else patch))
        where = F.relu(self.where(params))
        return F.relu(self.what_out(what) + self.where_out(where))


class SoftAttention(nn.Module):
    """The soft-attention classifier: call :meth:`rollout` to read ``T`` patches and classify."""

    deterministic = True  # nothing is sampled: glimpse.evaluate's sampled protocols are its mean rollout

    def __init__(self, cfg: SoftAttentionConfig) -> None:
        super().__init__()
        self.cfg = c = cfg
        self.window_head = nn.Linear(c.hidden, 5)
        self.glimpse = SoftGlimpseNetwork(c)
        self.core = make_core(c.core, c.glimpse_out, c.hidden, c.layers)
        self.classifier = nn.Linear(c.hidden, c.classes)
        with torch.no_grad():  # the first window: centred, the coarsest read over the whole image, σ = δ/2, γ = 1
            side = max(c.height, c.width)
            stride = ((side - 1) / (c.read_n - 1) if c.read_n > 1 else side / 2) / 2 ** (c.scales - 1)
            self.window_head.bias.zero_()
            self.window_head.bias[2] = 2 * math.log(stride / 2)
            self.window_head.bias[3] = -(c.scales - 1) * math.log(2)

    def initial_state(self, batch: int) -> State:
        """The core's zero state for ``batch`` images (h_0 = 0)."""
        return self.core.initial_state(batch)

    def read(self, images: Tensor, params: Tensor) -> tuple[Tensor, Window]:
        """The filterbank read: images (B, C, H, W), window parameters (B, 5) -> patch (B, S·C, N, N)
        and the window, through :mod:`glimpse.filterbank`'s pure functions. Scale s (0 = the
        window itself) reads the same centre with stride 2^s δ and variance 4^s σ²."""
        c = self.cfg
        w = window(params, c.height, c.width, c.read_n)
        patches = []
        for s in range(c.scales):
            fx, fy = filterbank(coarser(w, s), c.height, c.width, c.read_n)
            patches.append(read_patch(images, fx, fy, w.gamma))
        return torch.cat(patches, 1), w

    def step(self, images: Tensor, state: State, centre: Tensor | None = None) -> tuple[SoftStep, State]:
        """One glimpse of checked images (B, C, H, W): the window read off h_{t−1} (the top layer of
        ``state``), the read, the core step and the classifier. ``centre`` (B, 2) in [-1, 1], if
        given, replaces the window's (g̃_X, g̃_Y) (the random-location protocol)."""
        params = self.window_head(state[0][-1])
        if centre is not None:
            params = torch.cat([centre.to(params.dtype), params[:, 2:]], -1)
        patch, w = self.read(images, params)
        h, state = self.core.step(self.glimpse(patch, params), state)
        return SoftStep(params, w, patch, h, self.classifier(h)), state

    def rollout(self, images: Tensor, policy: Policy = "mean", generator: torch.Generator | None = None) -> SoftRollout:
        """Take ``cfg.glimpses`` glimpses of each image and classify after each.

        images: (B, C, H, W) in [0, 1].  policy: ``"mean"`` and ``"sample"`` are the same
        deterministic rollout (nothing is sampled); ``"random"`` puts every window's centre at a
        uniform draw in [-1, 1]² from ``generator`` (stride, variance and intensity stay the model's).
        """
        c = self.cfg
        images = check_images(images, c.channels, self.classifier.weight.dtype)
        if images.shape[-2:] != (c.height, c.width):
            raise ValueError(f"model expects {c.height}×{c.width} images, got {images.shape[-2]}×{images.shape[-1]}")
        if policy not in ("sample", "mean", "random"):
            raise ValueError(f"policy must be 'sample', 'mean' or 'random', got {policy!r}")
        b = images.shape[0]
        state = self.initial_state(b)
        steps = []
        for _ in range(c.glimpses):
            centre = None
            if policy == "random":
                centre = torch.rand((b, 2), generator=generator, device=images.device, dtype=images.dtype) * 2 - 1
            out, state = self.step(images, state, centre)
            steps.append(out)
        windows = Window(*(torch.stack(field) for field in zip(*(s.window for s in steps), strict=True)))
        return SoftRollout(
            torch.stack([s.params for s in steps]),
            windows,
            torch.stack([s.patch for s in steps]),
            torch.stack([s.logits for s in steps]),
            torch.stack([s.hidden for s in steps]),
        )

    def forward(self, images: Tensor) -> Tensor:
        """Class logits after the last glimpse.  (B, C, H, W) -> (B, classes)"""
        return self.rollout(images).logits[-1]
