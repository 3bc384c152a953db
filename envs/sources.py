"""Where the environments' pictures come from: MNIST variants for glimpsing, pictures for painting.

Data are loaded once per process and shared by every environment that asks for the same set (a
``SyncVectorEnv`` of 256 environments holds one copy), on the CPU or moved once to a device. A
process forked from the one that imported ``envs`` loads them on one torch thread
(:func:`one_thread_if_forked`).

Glimpse digits (:func:`digit_source`) follow :func:`glimpse.data.mnist_splits` exactly: ``train``
is the 55,000 training digits left after the 5,000 held out (seed 0) as ``val``; ``test`` is
MNIST's 10,000 test digits. For ``translated`` and ``cluttered`` the ``val`` and ``test`` sets are
the library's own fixed sets (materialised with seeds 1 and 2, so the environment's test set is the
one every model in the library is measured on), while every ``train`` episode places its digit
(and cuts its distractors from other training digits) afresh, from the episode's uniforms.

``dataset`` is a task name of :data:`glimpse.data.TASKS`. The kind names ``translated`` and
``cluttered`` take ``size`` and ``distractors`` as given; ``cluttered60`` and ``cluttered100``
are fixed, and other values for them are refused.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from glimpse.data import DATASETS, KINDS, TEST_SEED, VAL_SEED, ImageSet, Task, load_mnist, materialise, split, task
from glimpse.errors import UsageError
from glimpse.pictures import celeba_files, folder_pictures, load_pictures
from glimpse.variants import place

from .episodes import uniform_ints

IMPORTED_BY = os.getpid()  # the process that imported envs


def one_thread_if_forked() -> None:
    """In a process forked from the one that imported envs (the workers of gymnasium's
    AsyncVectorEnv on Linux), use one torch thread: the parent's OpenMP threads do not survive the
    fork, and the worker's first parallel operation would wait for them forever."""
    if os.getpid() != IMPORTED_BY and torch.get_num_threads() > 1:
        torch.set_num_threads(1)


