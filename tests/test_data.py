"""Data: roots, splits, batching and the translated / cluttered variants."""

from __future__ import annotations

import pytest
import torch

from glimpse.data import ImageSet, data_root, load_mnist, materialise, mnist_splits, split
from glimpse.variants import clutter, place, shift, translate


def test_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("GLIMPSE_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root("elsewhere").name == "elsewhere"
    monkeypatch.delenv("GLIMPSE_DATA")
    assert data_root().name == "data"


def test_missing_mnist_says_how_to_pass_a_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-root") as err:
        load_mnist(tmp_path, download=False)
    assert "GLIMPSE_DATA" in str(err.value)


def test_split_is_disjoint_fixed_and_complete():
    data = ImageSet(torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1), torch.arange(100))
    train, val = split(data, 20, seed=3)
    assert len(train) == 80 and len(val) == 20
    assert set(train.labels.tolist()) | set(val.labels.tolist()) == set(range(100))
    assert torch.equal(split(data, 20, seed=3)[1].labels, val.labels)
    with pytest.raises(ValueError, match="val_size"):
        split(data, 100)


def test_batches_cover_every_image_once():
    data = ImageSet(torch.randint(0, 256, (50, 1, 4, 4), dtype=torch.uint8), torch.arange(50))
    seen = torch.cat([y for _, y in data.batches(16, shuffle=True, generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(50))
    x, _ = next(data.batches(16))
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    assert sum(1 for _ in data.batches(16, drop_last=True)) == 3


def test_place_matches_slicing():
    images = torch.rand(3, 2, 5, 7)
    offsets = torch.tensor([[0, 0], [3, 10], [-2, -4]])
    out = place(images, 9, 14, offsets)
    expected = torch.zeros(3, 2, 9, 14)
    expected[0, :, :5, :7] = images[0]
    expected[1, :, 3:8, 10:14] = images[1, :, :, :4]
    expected[2, :, :3, :3] = images[2, :, 2:, 4:]
    torch.testing.assert_close(out, expected)


def test_translate_and_shift_keep_the_digit():
    g = torch.Generator().manual_seed(0)
    digits = torch.rand(8, 1, 28, 28)
    moved = translate(digits, 60, g)
    assert moved.shape == (8, 1, 60, 60)
    torch.testing.assert_close(moved.sum((1, 2, 3)), digits.sum((1, 2, 3)))
    small = torch.zeros(4, 1, 28, 28)
    small[:, :, 10:18, 10:18] = 1
    torch.testing.assert_close(shift(small, 2, g).sum((1, 2, 3)), small.sum((1, 2, 3)))
    with pytest.raises(ValueError, match="smaller"):
        translate(digits, 20)


def test_clutter_adds_distractors_in_range():
    g = torch.Generator().manual_seed(0)
    digits = torch.zeros(16, 1, 28, 28)
    pool = torch.ones(10, 1, 28, 28)
    out = clutter(digits, pool, 60, distractors=4, patch=8, generator=g)
    assert out.shape == (16, 1, 60, 60) and out.min() >= 0 and out.max() <= 1
    # Four 8×8 crops of an all-ones pool, possibly overlapping: between 64 and 256 lit pixels.
    lit = (out > 0).sum((1, 2, 3))
    assert torch.all(lit >= 64) and torch.all(lit <= 256) and lit.float().mean() > 200


def test_digits_go_where_offsets_say_and_distractors_stay():
    digits = torch.rand(3, 1, 28, 28)
    offsets = torch.tensor([[0, 0], [32, 5], [7, 32]])
    moved = translate(digits, 60, offsets=offsets)
    for b, (top, left) in enumerate(offsets.tolist()):
        torch.testing.assert_close(moved[b, :, top : top + 28, left : left + 28], digits[b])
    # The digits' offsets are drawn last: giving them leaves every distractor where it was.
    blank, pool = torch.zeros(3, 1, 28, 28), torch.rand(10, 1, 28, 28)
    drawn = clutter(blank, pool, 60, 4, 8, torch.Generator().manual_seed(4))
    given = clutter(blank, pool, 60, 4, 8, torch.Generator().manual_seed(4), offsets=offsets)
    assert torch.equal(drawn, given) and drawn.sum() > 0
    for bad in (offsets[:2], offsets + 1, offsets.float()):
        with pytest.raises(ValueError, match="offsets must be"):
            translate(digits, 60, offsets=bad)


def test_materialise_is_reproducible():
    data = ImageSet(torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8), torch.arange(20))
    a = materialise(data, lambda x, g: translate(x, 40, g), seed=5)
    b = materialise(data, lambda x, g: translate(x, 40, g), seed=5)
    assert a.images.dtype == torch.uint8 and torch.equal(a.images, b.images)


def test_real_mnist_splits(mnist_data_root):
    s = mnist_splits(mnist_data_root, "mnist", val_size=5000)
    assert (len(s.train), len(s.val), len(s.test)) == (55000, 5000, 10000)
    assert s.train.images.shape[1:] == (1, 28, 28) and s.train.images.dtype == torch.uint8
    counts = torch.bincount(s.test.labels, minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    cl = mnist_splits(mnist_data_root, "cluttered", val_size=1000)
    assert cl.test.images.shape[1:] == (1, 60, 60) and cl.variant is not None
    same = mnist_splits(mnist_data_root, "cluttered60", val_size=1000)  # "cluttered" is "cluttered60"
    assert torch.equal(same.test.images, cl.test.images) and torch.equal(same.val.images, cl.val.images)
