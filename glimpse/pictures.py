"""Pictures for the painter: one image file, a folder of images, CelebA faces, MNIST digits.

Every picture becomes a square RGB (or greyscale) uint8 tensor, resized without cropping (faces
are squeezed to a square, as in the published painting protocol). Pictures with an alpha channel
or a single channel are converted to RGB, flattened on white, and the loader says so.

CelebA (``ROOT/celeba/img_align_celeba/000001.jpg`` ...): IDs 000001-002000 are the test set and
the rest train, as in Learning to Paint's protocol. CelebA is for non-commercial research only.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from tqdm import tqdm

from glimpse.data import DATA_ENV, ImageSet, data_root, load_mnist

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CELEBA_DIR = Path("celeba") / "img_align_celeba"
CELEBA_TEST_IDS = 2000  # IDs 1..2000


class PictureError(ValueError):
    """A file that is not a readable picture, or a bad size."""


def to_rgb_array(img: Image.Image, name: str = "image", quiet: bool = False) -> Image.Image:
    """An RGB PIL image: alpha is flattened on white, greyscale and palettes are expanded."""
    if img.mode == "RGB":
        return img
    if not quiet:
        warnings.warn(f"{name}: {img.mode} picture converted to RGB (transparency flattened on white)", stacklevel=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img).convert("RGB")
    return img.convert("RGB")


def load_picture(
    path: str | os.PathLike[str],
    size: int,
    channels: int = 3,
    quiet: bool = False,
    crop: tuple[int, int, int, int] | None = None,
) -> Tensor:
    """One picture as a float (C, S, S) tensor in [0, 1], resized to S×S (after an optional
    ``crop`` box: left, top, right, bottom in the picture's pixels)."""
    return load_pictures([path], size, channels, quiet=quiet, progress=False, crop=crop).float().div(255)[0]


def load_pictures(
    paths: list[str | os.PathLike[str]] | list[Path],
    size: int,
    channels: int = 3,
    quiet: bool = True,
    progress: bool = True,
    crop: tuple[int, int, int, int] | None = None,
) -> Tensor:
    """Pictures as uint8 (N, C, S, S), each resized to S×S (area-averaged) without cropping
    (unless a ``crop`` box is given: left, top, right, bottom pixels, applied to every picture)."""
    if size < 1:
        raise PictureError(f"picture size must be a positive number of pixels, got {size}")
    if channels not in (1, 3):
        raise PictureError(f"channels must be 1 or 3, got {channels}")
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, p in enumerate(tqdm(paths, desc="pictures", disable=not progress, leave=False)):
        p = Path(p)
        if not p.is_file():
            raise PictureError(f"{p}: no such picture")
        try:
            with Image.open(p) as img:
                img.load()
                rgb = to_rgb_array(img, p.name, quiet)
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise PictureError(f"{p}: not a readable image ({err})") from err
        if crop is not None:
            left, top, right, bottom = crop
            if not (0 <= left < right <= rgb.width and 0 <= top < bottom <= rgb.height):
                raise PictureError(f"{p}: crop box {tuple(crop)} is not inside its {rgb.width}×{rgb.height} pixels")
            rgb = rgb.crop((left, top, right, bottom))
        out[i] = np.asarray(rgb.resize((size, size), Image.BOX if min(rgb.size) >= size else Image.BICUBIC))
    x = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    if channels == 1:
        x = (x.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return x


def folder_pictures(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files in a folder (sorted by name); a clear error for a missing or empty folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of pictures")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{folder} holds no pictures ({', '.join(IMAGE_SUFFIXES)})")
    return files


def celeba_files(root: str | os.PathLike[str] | None = None) -> tuple[list[Path], list[Path]]:
    """(train, test) CelebA file lists under the data root: test is IDs 000001-002000."""
    folder = data_root(root) / CELEBA_DIR
    if not folder.is_dir():
        raise FileNotFoundError(
            f"CelebA not found: expected {folder}/000001.jpg ... (aligned faces). CelebA cannot be "
            f"downloaded automatically; fetch img_align_celeba and pass --data-root DIR or set {DATA_ENV}=DIR "
            "to the folder holding celeba/img_align_celeba."
        )
    files = folder_pictures(folder)
    test = [p for p in files if p.stem.isdigit() and int(p.stem) <= CELEBA_TEST_IDS]
    train = [p for p in files if not (p.stem.isdigit() and int(p.stem) <= CELEBA_TEST_IDS)]
    return train, test


def picture_splits(
    dataset: str,
    size: int,
    root: str | os.PathLike[str] | None = None,
    folder: str | os.PathLike[str] | None = None,
    val_size: int = 500,
    limit: int | None = None,
    progress: bool = True,
) -> tuple[ImageSet, ImageSet, ImageSet]:
    """(train, validation, test) pictures for ``celeba``, ``mnist`` or ``folder``.

    The validation pictures are the last ``val_size`` training pictures (model selection);
    ``folder`` holds out its last tenth as the test set.
    """
    if dataset == "mnist":
        train, test = load_mnist(root, True), load_mnist(root, False)
        resize = (lambda x: x) if size == 28 else (lambda x: _resize_uint8(x, size))
        train, test = ImageSet(resize(train.images), train.labels), ImageSet(resize(test.images), test.labels)
    else:
        if dataset == "celeba":
            train_files, test_files = celeba_files(root)
        elif dataset == "folder":
            if folder is None:
                raise ValueError("--dataset folder needs --folder DIR")
            files = folder_pictures(folder)
            cut = max(1, len(files) // 10)
            train_files, test_files = files[:-cut], files[-cut:]
        else:
            raise ValueError(f"unknown picture dataset {dataset!r}; choose celeba, mnist or folder")
        if limit:
            train_files = train_files[: limit + val_size]
        train = _unlabelled(load_pictures(train_files, size, progress=progress))
        test = _unlabelled(load_pictures(test_files, size, progress=progress))
    if not 0 <= val_size < len(train):
        raise ValueError(f"val_size must be in [0, {len(train)}), got {val_size}")
    n = len(train) - val_size
    val = ImageSet(train.images[n:], train.labels[n:])
    train = ImageSet(train.images[:n], train.labels[:n])
    if limit:
        train = ImageSet(train.images[:limit], train.labels[:limit])
    return train, val, test


def _unlabelled(images: Tensor) -> ImageSet:
    return ImageSet(images, torch.zeros(images.shape[0], dtype=torch.long))


def _resize_uint8(images: Tensor, size: int) -> Tensor:
    x = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8)
