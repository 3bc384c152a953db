"""The stroke painter: a recurrent policy that looks at a target and its canvas and paints strokes.

Each step a small CNN encodes the target, the canvas so far, their difference, the step number
and two coordinate planes (optionally at a coarser ``encoder_size``; the head still looks at full
resolution); a recurrent core (the library's RNN, LSTM or GRU) carries what it has painted; a
stroke head emits k strokes of 13 numbers (by default at the peaks of the remaining error, looked
at through the retina), which :func:`glimpse.canvas.paint` lays on the canvas. With
``colour="solved"`` each stroke is laid in the colour that brings the canvas closest to the target
under its coverage (least squares, :func:`glimpse.canvas.composite_solved`): the network chooses
where and how a stroke lies, arithmetic chooses its colour. The canvas is differentiable, so the
whole episode trains by backprop through time on the pixel loss (:func:`paint_loss`).

The painter always looks at the target at ``cfg.size``, whatever the canvas's size; strokes are
resolution-free, so the same strokes can be rendered on a larger canvas (see
:func:`glimpse.painting.paint_pictures`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glimpse.canvas import STROKE_SIZE, blank, composite_solved, paint, stroke_alpha, stroke_colour
from glimpse.config import option
from glimpse.cores import CoreKind, make_core
from glimpse.sensor import check_images, pad_images, retina_padded
from glimpse.strokes import BODY, COLOUR, ENDPOINTS, OPACITIES, RADII, SHAPE, brush_ends


@dataclass
class PainterConfig:
    """Everything needed to rebuild a painter; saved inside its checkpoints. The defaults are the
    shipped face painter's shape: 20 steps × 10 strokes on 64², the encoder at 32², solved colours."""

    size: int = option(64, "side of the square the painter sees (and the training canvas), a multiple of 16")
    channels: int = option(3, "3 (RGB) or 1 (greyscale)")
    steps: int = option(20, "recurrent steps per painting")
    strokes_per_step: int = option(10, "strokes emitted per step")
    core: CoreKind = option("lstm", "recurrent core")
    hidden: int = option(256, "core width")
    layers: int = option(1, "stacked core layers")
    width: int = option(32, "channels of the encoder's first convolution (doubling twice)")
    encoder_size: int | None = option(
        None, "side the encoder sees target and canvas at, a multiple of 16 up to --size (default: half of it, ≥ 16)"
    )
    where: Literal["error", "free"] = option("error", "strokes start at peaks of the remaining error, or anywhere")
    glimpse_size: int = option(8, "error head: retina patch side, px at --size")
    glimpse_scales: int = option(3, "error head: retina patches (8, 16, 32 px)")
    reach: float = option(0.25, "error head: how far stroke ends may lie from their peak (canvas sides)")
    brush: float = option(
        0.0, "error head: strokes at least this many times as long as wide, brushstrokes not dabs (0: free ends)"
    )
    colour: Literal["head", "solved"] = option(
        "solved", "stroke colours: head, the head's own; solved, least squares on the target"
    )
    mode: Literal["fast", "crisp"] = option("fast", "canvas rasteriser used in training")
    style: Literal["flat", "oil"] = option("flat", "stroke style")
    edge: float = option(0.5, "stroke edge softness, px")
    background: float = option(0.0, "grey level of the blank canvas")

    def __post_init__(self) -> None:
        for name in ("size", "steps", "strokes_per_step", "hidden", "layers", "width", "glimpse_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"PainterConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.size % 16:
            raise ValueError(f"PainterConfig.size must be a multiple of 16, got {self.size}")
        if self.channels not in (1, 3):
            raise ValueError(f"PainterConfig.channels must be 1 or 3, got {self.channels}")
        if self.encoder_size is None:  # resolved here, so that checkpoints hold the number
            self.encoder_size = max(16, self.size // 32 * 16)
        if not (0 < self.encoder_size <= self.size and self.encoder_size % 16 == 0):
            raise ValueError(f"PainterConfig.encoder_size must be a multiple of 16 up to size, got {self.encoder_size}")
        if not 0 <= self.brush < math.inf or (self.brush and self.where != "error"):
            raise ValueError(f"PainterConfig.brush must be a finite number >= 0 (with where='error'), got {self.brush}")
        if not (0 < self.edge < math.inf and 0 < self.reach < math.inf and 0 <= self.background <= 1):
            raise ValueError(
                f"PainterConfig: edge and reach must be finite and > 0 and background in [0, 1], "
                f"got {self.edge}, {self.reach}, {self.background}"
            )

    @property
    def strokes(self) -> int:
        return self.steps * self.strokes_per_step


class PaintRollout(NamedTuple):
    """Per-step tensors of one painting episode."""

    strokes: Tensor  # (T, B, k, 13) in [0, 1]
    canvases: Tensor  # (T, B, C, H, W): the canvas after each step
    state: tuple[Tensor, ...]  # the core's state after the last step (to continue the episode)


def coordinate_planes(batch: int, size: int, like: Tensor) -> Tensor:
    """(B, 2, S, S) planes of x and y in [0, 1] (CoordConv), so convolutions know where they are."""
    r = (torch.arange(size, device=like.device, dtype=like.dtype) + 0.5) / size
    return torch.stack(torch.meshgrid(r, r, indexing="xy")).expand(batch, -1, -1, -1)


class Encoder(nn.Module):
    """Target, canvas, residual, step and coordinates at S×S -> a feature vector."""

    def __init__(self, channels: int, size: int, width: int, out: int) -> None:
        super().__init__()
        if size % 16:
            raise ValueError(f"the painter's size must be a multiple of 16, got {size}")
        w = width
        self.convs = nn.Sequential(
            nn.Conv2d(3 * channels + 3, w, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(4 * w, 4 * w, 4, 2, 1), nn.ReLU(),
        )  # fmt: skip
        self.fc = nn.Linear(4 * w * (size // 16) ** 2, out)

    def forward(self, target: Tensor, canvas: Tensor, progress: Tensor) -> Tensor:
        """target, canvas: (B, C, S, S);  progress: (B,) step / steps  ->  (B, out)"""
        b, _, s, _ = target.shape
        planes = [target, canvas, target - canvas, progress.view(b, 1, 1, 1).expand(b, 1, s, s)]
        x = torch.cat([*planes, coordinate_planes(b, s, target)], dim=1)
        return F.relu(self.fc(self.convs(x).flatten(1)))


class StrokeHead(nn.Module):
    """``where="free"``: core output -> k strokes anywhere (a sigmoid of a linear map)."""

    def __init__(self, hidden: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.linear = nn.Linear(hidden, k * STROKE_SIZE)
        with torch.no_grad():  # start from mid-sized, fairly opaque strokes anywhere on the canvas
            self.linear.weight.mul_(0.5)
            bias = self.linear.bias.view(k, STROKE_SIZE)
            bias.zero_()
            bias[:, RADII] = -1.0  # radius ≈ 0.27 -> about 5 px on 64²
            bias[:, OPACITIES] = 2.0  # opacity ≈ 0.88

    def forward(self, h: Tensor, target: Tensor, canvas: Tensor, progress: Tensor) -> Tensor:
        return torch.sigmoid(self.linear(h)).view(h.shape[0], self.k, STROKE_SIZE)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur with zero padding.  (B, C, H, W) -> (B, C, H, W)"""
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, device=x.device, dtype=x.dtype) / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, r), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(r, 0), groups=c)


def error_peaks(target: Tensor, canvas: Tensor, k: int, sigma: float) -> Tensor:
    """The k strongest local maxima of the squared error blurred at ``sigma`` px.

    target, canvas: (B, C, S, S)  ->  (B, k, 2) locations (x, y) in [0, 1] (no gradient)
    """
    with torch.no_grad():
        err = gaussian_blur((target - canvas).pow(2).mean(1, keepdim=True), sigma)  # (B, 1, S, S)
        b, _, h, w = err.shape
        # break ties (symmetric plateaus, flat regions) by a fixed tiny pattern, so that each
        # maximum is one pixel and the choice is the same every call
        ties = torch.rand(h * w, generator=torch.Generator().manual_seed(1234)).to(err).view(1, 1, h, w)
        err = err * (1 + 1e-5 * ties) + 1e-12 * ties
        r = max(1, round(sigma))
        local_max = F.max_pool2d(F.max_pool2d(err, (1, 2 * r + 1), 1, (0, r)), (2 * r + 1, 1), 1, (r, 0))
        peaks = err * (err == local_max)  # non-maximum suppression (separable square window)
        idx = peaks.view(b, -1).topk(k, dim=1).indices
        return torch.stack([(idx % w + 0.5) / w, (idx // w + 0.5) / h], dim=-1)


class ErrorGlimpseHead(nn.Module):
    """``where="error"``: each of the k strokes of a step starts at a peak of the remaining error
    (coarse to fine: the error is blurred less as the painting goes on), looks at the target and
    the canvas there through the library's multi-resolution retina, and decides, with the core's
    state, the stroke's ends, bend, width, opacity and colour (a correction of the target's colour
    under the glimpse). The peaks are a hard, non-differentiable choice, like a glimpse location.
    """

    def __init__(
        self, hidden: int, k: int, channels: int, size: int, glimpse: int, scales: int, reach: float, brush: float = 0.0
    ) -> None:
        super().__init__()
        self.k, self.channels, self.size = k, channels, size
        self.glimpse, self.scales, self.reach, self.brush = glimpse, scales, reach, brush
        self.look = nn.Linear(scales * 2 * channels * glimpse * glimpse, 256)
        self.context = nn.Linear(hidden, 256)
        self.where = nn.Linear(3, 256)  # x, y, progress
        self.out = nn.Linear(256, STROKE_SIZE)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()
            self.out.bias[RADII] = -1.5  # radius ≈ 0.18 -> about 3 px on 64²
            self.out.bias[OPACITIES] = 2.0  # opacity ≈ 0.88

    def sigma(self, progress: float) -> float:
        """Error blur in px: 6 px at the start, 1 px at the end (scaled with the canvas)."""
        return max(0.5, (6.0 * (1 - progress) + 1.0 * progress) * self.size / 64)

    def forward(self, h: Tensor, target: Tensor, canvas: Tensor, progress: Tensor) -> Tensor:
        b, k = h.shape[0], self.k
        loc = error_peaks(target, canvas, k, self.sigma(float(progress[0])))  # (B, k, 2)
        s = target.shape[-1]
        padded = pad_images(torch.cat([target, canvas], 1), self.glimpse, self.scales)  # (B, 2C, S+2p, S+2p)
        which = torch.arange(b, device=h.device).repeat_interleave(k)
        g = retina_padded(padded, loc.view(b * k, 2) * 2 - 1, self.glimpse, self.scales, s, s, which)
        where = torch.cat([loc, progress.view(b, 1, 1).expand(b, k, 1)], -1)
        x = self.look(g.flatten(1)).view(b, k, -1) + self.context(h).unsqueeze(1) + self.where(where)
        a = self.out(F.relu(x))  # (B, k, 13)
        a = a.to(torch.promote_types(a.dtype, torch.float32))  # float32 strokes also under bfloat16 autocast
        ends = loc.repeat(1, 1, 2) + self.reach * torch.tanh(a[..., ENDPOINTS])  # x0 y0 x2 y2
        ends = ends.clamp(0, 1)
        centre = g[:, 0, : self.channels].mean(dim=(-1, -2)).view(b, k, self.channels)  # target under the glimpse
        if self.channels == 1:
            centre = centre.expand(-1, -1, 3)
        colour = (centre + 0.5 * torch.tanh(a[..., COLOUR])).clamp(0, 1)
        strokes = a.new_empty(a.shape)
        strokes[..., BODY] = torch.sigmoid(a[..., BODY])  # bend, radii, opacities
        if self.brush:  # drawn out to at least brush × their width (glimpse.strokes.brush_ends)
            ends = brush_ends(ends, strokes[..., RADII], self.brush)
        strokes[..., ENDPOINTS] = ends
        strokes[..., COLOUR] = colour
        return strokes


class Painter(nn.Module):
    def __init__(self, cfg: PainterConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.channels, cfg.encoder_size, cfg.width, cfg.hidden)
        self.core = make_core(cfg.core, cfg.hidden, cfg.hidden, cfg.layers)
        if cfg.where == "error":
            self.head = ErrorGlimpseHead(
                cfg.hidden,
                cfg.strokes_per_step,
                cfg.channels,
                cfg.size,
                cfg.glimpse_size,
                cfg.glimpse_scales,
                cfg.reach,
                cfg.brush,
            )
        else:
            self.head = StrokeHead(cfg.hidden, cfg.strokes_per_step)

    def initial_state(self, batch: int) -> tuple[Tensor, ...]:
        return self.core.initial_state(batch)

    def step(
        self, target: Tensor, canvas: Tensor, progress: Tensor, state: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One step on target and canvas at cfg.size (the encoder sees them at cfg.encoder_size, the
        head at cfg.size): (B, k, 13) strokes and the next core state."""
        seen = self.cfg.encoder_size
        h, state = self.core.step(self.encoder(_resize(target, seen), _resize(canvas, seen), progress), state)
        return self.head(h, target, canvas, progress), state

    def rollout(
        self,
        target: Tensor,
        steps: int | None = None,
        canvas: Tensor | None = None,
        state: tuple[Tensor, ...] | None = None,
        start: int = 0,
    ) -> PaintRollout:
        """Paint ``target`` (B, C, H, W) in [0, 1] for ``steps`` steps (default cfg.steps).

        The encoder sees target and canvas resized to cfg.encoder_size, the stroke head at cfg.size;
        strokes are rendered at H×W.
        ``canvas``, ``state`` and ``start`` continue an episode (truncated backprop through time).
        """
        cfg = self.cfg
        target = check_images(target, dtype=self.encoder.fc.weight.dtype)  # [0, 1], cast to the model's dtype
        b, c, h, w = target.shape
        if c != cfg.channels:
            raise ValueError(f"this painter paints {cfg.channels}-channel images, got {c} channels")
        steps = cfg.steps if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if canvas is None:
            canvas = blank(b, c, h, w, cfg.background, device=target.device, dtype=target.dtype)
        small = _resize(target, cfg.size)
        if state is None:
            state = self.initial_state(b)
        all_strokes, canvases = [], []
        for t in range(start, start + steps):
            progress = target.new_full((b,), t / cfg.steps)
            # the canvas as an observation is detached: strokes learn through the canvas's later
            # losses and the core's state, not through what the encoder makes of them
            strokes, state = self.step(small, _resize(canvas.detach(), cfg.size), progress, state)
            if cfg.colour == "solved":
                canvas, strokes = self.lay_solved(canvas, strokes, target)
            else:
                canvas = paint(canvas, strokes, cfg.mode, cfg.style, cfg.edge)
            all_strokes.append(strokes)
            canvases.append(canvas)
        return PaintRollout(torch.stack(all_strokes), torch.stack(canvases), state)

    def lay_solved(self, canvas: Tensor, strokes: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Paint strokes (B, k, 13) in the least-squares colours for ``target`` (the head's colours
        as the prior); returns the canvas and the strokes with those colours (grey on 1 channel)."""
        cfg = self.cfg
        c, h, w = canvas.shape[1:]
        alpha = stroke_alpha(strokes, h, w, cfg.mode, cfg.style, cfg.edge)  # (B, k, H, W)
        canvas, colour = composite_solved(canvas, alpha, stroke_colour(strokes, c), target)
        return canvas, torch.cat([strokes[..., SHAPE], colour.expand(-1, -1, 3)], -1)


def _resize(x: Tensor, size: int) -> Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="area" if x.shape[-1] > size else "bilinear", align_corners=None)


def paint_loss(rollout: PaintRollout, target: Tensor, relative: bool = False) -> tuple[Tensor, Tensor]:
    """Mean over steps of the per-pixel squared error, and the per-step errors (T,) (detached).

    Averaging over every step, not only the last, asks for a good painting at every stroke count.
    With ``relative=True`` the mean is divided by its own detached value (times 0.01, a typical
    error, so gradients keep their usual size): the gradient is that of 0.01·log(error), so a chunk
    of late steps, whose error is small, pulls as hard as a chunk of early ones.
    """
    per_step = (rollout.canvases - target.unsqueeze(0)).pow(2).mean(dim=(1, 2, 3, 4))  # (T,)
    loss = per_step.mean()
    return (relative_loss(loss, loss.detach()) if relative else loss), per_step.detach()


def relative_loss(loss: Tensor, value: Tensor) -> Tensor:
    """``0.01 · loss / value``: the loss over its own detached ``value`` (the mean over every
    process's shard in data-parallel training), scaled by a typical error of 0.01."""
    return 0.01 * loss / value.clamp_min(1e-8)


def stroke_sequence(rollout: PaintRollout) -> Tensor:
    """All strokes of an episode in painting order: (T, B, k, 13) -> (B, T·k, 13)."""
    t, b, k, n = rollout.strokes.shape
    return rollout.strokes.permute(1, 0, 2, 3).reshape(b, t * k, n)


def mse_by_strokes(
    strokes: Tensor,
    target: Tensor,
    counts: list[int],
    mode: str = "fast",
    style: str = "flat",
    edge: float = 0.5,
    background: float = 0.0,
) -> dict[int, Tensor]:
    """Per-image squared error per pixel after the first n strokes, for each n in ``counts``.

    strokes: (B, N, 13) in painting order;  target: (B, C, H, W)  ->  {n: (B,)}
    """
    b, c, h, w = target.shape
    out, canvas, done = {}, blank(b, c, h, w, background, device=target.device, dtype=target.dtype), 0
    for n in sorted(counts):
        if not 0 < n <= strokes.shape[1]:
            raise ValueError(f"stroke count {n} outside 1..{strokes.shape[1]}")
        canvas = paint(canvas, strokes[:, done:n], mode, style, edge)
        done = n
        out[n] = (canvas - target).pow(2).mean(dim=(1, 2, 3))
    return out
