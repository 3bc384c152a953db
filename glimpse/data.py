"""Data: the data root, MNIST held in memory, train/validation/test splits and fast batching.

The data root is, in order: the ``root`` argument (``--data-root``), the ``GLIMPSE_DATA``
environment variable, then ``./data``. MNIST uses torchvision's layout (``ROOT/MNIST/raw``) and
is downloaded there when it is missing and ``download`` is allowed.

Images stay in memory as uint8 (60,000 MNIST digits are 47 MB) and are turned into float
batches on demand, so an epoch is a permutation and some indexing, with no worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from glimpse.variants import clutter, translate

DATA_ENV = "GLIMPSE_DATA"
DATASETS = ("mnist", "translated", "cluttered")


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GLIMPSE_DATA``, else ``./data``."""
    return Path(root or os.environ.get(DATA_ENV) or "data").expanduser()


@dataclass
class ImageSet:
    """Images (N, C, H, W) as uint8 or float in [0, 1], with integer labels (N,)."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> ImageSet:
        """The same set held on ``device`` (move a training set to the GPU once, not per batch)."""
        return ImageSet(self.images.to(device), self.labels.to(device))

    def float_images(self, index: Tensor | slice, device: torch.device | str = "cpu") -> Tensor:
        x = self.images[index].to(device, non_blocking=True)
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        drop_last: bool = False,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield (float images, labels) on ``device``; a fresh permutation when ``shuffle``."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for i in range(0, stop, batch_size):
            idx = order[i : i + batch_size].to(self.images.device)
            yield self.float_images(idx, device), self.labels[idx].to(device, non_blocking=True)


def load_mnist(root: str | os.PathLike[str] | None = None, train: bool = True, download: bool = True) -> ImageSet:
    """MNIST's training (60,000) or test (10,000) digits as uint8 (N, 1, 28, 28)."""
    from torchvision.datasets import MNIST  # imported here: only the data layer needs torchvision

    path = data_root(root)
    try:
        ds = MNIST(str(path), train=train, download=download)
    except (RuntimeError, OSError) as err:  # not found, or the download failed
        raise FileNotFoundError(
            f"MNIST not found under {path.resolve()} (expected {path / 'MNIST' / 'raw'}/*-ubyte)"
            + (" and it could not be downloaded" if download else "")
            + f". Pass --data-root DIR or set {DATA_ENV}=DIR to a folder that holds MNIST/raw. ({err})"
        ) from err
    return ImageSet(ds.data.unsqueeze(1).contiguous(), ds.targets.clone())


def split(data: ImageSet, val_size: int, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Hold out ``val_size`` images chosen by a fixed seed: (train, validation)."""
    if not 0 <= val_size < len(data):
        raise ValueError(f"val_size must be in [0, {len(data)}), got {val_size}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    tr, va = order[val_size:].sort().values, order[:val_size].sort().values
    return ImageSet(data.images[tr], data.labels[tr]), ImageSet(data.images[va], data.labels[va])


Variant = Callable[[Tensor, torch.Generator | None], Tensor]


def make_variant(name: str, pool: ImageSet | None = None, size: int = 60, distractors: int = 4) -> Variant | None:
    """The per-batch transform of a dataset name: None for plain MNIST."""
    if name == "mnist":
        return None
    if name == "translated":
        return lambda x, g: translate(x, size, g)
    if name == "cluttered":
        if pool is None:
            raise ValueError("the cluttered variant needs a pool of digits to cut distractors from")
        digits = pool.float_images(slice(None))
        return lambda x, g: clutter(x, digits, size, distractors, generator=g)
    raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")


def materialise(data: ImageSet, variant: Variant | None, seed: int, batch_size: int = 1000) -> ImageSet:
    """Apply a variant once with a fixed seed (validation and test sets stay the same every time)."""
    if variant is None:
        return data
    g = torch.Generator().manual_seed(seed)
    out = [variant(x, g) for x, _ in data.batches(batch_size)]
    images = (torch.cat(out) * 255).round().to(torch.uint8)
    return ImageSet(images, data.labels)


@dataclass
class Splits:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    variant: Variant | None  # applied to every training batch with fresh randomness


def mnist_splits(
    root: str | os.PathLike[str] | None = None,
    dataset: str = "mnist",
    val_size: int = 5000,
    seed: int = 0,
    download: bool = True,
    size: int = 60,
    distractors: int = 4,
) -> Splits:
    """Train / validation (held out of the 60,000 training digits) / test, for a dataset name."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    full = load_mnist(root, train=True, download=download)
    test = load_mnist(root, train=False, download=download)
    train, val = split(full, val_size, seed)
    train_variant = make_variant(dataset, train, size, distractors)
    return Splits(
        train,
        materialise(val, make_variant(dataset, val, size, distractors), seed + 1),
        materialise(test, make_variant(dataset, test, size, distractors), seed + 2),
        train_variant,
    )
