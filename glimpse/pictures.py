"""Pictures for the painter: one image file, a folder of images, CelebA faces, MNIST digits.

Every picture becomes a square RGB (or greyscale) uint8 tensor, resized without cropping (faces
are squeezed to a square, as in the published painting protocol). A picture is read as an image
viewer shows it: turned by its EXIF orientation; transparency (RGBA, LA, palettes with a
transparent colour) flattened on white; 16-bit greyscale (``I;16``, ``I;16B``, and ``I``, read as
16-bit) scaled from 0..65535; floating-point ``F`` pictures taken as values in [0, 1] (or 0..255,
or 0..65535, whichever holds their largest value); 1-bit, palette, CMYK and other modes converted
by Pillow. The loader says when it converted a picture. A file that is missing, empty, truncated
or not a picture raises :class:`PictureError` naming the file.

CelebA (``ROOT/celeba/img_align_celeba/000001.jpg`` ...): IDs 000001-002000 are the test set and
the rest train, as in Learning to Paint's protocol. CelebA is for non-commercial research only.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor
from tqdm import tqdm

from glimpse.data import DATA_ENV, ImageSet, data_root, load_mnist
from glimpse.errors import UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CELEBA_DIR = Path("celeba") / "img_align_celeba"
CELEBA_TEST_IDS = 2000  # IDs 1..2000


SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # greyscale read as 0..65535
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class PictureError(UsageError):
    """A file that is not a readable picture, a bad size, or too few pictures to split."""


def _grey8(values: np.ndarray, full_scale: float) -> Image.Image:
    """Greyscale values in 0..full_scale -> an 8-bit L image (rounded, clipped)."""
    v = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=full_scale, neginf=0.0)
    return Image.fromarray(np.clip(np.rint(v * (255.0 / full_scale)), 0, 255).astype(np.uint8), "L")


def to_rgb_array(img: Image.Image, name: str = "image", quiet: bool = False) -> Image.Image:
    """An 8-bit RGB PIL image that shows what an image viewer shows: alpha flattened on white,
    16-bit and floating-point greyscale scaled to 8 bits, 1-bit, palettes and CMYK expanded.
    (EXIF orientation is applied by :func:`load_pictures`, before this.)"""
    alpha = img.mode in ALPHA_MODES or "transparency" in img.info
    if img.mode == "RGB" and not alpha:
        return img
    if not quiet:
        how = " (transparency flattened on white)" if alpha else ""
        how += " (16-bit values scaled to 8 bits)" if img.mode in SIXTEEN_BIT_MODES else ""
        warnings.warn(f"{name}: {img.mode} picture converted to RGB{how}", stacklevel=2)
    if img.mode in SIXTEEN_BIT_MODES:
        return _grey8(np.asarray(img), 65535.0).convert("RGB")
    if img.mode == "F":
        values = np.asarray(img)
        top = float(np.nanmax(values)) if values.size and not np.isnan(values).all() else 0.0
        return _grey8(values, 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else 65535.0).convert("RGB")
    if alpha:
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img).convert("RGB")
    return img.convert("RGB")


def read_picture(path: str | os.PathLike[str], quiet: bool = True) -> Image.Image:
    """One picture file as an 8-bit RGB PIL image, as a viewer shows it (EXIF orientation applied,
    see :func:`to_rgb_array`); :class:`PictureError` naming the file if it is not a readable picture."""
    p = Path(path)
    if p.is_dir():
        raise PictureError(f"{p} is a folder, not a picture")
    if not p.is_file():
        raise PictureError(f"{p}: no such picture")
    if p.stat().st_size == 0:
        raise PictureError(f"{p}: the file is empty, not a picture")
    try:
        with Image.open(p) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
            return to_rgb_array(upright if upright is not None else img, p.name, quiet)
    except UnidentifiedImageError:
        raise PictureError(f"{p}: not a readable image (not a picture format Pillow knows)") from None
    except Image.DecompressionBombError as err:
        raise PictureError(f"{p}: too many pixels to read safely ({err})") from None
    except PermissionError:
        raise PictureError(f"{p}: not a readable image (permission denied)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        detail = " ".join(str(err).split()) or type(err).__name__
        raise PictureError(f"{p}: not a readable image, truncated or damaged ({detail})") from None


def load_picture(
    path: str | os.PathLike[str],
    size: int,
    channels: int = 3,
    quiet: bool = False,
    crop: tuple[int, int, int, int] | None = None,
) -> Tensor:
    """One picture as a float (C, S, S) tensor in [0, 1], resized to S×S (after an optional
    ``crop`` box: left, top, right, bottom in the pixels of the picture as a viewer shows it)."""
    return load_pictures([path], size, channels, quiet=quiet, progress=False, crop=crop).float().div(255)[0]


def load_pictures(
    paths: list[str | os.PathLike[str]] | list[Path],
    size: int,
    channels: int = 3,
    quiet: bool = True,
    progress: bool = True,
    crop: tuple[int, int, int, int] | None = None,
) -> Tensor:
    """Pictures as uint8 (N, C, S, S), each resized to S×S (area-averaged when shrinking, bicubic
    when enlarging) without cropping
    (unless a ``crop`` box is given: left, top, right, bottom pixels, applied to every picture)."""
    if size < 1:
        raise PictureError(f"picture size must be a positive number of pixels, got {size}")
    if channels not in (1, 3):
        raise PictureError(f"channels must be 1 or 3, got {channels}")
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, p in enumerate(tqdm(paths, desc="pictures", disable=not progress, leave=False)):
        p = Path(p)
        rgb = read_picture(p, quiet)
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
                raise PictureError("--dataset folder needs --folder DIR")
            files = folder_pictures(folder)
            cut = max(1, len(files) // 10)
            train_files, test_files = files[:-cut], files[-cut:]
        else:
            raise PictureError(f"unknown picture dataset {dataset!r}; choose celeba, mnist or folder")
        if limit:
            train_files = train_files[: limit + val_size]
        train = _unlabelled(load_pictures(train_files, size, progress=progress))
        test = _unlabelled(load_pictures(test_files, size, progress=progress))
    if not 0 <= val_size < len(train):
        held = " (a folder keeps its last tenth, at least one picture, for the test set)" if dataset == "folder" else ""
        raise PictureError(
            f"--val-size {val_size} leaves no pictures to train on: there are {len(train)} training pictures{held}; "
            "give a smaller --val-size or more pictures"
        )
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
