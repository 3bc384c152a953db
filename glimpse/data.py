"""Data: the data root, MNIST held in memory, train/validation/test splits and fast batching.

The data root is, in order: the ``root`` argument (``--data-root``), the ``GLIMPSE_DATA``
environment variable, then ``./data``. MNIST uses torchvision's layout (``ROOT/MNIST/raw``) and
is downloaded there when it is missing and ``download`` is allowed. MNIST files that are there but
truncated or not IDX files of the right kind raise :class:`DataError` naming the file and what is
wrong with it; "not found" is said only when the files are absent.

Images stay in memory as uint8 (60,000 MNIST digits are 47 MB) and are turned into float
batches on demand, so an epoch is a permutation and some indexing, with no worker processes.

The glimpse tasks (Mnih et al. 2014) are one registry, :data:`TASKS`, of :class:`Task`: how the
images are made (plain, translated or cluttered MNIST on a canvas) and the paper's retina and
glimpse count for them. ``task(name)`` resolves a name (``cluttered`` is ``cluttered60``).
Training images are made afresh every batch; validation and test sets are made once, chunk by
chunk, each chunk from its own seed (:func:`materialise`), with distractors cut from digits of
their own split.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import torch
from torch import Tensor

from glimpse.errors import UsageError
from glimpse.variants import clutter, translate

DATA_ENV = "GLIMPSE_DATA"
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


class Variant(Protocol):
    """A task's image maker: (digits (B, C, 28, 28) float, generator, offsets=None) -> canvases."""

    def __call__(self, images: Tensor, generator: torch.Generator | None, offsets: Tensor | None = None) -> Tensor: ...


Kind = Literal["mnist", "translated", "cluttered"]
KINDS: tuple[str, ...] = ("mnist", "translated", "cluttered")
DIGIT = 28  # MNIST's side, px


