"""Shared fixtures: the real-data root (tests that need it skip with a reason when it is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def mnist_root() -> Path | None:
    """``$GLIMPSE_DATA`` or ``../shared/data`` beside the repository, if it holds MNIST/raw."""
    for root in (os.environ.get("GLIMPSE_DATA"), REPO.parent / "shared" / "data"):
        if root and (Path(root) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
            return Path(root)
    return None


@pytest.fixture
def mnist_data_root() -> Path:
    root = mnist_root()
    if root is None:
        pytest.skip("real MNIST not found: set GLIMPSE_DATA to a folder holding MNIST/raw (or ../shared/data)")
    return root


def celeba_root() -> Path | None:
    """``$GLIMPSE_DATA`` or ``../shared/data`` beside the repository, if it holds CelebA's aligned faces."""
    for root in (os.environ.get("GLIMPSE_DATA"), REPO.parent / "shared" / "data"):
        if root and (Path(root) / "celeba" / "img_align_celeba" / "000001.jpg").exists():
            return Path(root)
    return None


@pytest.fixture
def celeba_data_root() -> Path:
    root = celeba_root()
    if root is None:
        pytest.skip("CelebA not found: set GLIMPSE_DATA to a folder holding celeba/img_align_celeba (../shared/data)")
    return root


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
