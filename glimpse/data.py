"""Data: the data root, MNIST held in memory, train/validation/test splits and fast batching.

The data root is, in order: the ``root`` argument (``--data-root``), the ``GLIMPSE_DATA``
environment variable, then ``./data``. MNIST uses torchvision's layout (``ROOT/MNIST/raw``) and
is downloaded there when it is missing and ``download`` is allowed. MNIST files that are there but
truncated or not IDX files of the right kind raise :class:`DataError` naming the file and what is
wrong with it; "not found" is said only when the files are absent.

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

from glimpse.errors import UsageError
from glimpse.variants import clutter, translate

DATA_ENV = "GLIMPSE_DATA"
DATASETS = ("mnist", "translated", "cluttered")
IDX_IMAGES, IDX_LABELS = 2051, 2049  # magic numbers of IDX image and label files
MNIST_FILES: dict[bool, tuple[tuple[str, int, int], ...]] = {  # train? -> (name, magic, bytes)
    True: (
        ("train-images-idx3-ubyte", IDX_IMAGES, 16 + 60_000 * 28 * 28),  # 47,040,016
        ("train-labels-idx1-ubyte", IDX_LABELS, 8 + 60_000),
    ),
    False: (
        ("t10k-images-idx3-ubyte", IDX_IMAGES, 16 + 10_000 * 28 * 28),  # 7,840,016
        ("t10k-labels-idx1-ubyte", IDX_LABELS, 8 + 10_000),
    ),
}


class DataError(UsageError):
    """Data that is there but unusable: a truncated or foreign file."""


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


def check_mnist_files(raw: Path, train: bool = True) -> bool:
    """Whether MNIST's ``train`` (or test) files are present in ``raw`` (``ROOT/MNIST/raw``).

    A file that is present but has the wrong size or magic number raises :class:`DataError`
    naming it, with what was expected and what was found; absent files return False.
    """
    present = False
    for name, magic, size in MNIST_FILES[train]:
        path = raw / name
        if not path.exists():
            continue
        present = True
        if not path.is_file():
            raise DataError(f"MNIST file {path} is not a file")
        found = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(4)
        found_magic = int.from_bytes(head, "big") if len(head) == 4 else None
        kind = "images" if magic == IDX_IMAGES else "labels"
        if found_magic != magic:
            raise DataError(
                f"MNIST file {path} is not an IDX {kind} file: magic number expected {magic}, found "
                f"{found_magic if found_magic is not None else 'none (' + str(found) + ' bytes)'}; "
                "delete it to download MNIST again"
            )
        if found != size:
            raise DataError(
                f"MNIST file {path} is {'truncated' if found < size else 'too long'}: expected {size:,} bytes, "
                f"found {found:,}; delete it to download MNIST again"
            )
    return present and all((raw / name).is_file() for name, _, _ in MNIST_FILES[train])


def load_mnist(root: str | os.PathLike[str] | None = None, train: bool = True, download: bool = True) -> ImageSet:
    """MNIST's training (60,000) or test (10,000) digits as uint8 (N, 1, 28, 28).

    The IDX files are checked (:func:`check_mnist_files`) and read here; torchvision only
    downloads them when they are absent and ``download`` is allowed. Absent files that cannot be
    downloaded raise ``FileNotFoundError`` saying how to pass a data root.
    """
    path = data_root(root)
    raw = path / "MNIST" / "raw"
    if not check_mnist_files(raw, train):
        reason = ""
        if download:
            from torchvision.datasets import MNIST  # imported here: only downloading needs torchvision

            try:
                MNIST(str(path), train=train, download=True)
            except (RuntimeError, OSError) as err:
                reason = f" and it could not be downloaded ({' '.join(str(err).split())})"
        if not check_mnist_files(raw, train):
            raise FileNotFoundError(
                f"MNIST not found under {path.resolve()} (expected {raw}/{MNIST_FILES[train][0][0]} and "
                f"{MNIST_FILES[train][1][0]}){reason if download else ''}. Pass --data-root DIR or set "
                f"{DATA_ENV}=DIR to a folder that holds MNIST/raw."
            )
    (images_file, _, _), (labels_file, _, _) = MNIST_FILES[train]
    images = torch.frombuffer(bytearray((raw / images_file).read_bytes()), dtype=torch.uint8, offset=16)
    labels = torch.frombuffer(bytearray((raw / labels_file).read_bytes()), dtype=torch.uint8, offset=8)
    return ImageSet(images.view(-1, 1, 28, 28), labels.long())


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


def binarise(data: ImageSet, seed: int) -> ImageSet:
    """Bernoulli-sample the grey levels once with a fixed seed (validation and test)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.bernoulli(data.images.float() / 255.0, generator=g)
    return ImageSet(x.to(torch.uint8) * 255, data.labels)