@dataclass(frozen=True)
class Task:
    """A glimpse task: how its images are made, and the paper's retina and glimpse count for it.

    ``kind`` is ``mnist`` (the 28×28 digits as they are), ``translated`` (each digit at a random
    place of a ``size × size`` canvas) or ``cluttered`` (also ``distractors`` random ``patch ×
    patch`` crops of other digits of the same split). ``glimpse_size``, ``scales`` and
    ``glimpses`` are the retina (g, k) and T of Mnih et al. 2014 for the task. A bad combination
    raises :class:`UsageError` saying what to change.
    """

    name: str
    kind: Kind
    size: int  # canvas side, px (plain MNIST: the digits' own side)
    distractors: int = 0
    patch: int = 8
    glimpse_size: int = 8
    scales: int = 1
    glimpses: int = 6

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"task {self.name!r}: unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        for name in ("size", "patch", "glimpse_size", "scales", "glimpses"):
            if getattr(self, name) < 1:
                raise UsageError(f"task {self.name!r}: {name} must be >= 1, got {getattr(self, name)}")
        if self.distractors < 0:
            raise UsageError(f"task {self.name!r}: distractors must be >= 0, got {self.distractors}")
        problems = []
        if self.kind != "cluttered" and self.distractors:
            problems.append(f"{self.distractors} distractors need a cluttered task, not {self.kind!r}: use 0")
        if self.clutters and self.patch > self.size:
            problems.append(
                f"distractor patches of {self.patch}×{self.patch} are larger than the {self.size}×{self.size} "
                f"canvas: use a patch of at most {self.size}"
            )
        if problems:
            raise UsageError(f"task {self.name!r}: " + "; ".join(problems))
        self.check_retina(self.glimpse_size)

    @property
    def clutters(self) -> bool:
        """Whether the task adds distractors."""
        return self.kind == "cluttered" and self.distractors > 0

    def describe(self) -> str:
        """The images and the retina: ``60×60, 4 distractors of 8×8; 8 glimpses of 12×12 at 3 scales``."""
        clutter = f", {self.distractors} distractors of {self.patch}×{self.patch}" if self.clutters else ""
        return (
            f"{self.size}×{self.size}{clutter}; {self.glimpses} glimpses of {self.glimpse_size}×{self.glimpse_size}"
            f" at {self.scales} scale{'s' if self.scales > 1 else ''}"
        )

    def check_retina(self, glimpse_size: int, flag: str = "glimpse_size") -> None:
        """Refuse a retina whose smallest patch (``glimpse_size``) is larger than the images."""
        if glimpse_size > self.size:
            raise UsageError(
                f"task {self.name!r}: glimpses of {glimpse_size}×{glimpse_size} are larger than its "
                f"{self.size}×{self.size} images; pass {flag} {self.size} or less"
            )

    def check_digits(self, digit: int = DIGIT) -> None:
        """Refuse a canvas smaller than the ``digit × digit`` digits, or distractor patches larger
        than them (plain MNIST keeps the digits' own size)."""
        problems = []
        if self.kind == "mnist" and self.size != digit:
            problems.append(
                f"plain MNIST keeps the {digit}×{digit} digits, not a {self.size}×{self.size} canvas: "
                "use a translated task for a larger canvas"
            )
        if self.kind != "mnist" and self.size < digit:
            problems.append(
                f"the {self.size}×{self.size} canvas is smaller than the {digit}×{digit} digits: "
                f"use a size of at least {digit}"
            )
        if self.clutters and self.patch > digit:
            problems.append(
                f"distractor patches of {self.patch}×{self.patch} are larger than the {digit}×{digit} digits "
                f"they are cut from: use a patch of at most {digit}"
            )
        if problems:
            raise UsageError(f"task {self.name!r}: " + "; ".join(problems))

    def variant(self, pool: ImageSet | Tensor | None = None) -> Variant | None:
        """The per-batch transform (float images, generator[, offsets]) -> images: None for plain
        MNIST. ``offsets`` ((B, 2) long, top-left of each digit) places the digits instead of the
        generator. Cluttered tasks cut distractors from ``pool`` (digits of the same split, kept
        as they are: uint8 stays uint8)."""
        if self.kind == "mnist":
            return None
        size = self.size
        if self.kind == "translated":
            return lambda x, g, offsets=None: translate(x, size, g, offsets)
        if pool is None:
            raise ValueError(f"task {self.name!r} needs a pool of digits to cut distractors from")
        digits = pool.images if isinstance(pool, ImageSet) else pool
        self.check_digits(min(digits.shape[-2:]))
        n, p = self.distractors, self.patch
        return lambda x, g, offsets=None: clutter(x, digits, size, n, p, g, offsets)


TASKS: dict[str, Task] = {
    t.name: t
    for t in (  # Mnih et al. 2014, tables 1 and 2
        Task("mnist", "mnist", DIGIT, glimpse_size=8, scales=1, glimpses=6),
        Task("translated", "translated", 60, glimpse_size=12, scales=3, glimpses=8),
        Task("cluttered60", "cluttered", 60, distractors=4, patch=8, glimpse_size=12, scales=3, glimpses=8),
        Task("cluttered100", "cluttered", 100, distractors=8, patch=8, glimpse_size=12, scales=4, glimpses=8),
    )
}
ALIASES: dict[str, str] = {"cluttered": "cluttered60"}  # the name runs before cluttered100 used
DATASETS: tuple[str, ...] = (*TASKS, *ALIASES)


def task(name: str | Task, **changes: int | None) -> Task:
    """The task called ``name`` (an alias resolved), with any ``changes`` not None applied
    (``task("translated", size=80)``); an unknown name raises :class:`UsageError` listing them."""
    if isinstance(name, Task):
        t = name
    elif ALIASES.get(name, name) in TASKS:
        t = TASKS[ALIASES.get(name, name)]
    else:
        names = ", ".join(TASKS) + "".join(f"; {a!r} is {b!r}" for a, b in ALIASES.items())
        raise UsageError(f"unknown task {name!r}; choose one of {names}")
    changes = {k: v for k, v in changes.items() if v is not None and v != getattr(t, k)}
    return dataclasses.replace(t, **changes) if changes else t


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


