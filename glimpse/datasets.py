"""Translated and cluttered MNIST as torchvision-style datasets, fixed by a seed.

Like ``torchvision.datasets.MNIST``, an item is ``(image, target)``: a PIL ``L`` image (H × W,
0..255) and an ``int`` label, each passed through ``transform`` / ``target_transform`` when given
(``torchvision.transforms.ToTensor()`` gives (1, H, W) floats in [0, 1]). ``targets`` holds every
label. Images are made lazily, a chunk of :data:`glimpse.data.CHUNK` at a time in one batched call
of :mod:`glimpse.variants`, each chunk from its own seed, so image ``i`` is the same whichever
images were asked for before it; made chunks are kept as uint8 (``cache`` chunks at most; all of
them, by default: 60,000 images of 60×60 are 216 MB, of 100×100 600 MB).

``train=False`` is exactly the test set that ``python -m train.ram --dataset TASK --seed SEED``
reports (``glimpse.data.mnist_splits(root, TASK, seed=SEED).test``): MNIST's 10,000 test digits
with distractors cut from test digits. ``train=True`` is all 60,000 training digits, made once
with ``seed`` and distractors cut from training digits (train.ram itself makes fresh training
images every batch and holds 5,000 digits out for validation).

>>> from torchvision.transforms import ToTensor
>>> test = ClutteredMNIST("../shared/data", train=False, transform=ToTensor())  # doctest: +SKIP
>>> image, label = test[0]  # doctest: +SKIP
>>> image.shape, label  # doctest: +SKIP
(torch.Size([1, 60, 60]), 7)
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from glimpse.data import CHUNK, TEST_SEED, Task, load_mnist, materialise_chunk, task

__all__ = ["ClutteredMNIST", "GlimpseMNIST", "TranslatedMNIST"]


class GlimpseMNIST(Dataset):
    """MNIST made into the images of a glimpse task (a name of :data:`glimpse.data.TASKS` or a
    :class:`glimpse.data.Task`; ``size``, ``distractors`` and ``patch`` change it), fixed by ``seed``.

    ``download`` fetches MNIST into ``root/MNIST/raw`` when it is missing (``root``: the argument,
    else ``$GLIMPSE_DATA``, else ``./data``). :meth:`images` gives a range of images as one uint8
    tensor, without PIL.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        download: bool = False,
        task_name: str | Task = "translated",
        seed: int = 0,
        size: int | None = None,
        distractors: int | None = None,
        patch: int | None = None,
        cache: int | None = None,
    ) -> None:
        self.task = task(task_name, size=size, distractors=distractors, patch=patch)
        if cache is not None and cache < 1:
            raise ValueError(f"cache must be a number of chunks >= 1 or None, got {cache}")
        self.digits = load_mnist(root, train=train, download=download)
        self.task.check_digits(self.digits.images.shape[-1])
        self.train, self.seed, self.cache = train, seed, cache
        self.transform, self.target_transform = transform, target_transform
        self.targets = self.digits.labels
        self._variant = self.task.variant(self.digits)
        self._seed = seed if train else seed + TEST_SEED  # the test set train.ram reports for this seed
        self._chunks: OrderedDict[int, Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self.digits)

    def chunk(self, k: int) -> Tensor:
        """Images ``k * CHUNK ...`` as uint8 (n, 1, S, S), made once and kept (``cache``)."""
        if self._variant is None:
            return self.digits.images[k * CHUNK : (k + 1) * CHUNK]
        if k in self._chunks:
            self._chunks.move_to_end(k)
            return self._chunks[k]
        images = materialise_chunk(self.digits, self._variant, self._seed, k)
        self._chunks[k] = images
        if self.cache is not None and len(self._chunks) > self.cache:
            self._chunks.popitem(last=False)
        return images

    def images(self, start: int = 0, stop: int | None = None) -> Tensor:
        """Images ``start .. stop - 1`` as one uint8 tensor (n, 1, S, S)."""
        start, stop, _ = slice(start, stop).indices(len(self))
        if stop <= start:
            return self.chunk(0)[:0]
        parts = [self.chunk(k) for k in range(start // CHUNK, (stop - 1) // CHUNK + 1)]
        lo = start % CHUNK
        return torch.cat(parts)[lo : lo + stop - start]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is outside the {n} images")
        index %= n
        pixels = self.chunk(index // CHUNK)[index % CHUNK, 0]
        image: Any = Image.fromarray(pixels.numpy())
        target: Any = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        what = f"{self.task.name}: {self.task.describe()}"
        return f"{type(self).__name__}({what}; {split}, {len(self)} images, seed {self.seed})"


class TranslatedMNIST(GlimpseMNIST):
    """Each MNIST digit at a random place of a ``size × size`` black canvas (60: the paper's)."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        download: bool = False,
        size: int = 60,
        seed: int = 0,
        cache: int | None = None,
    ) -> None:
        super().__init__(root, train, transform, target_transform, download, "translated", seed, size, cache=cache)


class ClutteredMNIST(GlimpseMNIST):
    """Translated MNIST with ``distractors`` random ``patch × patch`` crops of other digits of the
    same split (60×60 with 4: the paper's ``cluttered60``; 100×100 with 8: ``cluttered100``)."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        download: bool = False,
        size: int = 60,
        distractors: int = 4,
        patch: int = 8,
        seed: int = 0,
        cache: int | None = None,
    ) -> None:
        name = "cluttered100" if size >= 100 else "cluttered60"  # the paper's retina for the canvas
        super().__init__(
            root, train, transform, target_transform, download, name, seed, size, distractors, patch, cache
        )