DIGIT_DATASETS = DATASETS
PICTURE_DATASETS = ("celeba", "mnist", "folder")
SPLITS = ("train", "val", "test")
PATCH = task("cluttered").patch  # side of a distractor crop, px (DeepMind's mnist-cluttered)
VAL_SIZE, SEED = 5000, 0  # glimpse.data.mnist_splits' defaults


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise a :class:`UsageError` naming ``value`` unless it is one of ``choices``."""
    if value not in choices:
        raise UsageError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")


@dataclass(frozen=True)
class DigitSource:
    """Digits and labels, and how an episode's picture is made from them.

    ``images`` are uint8 (N, C, h, w). With ``fresh`` the picture is the digit placed (and, for
    ``cluttered``, cluttered) on a ``side × side`` canvas from the episode's uniforms; otherwise
    the images already are the pictures.
    """

    images: Tensor
    labels: Tensor
    dataset: str  # the kind: mnist, translated or cluttered
    side: int
    distractors: int
    fresh: bool
    patch: int = PATCH

    @property
    def draws(self) -> int:
        """Uniforms one picture needs (after the image index)."""
        if not self.fresh or self.dataset == "mnist":
            return 0
        return 2 + (5 * self.distractors if self.dataset == "cluttered" else 0)

    def to(self, device: torch.device | str) -> DigitSource:
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def levels(self, index: Tensor, u: Tensor) -> Tensor:
        """Pictures (B, C, side, side) for images ``index`` (B,) and uniforms u (B, draws), as
        float32 grey levels 0..255 (whole numbers: the environments sum them exactly).

        Distractors and the digit are added into the canvas at their pixels only (scatter-add of
        8×8 crops and of the digit), so a 100×100 cluttered batch costs about what its crops do.
        """
        x = self.images[index].float()
        if not self.fresh or self.dataset == "mnist":
            return x
        b, c, h, w = x.shape
        s = self.side
        canvas = x.new_zeros(b, c, s * s)
        p = self.patch
        for d in range(self.distractors if self.dataset == "cluttered" else 0):  # a few distractors, not samples
            v = u[:, 2 + 5 * d : 7 + 5 * d]
            src = uniform_ints(v[:, 0], len(self.labels))
            crop_at = uniform_ints(v[:, 1:3], min(h, w) - p + 1)
            crops = place(self.images[src], p, p, -crop_at).float()  # (B, C, p, p)
            _add_at(canvas, crops, uniform_ints(v[:, 3:5], s - p + 1), s)
        canvas.clamp_(max=255.0)
        _add_at(canvas, x, uniform_ints(u[:, 0:2], s - max(h, w) + 1), s)
        return canvas.clamp_(0.0, 255.0).view(b, c, s, s)


def _add_at(canvas: Tensor, pieces: Tensor, offsets: Tensor, side: int) -> None:
    """Add pieces (B, C, h, w) into flat canvases (B, C, side²) with their top-left pixel at
    ``offsets`` (B, 2) = (top, left), inside the canvas."""
    b, c, h, w = pieces.shape
    rows = offsets[:, :1] + torch.arange(h, device=pieces.device)  # (B, h)
    cols = offsets[:, 1:] + torch.arange(w, device=pieces.device)  # (B, w)
    flat = (rows[:, :, None] * side + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    canvas.scatter_add_(2, flat, pieces.reshape(b, c, h * w))


def _as_imageset(images: object) -> ImageSet:
    """Injected digits: an ImageSet or an (images, labels) pair, images uint8 or float in [0, 1]."""
    if isinstance(images, ImageSet):
        data = images
    elif isinstance(images, tuple | list) and len(images) == 2:
        data = ImageSet(torch.as_tensor(images[0]), torch.as_tensor(images[1]))
    else:
        raise UsageError(f"images must be an ImageSet or an (images, labels) pair, got {type(images).__name__}")
    x = data.images
    if x.dim() != 4 or len(x) == 0 or len(data.labels) != len(x):
        raise UsageError(f"images must be (N, C, H, W) with N labels, got {tuple(x.shape)} and {len(data.labels)}")
    if x.is_floating_point():
        x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return ImageSet(x.to(torch.uint8), data.labels.long())


def digit_source(
    dataset: str,
    split_name: str,
    data_root: str | os.PathLike[str] | None,
    size: int,
    distractors: int,
    download: bool,
    images: object = None,
) -> DigitSource:
    """The digits of a glimpse environment (cached per process; ``images`` bypass the cache)."""
    one_thread_if_forked()
    check_choice("split", split_name, SPLITS)
    t = env_task(dataset, size, distractors)
    if images is not None:
        data = _as_imageset(images)
        digit = data.images.shape[-1]
        if t.kind == "mnist":
            t = replace(t, size=digit)
        t.check_digits(digit)
        return _source(t, data, True)
    root = str(data_root) if data_root is not None else None
    return _cached_digits(t, split_name, root, download)


def env_task(dataset: str, size: int, distractors: int) -> Task:
    """The task of an environment's ``dataset``, ``size`` and ``distractors`` (see the module's note)."""
    check_choice("dataset", dataset, DIGIT_DATASETS)
    t = task(dataset)
    if t.kind == "mnist":
        return t
    if dataset in KINDS:  # translated, cluttered: any canvas
        return task(t, size=size, distractors=distractors if t.kind == "cluttered" else 0)
    if (size, distractors) != (t.size, t.distractors):
        raise UsageError(
            f"dataset {dataset!r} is {t.size}×{t.size} with {t.distractors} distractors, but size={size}, "
            f"distractors={distractors} were given: pass size={t.size}, distractors={t.distractors}, or "
            f"dataset={t.kind!r} for another canvas"
        )
    return t


def _source(t: Task, data: ImageSet, fresh: bool) -> DigitSource:
    return DigitSource(data.images, data.labels, t.kind, t.size, t.distractors, fresh, t.patch)


@functools.lru_cache(maxsize=8)
def _cached_digits(t: Task, split_name: str, root: str | None, download: bool) -> DigitSource:
    t.check_digits(28)
    if split_name == "test":
        data, seed = load_mnist(root, train=False, download=download), SEED + TEST_SEED
    else:
        train, val = split(load_mnist(root, train=True, download=download), VAL_SIZE, SEED)
        if split_name == "train":
            return _source(t, train, True)
        data, seed = val, SEED + VAL_SEED
    return _source(t, materialise(data, t.variant(data), seed), False)


def folder_splits(files: list[Path]) -> dict[str, list[Path]]:
    """A folder's splits: its last tenth (at least one picture) is the test set, as
    ``train.paint --dataset folder`` holds it out, and the last tenth of the rest is the validation set."""
    test_cut = max(1, len(files) // 10) if len(files) > 1 else 0
    rest, test = files[: len(files) - test_cut], files[len(files) - test_cut :]
    val_cut = max(1, len(rest) // 10) if len(rest) > 1 else 0
    return {"train": rest[: len(rest) - val_cut], "val": rest[len(rest) - val_cut :], "test": test}


def picture_source(
    dataset: str,
    split_name: str,
    data_root: str | os.PathLike[str] | None,
    size: int,
    channels: int,
    download: bool,
    folder: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    pictures: Tensor | None = None,
) -> Tensor:
    """The pictures of a painting environment: uint8 (N, C, size, size) (cached per process)."""
    one_thread_if_forked()
    check_choice("dataset", dataset, PICTURE_DATASETS)
    if channels not in (1, 3):
        raise UsageError(f"channels must be 1 or 3, got {channels!r}")
    if pictures is not None:
        return _injected_pictures(pictures, size, channels)
    check_choice("split", split_name, (*SPLITS, "all"))
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be a positive number of pictures, got {limit!r}")
    root = str(data_root) if data_root is not None else None
    folder = str(folder) if folder is not None else None
    return _cached_pictures(dataset, split_name, root, size, channels, download, folder, limit)


def _injected_pictures(pictures: Tensor, size: int, channels: int) -> Tensor:
    x = torch.as_tensor(pictures)
    if x.dim() != 4 or len(x) == 0 or x.shape[1] != channels:
        raise UsageError(f"pictures must be (N, {channels}, H, W), got {tuple(x.shape)}")
    if x.is_floating_point():
        x = (x.clamp(0, 1) * 255).round()
    return _resize_uint8(x.to(torch.uint8), size)


def _resize_uint8(x: Tensor, size: int) -> Tensor:
    if x.shape[-2:] == (size, size):
        return x.contiguous()
    y = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True)
    return y.round().clamp(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=8)
def _cached_pictures(
    dataset: str,
    split_name: str,
    root: str | None,
    size: int,
    channels: int,
    download: bool,
    folder: str | None,
    limit: int | None,
) -> Tensor:
    if dataset == "mnist":
        if split_name == "all":
            split_name = "train"
        data = load_mnist(root, train=split_name != "test", download=download)
        if split_name != "test":
            train, val = split(data, VAL_SIZE, SEED)
            data = train if split_name == "train" else val
        x = data.images[:limit] if limit else data.images
        x = _resize_uint8(x, size)
        return x.expand(-1, channels, -1, -1).contiguous()
    if dataset == "celeba":
        train, test = celeba_files(root)
        files = {"train": train[:-500], "val": train[-500:], "test": test, "all": train + test}[split_name]
    else:
        if folder is None:
            raise UsageError("the folder dataset needs folder=DIR (a folder of pictures)")
        every = folder_pictures(folder)
        files = {**folder_splits(every), "all": every}[split_name]
        if not files:
            raise UsageError(f"the folder {folder} has no pictures for split {split_name!r}; use split='all'")
    files = files[:limit] if limit else files
    return load_pictures(files, size, channels, progress=False)