def make_variant(
    name: str | Task,
    pool: ImageSet | Tensor | None = None,
    size: int | None = None,
    distractors: int | None = None,
    patch: int | None = None,
) -> Variant | None:
    """The per-batch transform of a task (:meth:`Task.variant`): None for plain MNIST."""
    return task(name, size=size, distractors=distractors, patch=patch).variant(pool)


CHUNK = 1000  # images per chunk of a fixed set; every chunk has its own seed
VAL_SEED, TEST_SEED = 1, 2  # a run seeded s fixes its validation set with s + 1, its test set with s + 2
_MASK64 = 2**64 - 1


def chunk_seed(seed: int, chunk: int) -> int:
    """The generator seed of chunk ``chunk`` of a fixed set made with ``seed`` (SplitMix64 of both),
    so any chunk can be made on its own."""
    x = (seed * 0x9E3779B97F4A7C15 + chunk + 1) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) >> 1  # 63 bits: a valid torch seed


def materialise_chunk(data: ImageSet, variant: Variant, seed: int, chunk: int, batch_size: int = CHUNK) -> Tensor:
    """Images ``chunk * batch_size ...`` of ``materialise(data, variant, seed, batch_size)`` as uint8,
    made without the others."""
    lo = chunk * batch_size
    if not (0 <= lo < len(data) or chunk == 0):  # chunk 0 of an empty set is empty
        raise IndexError(f"chunk {chunk} is outside the {len(data)} images ({batch_size} a chunk)")
    x = data.float_images(slice(lo, lo + batch_size))
    out = variant(x, torch.Generator().manual_seed(chunk_seed(seed, chunk)))
    return out.mul_(255).round_().to(torch.uint8)


def materialise(data: ImageSet, variant: Variant | None, seed: int, batch_size: int = CHUNK) -> ImageSet:
    """Apply a variant once with a fixed seed (validation and test sets stay the same every time).
    Chunk k of ``batch_size`` images is made with its own generator, seeded ``chunk_seed(seed, k)``."""
    if variant is None:
        return data
    chunks = range(max(1, -(-len(data) // batch_size)))
    images = torch.cat([materialise_chunk(data, variant, seed, k, batch_size) for k in chunks])
    return ImageSet(images, data.labels)


@dataclass
class Splits:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    variant: Variant | None  # applied to every training batch with fresh randomness
    val_digits: ImageSet | None = None  # the validation digits before the task placed them


def mnist_splits(
    root: str | os.PathLike[str] | None = None,
    dataset: str | Task = "mnist",
    val_size: int = 5000,
    seed: int = 0,
    download: bool = True,
    size: int | None = None,
    distractors: int | None = None,
    patch: int | None = None,
) -> Splits:
    """Train / validation (held out of the 60,000 training digits) / test, for a task (a name
    from :data:`DATASETS` or a :class:`Task`; ``size``, ``distractors``, ``patch`` change it).

    The validation and test sets are made once, with seeds ``seed + 1`` and ``seed + 2``, their
    distractors cut from their own digits; ``variant`` makes training images afresh per batch,
    with distractors cut from the training digits.
    """
    t = task(dataset, size=size, distractors=distractors, patch=patch)
    t.check_digits(DIGIT)
    full = load_mnist(root, train=True, download=download)
    test = load_mnist(root, train=False, download=download)
    train, val = split(full, val_size, seed)
    return Splits(
        train,
        materialise(val, t.variant(val), seed + VAL_SEED),
        materialise(test, t.variant(test), seed + TEST_SEED),
        t.variant(train),
        val,
    )


def binarise(data: ImageSet, seed: int) -> ImageSet:
    """Bernoulli-sample the grey levels once with a fixed seed (validation and test)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.bernoulli(data.images.float() / 255.0, generator=g)
    return ImageSet(x.to(torch.uint8) * 255, data.labels)
