"""The shipped weights still reach the numbers their model card documents, on fixed subsets.

The expected numbers are read from the table of ``glimpse/weights/README.md`` ("Checked by the
tests"), measured on exactly these subsets, so the card and the tests cannot disagree. Tests that
need MNIST or CelebA skip with a reason when the data is absent (CI has it).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import torch

from glimpse.data import ImageSet, binarise, load_mnist, mnist_splits
from glimpse.evaluate import error_rate, painting_error, variational_bound
from glimpse.pictures import celeba_files, load_pictures, picture_splits
from glimpse.shipped import SHIPPED, load_shipped, shipped_path

CARD = Path(__file__).resolve().parents[1] / "glimpse" / "weights" / "README.md"
RAM_MARGIN = 0.0015  # ±0.15 percentage points of error rate
PAINT_MARGIN = 0.03  # ±3 % of the squared error, relative

# name -> the measures of its row in the card's table, in the card's order
MEASURES = {
    # all 10,000 MNIST test digits; stochastic with the evaluation generator seeded 0
    "ram": ("stochastic", "mean"),
    # the 10,000 fixed cluttered 60×60 test images (glimpse.data.mnist_splits, seed 0); as for "ram"
    "ram-cluttered60": ("stochastic", "mean"),
    # the first 100 CelebA test faces (IDs 000001-000100) at 64², squared error per pixel
    "painter": (30, 200),
    "painter-brush": (30, 200),
    "painter-30": (10, 30),
    # the first 500 MNIST test digits at 32²
    "painter-mnist": (10, 20),
    # the first 1,000 MNIST test digits binarised once (seed 2), nats per image
    "draw": ("bound",),
}


def card_numbers(name: str) -> dict[str | int, str]:
    """The numbers the card's table gives for a shipped model, by measure (one source of truth)."""
    file = SHIPPED[name].file
    rows = [r for r in CARD.read_text().splitlines() if r.startswith(f"| `{file}` |")]
    assert len(rows) == 1, f"{CARD} has {len(rows)} rows for {file} in its table"
    numbers = re.findall(r"\d+\.\d+(?: %)?", rows[0].split("|")[-2])
    assert len(numbers) == len(MEASURES[name]), f"{file}: {numbers} for {MEASURES[name]}"
    return dict(zip(MEASURES[name], numbers, strict=True))


EXPECTED = {name: card_numbers(name) for name in MEASURES}
DRAW_MARGIN = 0.005  # ±0.5 % of the bound


def number(text: str) -> float:
    return float(text.rstrip(" %")) / 100 if text.endswith("%") else float(text)


def test_every_shipped_model_has_checked_numbers_in_the_card():
    assert set(MEASURES) == set(SHIPPED)  # each row parsed above, with as many numbers as measures


def test_every_registered_model_ships_with_a_section_in_the_model_card():
    card = CARD.read_text()
    for name, entry in SHIPPED.items():
        assert shipped_path(name).is_file()
        assert f"## `{entry.file}`" in card, f"{CARD} has no section for {entry.file} ({name})"


@cache
def celeba_test_faces(root: Path) -> ImageSet:
    _, test = celeba_files(root)
    first = test[:100]
    assert [p.stem for p in (first[0], first[-1])] == ["000001", "000100"]
    return ImageSet(load_pictures(first, 64, progress=False), torch.zeros(len(first), dtype=torch.long))


def assert_painting(name: str, data: ImageSet) -> None:
    measured = painting_error(load_shipped(name), data, list(EXPECTED[name]))
    for count, text in EXPECTED[name].items():
        want = number(text)
        assert abs(measured[count] - want) <= PAINT_MARGIN * want, f"{name}, {count} strokes: {measured[count]}"


def test_ram_on_all_mnist_test_digits(mnist_data_root):
    model = load_shipped("ram")
    test = load_mnist(mnist_data_root, train=False, download=False)
    measured = {
        "stochastic": error_rate(model, test, "stochastic", seed=0),
        "mean": error_rate(model, test, "mean"),
    }
    for protocol, text in EXPECTED["ram"].items():
        assert abs(measured[protocol] - number(text)) <= RAM_MARGIN, f"{protocol}: {measured[protocol]}"


def test_cluttered_ram_on_the_fixed_cluttered_test_images(mnist_data_root):
    model = load_shipped("ram-cluttered60")
    test = mnist_splits(mnist_data_root, "cluttered60", download=False).test
    measured = {"stochastic": error_rate(model, test, "stochastic", seed=0), "mean": error_rate(model, test, "mean")}
    for protocol, text in EXPECTED["ram-cluttered60"].items():
        assert abs(measured[protocol] - number(text)) <= RAM_MARGIN, f"{protocol}: {measured[protocol]}"


def test_face_painter_on_the_first_100_test_faces(celeba_data_root):
    assert_painting("painter", celeba_test_faces(celeba_data_root))


def test_brush_painter_on_the_first_100_test_faces(celeba_data_root):
    assert_painting("painter-brush", celeba_test_faces(celeba_data_root))


def test_30_stroke_face_painter_on_the_first_100_test_faces(celeba_data_root):
    assert_painting("painter-30", celeba_test_faces(celeba_data_root))


def test_digit_painter_on_the_first_500_test_digits(mnist_data_root):
    _, _, test = picture_splits("mnist", 32, mnist_data_root, val_size=1000, progress=False)
    assert_painting("painter-mnist", ImageSet(test.images[:500], test.labels[:500]))


def test_draw_on_the_first_1000_binarised_test_digits(mnist_data_root):
    test = binarise(load_mnist(mnist_data_root, train=False, download=False), seed=2)
    measured = variational_bound(load_shipped("draw"), ImageSet(test.images[:1000], test.labels[:1000]), seed=0)
    want = number(EXPECTED["draw"]["bound"])
    assert abs(measured["bound"] - want) <= DRAW_MARGIN * want, measured
