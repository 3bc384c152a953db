"""Recurrent Attention Model (Mnih, Heess, Graves, Kavukcuoglu 2014), split along the paper's parts.

    glimpse network   g_t = ReLU(W_a h_g + W_b h_l),  h_g = ReLU(W_ρ ρ(x, l_{t-1})),  h_l = ReLU(W_l l_{t-1})
                      (or DRAM's product ReLU(W_a h_g) ⊙ ReLU(W_b h_l), ``combine="product"``;
                      ``what_net="conv"`` puts three 3×3 convolutions before W_ρ)
    core              h_t = core(g_t, h_{t-1})              (ReLU RNN in the paper; LSTM, GRU)
    location policy   l_t ~ N(tanh(W_μ h_t), σ²), clamped to [-1, 1]
    baseline          b_t = W_b h_t                        (fitted to the reward, squared error)
    classifier        p(y | x) = softmax(W_c h_T)

The first location ``l_0`` comes from the same policy applied to the initial state, so it is a
learned (and explored) starting point. Sampled locations are *detached* before they are fed back
and before their log-probability is taken: the location head learns from REINFORCE alone.
Locations follow :mod:`glimpse.sensor`'s convention: (x, y) in [-1, 1], ±1 at the image edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glimpse.config import derived, option
from glimpse.cores import CoreKind, make_core
from glimpse.sensor import check_images, pad_images, retina_padded

Policy = Literal["sample", "mean", "random"]


@dataclass
class RAMConfig:
    """Everything needed to rebuild a RAM; saved inside its checkpoints. The defaults are the
    shipped MNIST model's shape (the paper's: 6 glimpses of 8×8, one scale, 256-unit ReLU RNN)."""

    height: int = derived(28, "image height in pixels (from the data)")
    width: int = derived(28, "image width in pixels (from the data)")
    channels: int = derived(1, "image channels (from the data)")
    classes: int = derived(10, "number of classes (from the data)")
    glimpse_size: int = option(8, "retina patch side g, in pixels")
    scales: int = option(1, "retina patches per glimpse k, each twice as wide as the last")
    glimpses: int = option(6, "glimpses per image, T")
    what_size: int = option(128, "width of the glimpse network's image ('what') pathway h_g")
    where_size: int = option(128, "width of its location ('where') pathway h_l")
    glimpse_out: int = option(256, "width of the glimpse feature g_t")
    what_net: Literal["linear", "conv"] = option(
        "linear", "the 'what' pathway: the paper's linear layer, or three 3×3 convolutions over the retina"
    )
    combine: Literal["sum", "product"] = option("sum", "g_t from h_g and h_l: RAM's sum or DRAM's product")
    core: CoreKind = option("rnn", "recurrent core (rnn: the paper's ReLU RNN)")
    hidden: int = option(256, "core width")
    layers: int = option(1, "stacked core layers")
    loc_std: float = option(0.1, "location policy σ in location units (×14 px on 28×28: 0.1 is 1.4 px)")
    learn_std: bool = option(False, "learn σ by REINFORCE instead of a schedule (on MNIST it collapses)")
    reinforce_core: bool = option(False, "let REINFORCE's gradient also reach the core and glimpse network")
    random_glimpses: bool = option(False, "the control: uniformly random locations, no policy to learn")

    def __post_init__(self) -> None:
        for name in ("height", "width", "channels", "classes", "glimpse_size", "scales", "glimpses"):
            if getattr(self, name) < 1:
                raise ValueError(f"RAMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.what_net not in ("linear", "conv"):
            raise ValueError(f"RAMConfig.what_net must be 'linear' or 'conv', got {self.what_net!r}")
        if self.combine not in ("sum", "product"):
            raise ValueError(f"RAMConfig.combine must be 'sum' or 'product', got {self.combine!r}")
        if not 0 < self.loc_std < math.inf:
            raise ValueError(f"RAMConfig.loc_std must be a finite number > 0, got {self.loc_std}")


class Rollout(NamedTuple):
    """Per-step tensors of one rollout (T glimpses, batch B); reused by losses, evaluation,
    rendering and the environments."""

    locations: Tensor  # (T, B, 2) where each glimpse was taken, detached
    means: Tensor  # (T, B, 2) policy means
    log_probs: Tensor  # (T, B) log π(l_t | h_{t-1}) of the unclamped draw; zero for the mean and random policies
    baselines: Tensor  # (T, B) b_t predicted before l_t was chosen
    logits: Tensor  # (T, B, classes) classifier read out after every glimpse
    hidden: Tensor  # (T, B, hidden) core output after every glimpse

    @property
    def class_probs(self) -> Tensor:  # (T, B, classes)
        return self.logits.softmax(-1)


def conv_what(in_channels: int, glimpse_size: int, out: int) -> nn.Sequential:
    """The convolutional 'what' pathway: the retina's scales stacked as channels (they share a
    centre), then 3×3 convolutions of 32, 64 and 64 channels, the last two with stride 2, and a
    linear layer.  (B, scales·C, g, g) -> (B, out), before the ReLU."""
    side = (glimpse_size + 3) // 4  # g -> ceil(g/2) -> ceil(g/4)
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * side * side, out),
    )


class GlimpseNetwork(nn.Module):
    """Retina + "what" and "where" pathways combined into the glimpse feature g_t."""

    def __init__(self, cfg: RAMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.what_net == "conv":
            self.what = conv_what(cfg.scales * cfg.channels, cfg.glimpse_size, cfg.what_size)
        else:
            self.what = nn.Linear(cfg.scales * cfg.channels * cfg.glimpse_size**2, cfg.what_size)
        self.where = nn.Linear(2, cfg.where_size)
        self.what_out = nn.Linear(cfg.what_size, cfg.glimpse_out)
        self.where_out = nn.Linear(cfg.where_size, cfg.glimpse_out, bias=cfg.combine == "product")

    def forward(self, padded: Tensor, loc: Tensor) -> Tensor:
        """padded: images from :func:`pad_images`; loc: (B, 2) detached -> g: (B, glimpse_out)"""
        c = self.cfg
        return self.features(retina_padded(padded, loc, c.glimpse_size, c.scales, c.height, c.width), loc)

    def features(self, rho: Tensor, loc: Tensor) -> Tensor:
        """rho: retina (B, scales, C, g, g); loc: (B, 2) -> g: (B, glimpse_out)"""
        rho = rho.flatten(1) if self.cfg.what_net == "linear" else rho.flatten(1, 2)
        what = F.relu(self.what(rho))
        where = F.relu(self.where(loc))
        if self.cfg.combine == "product":
            return F.relu(self.what_out(what)) * F.relu(self.where_out(where))
        return F.relu(self.what_out(what) + self.where_out(where))


class LocationPolicy(nn.Module):
    """Gaussian policy over the next location: mean tanh(W h), fixed or learned σ."""

    def __init__(self, cfg: RAMConfig) -> None:
        super().__init__()
        self.mean = nn.Linear(cfg.hidden, 2)
        self.log_std = nn.Parameter(torch.tensor(math.log(cfg.loc_std)), requires_grad=cfg.learn_std)

    @property
    def std(self) -> Tensor:
        return self.log_std.exp()

    @torch.no_grad()
    def set_std(self, std: float) -> None:
        """Set σ (for an exploration schedule); it is saved with the weights. σ must be a finite
        number > 0 (NaN, infinity, zero and negatives are refused)."""
        if not (math.isfinite(std) and std > 0):
            raise ValueError(f"std must be a finite number > 0, got {std!r}")
        self.log_std.fill_(math.log(std))

    def forward(self, h: Tensor) -> Tensor:
        """h: (B, hidden) -> mean location (B, 2) in (-1, 1), at least float32 (also under autocast)"""
        mean = self.mean(h)
        return torch.tanh(mean.to(torch.promote_types(mean.dtype, torch.float32)))


def gaussian_log_prob(x: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """log N(x; mean, σ²I) summed over the last axis.  (..., 2) -> (...)"""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


class RAM(nn.Module):
    """The Recurrent Attention Model: call :meth:`rollout` to look ``T`` times and classify."""

    def __init__(self, cfg: RAMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.glimpse = GlimpseNetwork(cfg)
        self.core = make_core(cfg.core, cfg.glimpse_out, cfg.hidden, cfg.layers)
        self.policy = LocationPolicy(cfg)
        self.baseline = nn.Linear(cfg.hidden, 1)
        self.classifier = nn.Linear(cfg.hidden, cfg.classes)

    def rollout(
        self,
        images: Tensor,
        policy: Policy = "sample",
        generator: torch.Generator | None = None,
        locations: Tensor | None = None,
    ) -> Rollout:
        """Take ``cfg.glimpses`` glimpses of each image and classify after each.

        images: (B, C, H, W) in [0, 1].  policy: ``"sample"`` draws l_t ~ π (training, and the
        "one stochastic rollout" protocol), ``"mean"`` looks at the policy mean, ``"random"`` draws
        uniform locations (the random-glimpse control; forced when ``cfg.random_glimpses``).
        locations: (T, B, 2) places to look instead, whatever ``policy`` says (an oracle's or a
        scripted path, clamped to [-1, 1]); the policy's means are still recorded, and the
        log-probabilities are zero, so REINFORCE learns nothing from such a rollout.
        """
        c = self.cfg
        images = check_images(images, c.channels, self.classifier.weight.dtype)  # cast to the model's dtype
        if images.shape[-2:] != (c.height, c.width):
            raise ValueError(f"model expects {c.height}×{c.width} images, got {images.shape[-2]}×{images.shape[-1]}")
        if policy not in ("sample", "mean", "random"):
            raise ValueError(f"policy must be 'sample', 'mean' or 'random', got {policy!r}")
        if c.random_glimpses:
            policy = "random"
        b = images.shape[0]
        if locations is not None:
            if locations.shape != (c.glimpses, b, 2):
                raise ValueError(
                    f"locations must be (glimpses, batch, 2) = ({c.glimpses}, {b}, 2), got {tuple(locations.shape)}"
                )
            locations = locations.detach().to(images.device, torch.promote_types(images.dtype, torch.float32))
            locations = locations.clamp(-1.0, 1.0)
        padded = pad_images(images, c.glimpse_size, c.scales)
        state = self.core.initial_state(b)
        h = h0 = state[0][-1]  # h_0, zeros
        std = self.policy.std.detach()
        means, draws, locs, hs = [], [], [], []
        for t in range(c.glimpses):
            mean = self.policy(h if c.reinforce_core else h.detach())
            if locations is not None:
                loc = locations[t]
            elif policy == "sample":
                noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
                draw = mean.detach() + std * noise  # l_t ~ N(mean, σ²), the action REINFORCE scores
                draws.append(draw)
                loc = draw.clamp(-1.0, 1.0)  # where the sensor looks: inside the image's box
            elif policy == "mean":
                loc = mean.detach()
            else:
                loc = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
                loc = loc * 2.0 - 1.0
            # a diverged policy (NaN weights) must not index outside the image: look at the centre,
            # and let the non-finite loss stop training
            loc = loc.nan_to_num(0.0)
            means.append(mean)
            locs.append(loc)
            h, state = self.core.step(self.glimpse(padded, loc), state)
            hs.append(h)

        means_t, locs_t = torch.stack(means), torch.stack(locs)  # (T, B, 2)
        hidden = torch.stack(hs)  # (T, B, hidden): h_1 .. h_T
        before = torch.cat([h0.unsqueeze(0), hidden[:-1].detach()])  # h_0 .. h_{T-1}
        if policy == "sample" and locations is None:
            # the density of the unclamped draw: clamping first would put the edges' mass on ±1
            # and bias the score function towards the centre
            log_probs = gaussian_log_prob(torch.stack(draws), means_t, self.policy.log_std)
        else:
            log_probs = means_t.new_zeros(means_t.shape[:2])
        baselines = self.baseline(before).squeeze(-1)  # (T, B), detached input: a pure critic
        logits = self.classifier(hidden)  # (T, B, classes)
        return Rollout(locs_t, means_t, log_probs, baselines, logits, hidden)

    def forward(self, images: Tensor, policy: Policy = "mean") -> Tensor:
        """Class logits after the last glimpse.  (B, C, H, W) -> (B, classes)"""
        return self.rollout(images, policy).logits[-1]
