"""A small convolutional classifier: the baseline the glimpse models are measured against.

    block_i   x ← MaxPool2(ReLU(BN(Conv_k(x))))           one block per entry of ``conv_channels``
                                                        (pooling rounds up: 28 → 14 → 7 → 4 → 2 → 1 → 1)
    pool      v = AdaptivePool_{s×s}(x)                     max (default) or average, s = ``pool_size``
    head      logits = W_2 Dropout(ReLU(W_1 v))

It sees the whole image at once, so it has no glimpses: :mod:`glimpse.evaluate` reports its one
prediction under every protocol that does not move a glimpse (``stochastic``, ``mean``). The
adaptive pooling makes one network fit 28×28, 60×60 and 100×100 inputs; global max pooling keeps
the strongest digit-like response wherever it sits (translated and cluttered MNIST).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from glimpse.config import derived, option
from glimpse.sensor import check_images


def parse_widths(text: str) -> tuple[int, ...]:
    """``"32,64,64"`` -> (32, 64, 64); a clear ``ValueError`` for anything else."""
    try:
        widths = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise ValueError(
            f"CNNConfig.conv_channels must be comma-separated integers such as '32,64,64', got {text!r}"
        ) from None
    if not widths or min(widths) < 1:
        raise ValueError(f"CNNConfig.conv_channels must be integers >= 1, got {text!r}")
    return widths


@dataclass
class CNNConfig:
    """Everything needed to rebuild the CNN baseline; saved inside its checkpoints."""

    height: int = derived(28, "image height in pixels (from the data)")
    width: int = derived(28, "image width in pixels (from the data)")
    channels: int = derived(1, "image channels (from the data)")
    classes: int = derived(10, "number of classes (from the data)")
    conv_channels: str = option("32,64,64", "output channels of each conv-BN-ReLU-pool block, comma-separated")
    kernel_size: int = option(3, "convolution kernel side (odd; 'same' padding)")
    batch_norm: bool = option(True, "batch normalisation after each convolution")
    pooling: Literal["max", "avg"] = option("max", "the adaptive pooling before the head: max or average")
    pool_size: int = option(1, "side s of the adaptive pooling's output (1: global pooling)")
    hidden: int = option(128, "width of the fully connected hidden layer")
    dropout: float = option(0.0, "dropout before the last layer")

    def __post_init__(self) -> None:
        for name in ("height", "width", "channels", "classes", "kernel_size", "pool_size", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"CNNConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"CNNConfig.kernel_size must be odd ('same' padding), got {self.kernel_size}")
        if self.pooling not in ("max", "avg"):
            raise ValueError(f"CNNConfig.pooling must be 'max' or 'avg', got {self.pooling!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"CNNConfig.dropout must lie in [0, 1), got {self.dropout}")
        self.widths  # noqa: B018 - parses conv_channels, raising on a bad list

    @property
    def widths(self) -> tuple[int, ...]:
        """The blocks' output channels, parsed from ``conv_channels``."""
        return parse_widths(self.conv_channels)


class CNN(nn.Module):
    """Conv-ReLU-pool blocks, adaptive pooling and two fully connected layers: ``forward(x) -> logits``."""

    def __init__(self, cfg: CNNConfig) -> None:
        super().__init__()
        self.cfg = c = cfg
        layers: list[nn.Module] = []
        last = c.channels
        for width in c.widths:
            layers.append(nn.Conv2d(last, width, c.kernel_size, padding=c.kernel_size // 2, bias=not c.batch_norm))
            if c.batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]  # odd sides round up
            last = width
        self.features = nn.Sequential(*layers)
        pool = nn.AdaptiveMaxPool2d if c.pooling == "max" else nn.AdaptiveAvgPool2d
        self.pool = pool(c.pool_size)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(last * c.pool_size**2, c.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.classes),
        )

    def forward(self, images: Tensor) -> Tensor:
        """Class logits.  images: (B, C, H, W) in [0, 1] at the config's size -> (B, classes)"""
        c = self.cfg
        images = check_images(images, c.channels, self.head[-1].weight.dtype)
        if images.shape[-2:] != (c.height, c.width):
            raise ValueError(f"model expects {c.height}×{c.width} images, got {images.shape[-2]}×{images.shape[-1]}")
        return self.head(self.pool(self.features(images)))
