"""Bad input and faults (issue 16): every user's mistake stops with one clear line, exit status 2,
and leaves no file behind; pictures read as a viewer shows them; data, checkpoint and API errors
name what is wrong."""

from __future__ import annotations

import dataclasses
import errno
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from glimpse.checkpoint import FORMAT, CheckpointError, load_checkpoint, load_model, save_checkpoint
from glimpse.cli import main as glimpse_main
from glimpse.data import DataError, load_mnist
from glimpse.errors import UsageError
from glimpse.files import atomic_path, atomic_paths, remove_stale_temporaries
from glimpse.painter import Painter, PainterConfig
from glimpse.painting import paint_picture, paint_pictures
from glimpse.pictures import PictureError, load_picture
from glimpse.ram import RAM, RAMConfig
from glimpse.sensor import check_images

TINY = dict(size=16, steps=3, strokes_per_step=2, hidden=16, width=4)


def tiny_painter(**changes) -> Painter:
    torch.manual_seed(0)
    return Painter(PainterConfig(**{**TINY, **changes}))


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """A tiny painter, a picture and some broken files, all in tmp_path."""
    save_checkpoint(tmp_path / "painter.pt", "painter", tiny_painter())
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "pic.png")
    rgba = np.zeros((20, 24, 4), dtype=np.uint8)
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    whole = (tmp_path / "pic.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(1).bytes(2000))
    nan = tiny_painter()
    with torch.no_grad():
        next(nan.parameters()).fill_(math.nan)
    save_checkpoint(tmp_path / "nan.pt", "painter", nan)
    (tmp_path / "folder.gif").mkdir()
    (tmp_path / "exists.gif").write_bytes(b"GIF89a old")
    return {p.name: p for p in tmp_path.iterdir()}


def run_cli(argv: list[str], tmp_path: Path, capsys) -> str:
    """Run ``glimpse`` in-process; assert exit status 2, one line on stderr, and no new or changed
    file (no output, no temporary). Returns the line."""
    before = {p: p.read_bytes() for p in files_under(tmp_path)}
    capsys.readouterr()
    assert glimpse_main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glimpse: error: "), err
    assert "weights_only" not in err and "Traceback" not in err
    after = files_under(tmp_path)
    assert after == set(before), f"files left behind: {sorted(map(str, after - set(before)))}"
    assert all(p.read_bytes() == before[p] for p in after), "an existing file was changed"
    return lines[0]


# ---- the command line: (argv with {tmp} and {ckpt}/{pic} placeholders, text the line must name) ----
PAINT = ["paint", "{pic}", "--checkpoint", "{ckpt}", "--out", "{tmp}/p.gif", "--size", "16", "--strokes", "6"]
CLI_CASES = {
    "ram-gif --cols 0": (["ram-gif", "--cols", "0", "--out", "{tmp}/r.gif"], "--cols must be at least 1, got 0"),
    "paint-mnist --cols -3": (["paint-mnist", "--cols", "-3", "--out", "{tmp}/m.gif"], "--cols must be at least 1"),
    "ram-gif --fps 0": (["ram-gif", "--fps", "0", "--out", "{tmp}/r.gif"], "--fps must be"),
    "ram-gif --fps -1": (["ram-gif", "--fps", "-1", "--out", "{tmp}/r.gif"], "got -1"),
    "paint-mnist --fps nan": (["paint-mnist", "--fps", "nan", "--out", "{tmp}/m.gif"], "got nan"),
    "paint --fps inf": ([*PAINT, "--fps", "inf"], "got inf"),
    "ram-gif --digits 0": (["ram-gif", "--digits", "0", "--out", "{tmp}/r.gif"], "--digits must be at least 1, got 0"),
    "paint-mnist --digits 0": (["paint-mnist", "--digits", "0", "--out", "{tmp}/m.gif"], "--digits must be at least"),
    "ram-gif --digits huge": (["ram-gif", "--digits", "100000", "--out", "{tmp}/r.gif"], "at most 256, got 100,000"),
    "ram-gif --seed -1": (["ram-gif", "--seed", "-1", "--out", "{tmp}/r.gif"], "--seed must be"),
    "ram-gif --dataset unknown": (["ram-gif", "--dataset", "mnist2", "--out", "{tmp}/r.gif"], "mnist2"),
    "ram-gif --dataset, none shipped": (["ram-gif", "--dataset", "translated", "--out", "{tmp}/r.gif"], "--checkpoint"),
    "ram-gif --dataset, wrong size": (
        ["ram-gif", "--dataset", "cluttered100", "--checkpoint", "ram", "--out", "{tmp}/r.gif"],
        "pass the --dataset it was trained on",
    ),
    "paint --strokes 0": ([*PAINT, "--strokes", "0"], "--strokes must be at least 1, got 0"),
    "paint --strokes -5": ([*PAINT, "--strokes", "-5"], "got -5"),
    "paint --strokes huge": ([*PAINT, "--strokes", "10000000"], "--strokes must be at most 100,000"),
    "paint --size 0": ([*PAINT, "--size", "0"], "--size must be at least 1, got 0"),
    "paint --size -16": ([*PAINT, "--size", "-16"], "got -16"),
    "paint --size huge": ([*PAINT, "--size", "100000"], "--size must be at most 4,096"),
    "paint memory": ([*PAINT, "--strokes", "100000", "--size", "4096"], "GiB of memory"),
    "paint --refine -1": ([*PAINT, "--refine", "-1"], "--refine must be at least 0"),
    "paint --crop reversed": ([*PAINT, "--crop", "10", "0", "5", "5"], "--crop 10 0 5 5"),
    "paint --crop outside": ([*PAINT, "--crop", "0", "0", "40", "10"], "crop box (0, 0, 40, 10) is not inside"),
    "paint --crop outside, converted picture": (
        ["paint", "{tmp}/alpha.png", "--checkpoint", "{ckpt}", "--out", "{tmp}/p.gif", "--crop", "0", "0", "99", "5"],
        "is not inside",  # the RGBA note is not printed when the command fails
    ),
    "paint --out same.png": ([*PAINT, "--out", "{tmp}/same.png"], "--out and --png name the same file"),
    "paint --png equals --out": ([*PAINT, "--png", "{tmp}/sub/../p.gif"], "name the same file"),
    "paint --png is the picture": ([*PAINT, "--png", "{pic}"], "is the input"),
    "paint --out wrong suffix": ([*PAINT, "--png", "{tmp}/p.png", "--out", "{tmp}/p.mp4"], "--out must name a .gif"),
    "paint --out exists": ([*PAINT, "--out", "{tmp}/exists.gif"], "exists; pass --force"),
    "paint --out a folder": ([*PAINT, "--out", "{tmp}/folder.gif", "--force"], "is a folder"),
    "paint --out under a file": ([*PAINT, "--out", "{pic}/x.gif"], "is a file, not a folder"),
    "paint missing picture": (["paint", "{tmp}/nope.jpg", "--checkpoint", "{ckpt}"], "nope.jpg: no such picture"),
    "paint text file": (["paint", "{tmp}/notes.png", "--checkpoint", "{ckpt}"], "notes.png: not a readable image"),
    "paint empty picture": (["paint", "{tmp}/empty.png", "--checkpoint", "{ckpt}"], "empty.png: the file is empty"),
    "paint truncated picture": (["paint", "{tmp}/cut.png", "--checkpoint", "{ckpt}"], "cut.png: not a readable"),
    "paint random checkpoint": ([*PAINT, "--checkpoint", "{tmp}/random.pt"], "random.pt is truncated or not a glimpse"),
    "paint unknown checkpoint": ([*PAINT, "--checkpoint", "painter-99"], "nor a shipped model"),
    "paint wrong kind": ([*PAINT, "--checkpoint", "ram"], "holds a 'ram' model, not 'painter'"),
    "paint non-finite weights": ([*PAINT, "--checkpoint", "{tmp}/nan.pt"], "weights are not finite"),
    "export over its input": (["export", "{ckpt}", "{ckpt}", "--force"], "is the input"),
    "export missing": (["export", "{tmp}/none.pt", "{tmp}/small.pt"], "none.pt does not exist"),
}


def fill(argv: list[str], tmp_path: Path) -> list[str]:
    names = {"tmp": tmp_path, "ckpt": tmp_path / "painter.pt", "pic": tmp_path / "pic.png"}
    return [a.format(**names) for a in argv]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_refuses_in_one_line_and_writes_nothing(case, inputs, tmp_path, capsys):
    argv, named = CLI_CASES[case]
    if "--out" not in argv and argv[0] == "paint":
        argv = [*argv, "--out", "{tmp}/p.gif"]
    line = run_cli(fill(argv, tmp_path), tmp_path, capsys)
    assert named in line


def test_failure_after_the_first_output_leaves_nothing(inputs, tmp_path, capsys, monkeypatch):
    """The PNG is complete when the GIF fails (disk full): neither appears, nor any temporary, and
    the corrected command is not refused as 'exists'."""
    import glimpse.render

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(glimpse.render, "write_gif", full_disk)
    assert "cannot write" in run_cli(fill(PAINT, tmp_path), tmp_path, capsys)
    monkeypatch.undo()
    assert glimpse_main(fill(PAINT, tmp_path)) == 0
    assert (tmp_path / "p.gif").is_file() and (tmp_path / "p.png").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("where", ["folder not writable", "write refused"])
def test_unwritable_outputs_are_one_line(where, inputs, tmp_path, capsys, monkeypatch):
    """(Simulated: the tests may run as root, whom permissions do not stop.)"""
    import glimpse.options
    import glimpse.render

    if where == "folder not writable":
        monkeypatch.setattr(glimpse.options.os, "access", lambda path, mode: False)
        expected = "is not writable"
    else:

        def refused(frames, path, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

        monkeypatch.setattr(glimpse.render, "write_gif", refused)
        expected = "cannot write"
    assert expected in run_cli(fill(PAINT, tmp_path), tmp_path, capsys)


def test_a_foreign_pickle_is_refused_without_running_it(tmp_path, capsys):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"kind": "painter", "config": {}, "model": {}, "x": Payload()}, tmp_path / "evil.pt")
    line = run_cli(["export", str(tmp_path / "evil.pt"), str(tmp_path / "small.pt")], tmp_path, capsys)
    assert "would run code" in line
    with pytest.raises(CheckpointError, match="would run code") as err:
        load_checkpoint(tmp_path / "evil.pt")
    assert "weights_only" not in str(err.value) and err.value.__cause__ is None
    assert not marker.exists()


def test_other_errors_are_not_hidden(inputs, tmp_path, monkeypatch):
    """A bug (not a user's mistake) keeps its traceback."""
    import glimpse.painting

    def bug(*args, **kwargs):
        raise IndexError("a bug")

    monkeypatch.setattr(glimpse.painting, "paint_picture", bug)
    with pytest.raises(IndexError):
        glimpse_main(fill(PAINT, tmp_path))


# ---- pictures: read as an image viewer shows them ----


def picture_files(tmp: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """Picture files of many modes, each with the RGB uint8 values a viewer shows at pixel (0, 0)
    and (row 1, col 0)."""
    out = {}
    grey16 = np.full((4, 4), 32768, dtype=np.uint16)
    grey16[1, 0] = 65535
    Image.fromarray(grey16).save(tmp / "g16.png")  # opens as I;16
    out["16-bit PNG"] = (tmp / "g16.png", np.array([[128] * 3, [255] * 3]))
    Image.frombytes("I;16B", (4, 4), grey16.astype(">u2").tobytes()).save(tmp / "g16b.tif")
    out["16-bit big-endian TIFF"] = (tmp / "g16b.tif", np.array([[128] * 3, [255] * 3]))
    Image.fromarray(grey16.astype(np.float32) / 65535).save(tmp / "f.tif")  # mode F in [0, 1]
    out["float TIFF"] = (tmp / "f.tif", np.array([[128] * 3, [255] * 3]))
    one = np.zeros((4, 4), dtype=bool)
    one[1, 0] = True
    Image.fromarray(one).save(tmp / "one.png")
    out["1-bit"] = (tmp / "one.png", np.array([[0] * 3, [255] * 3]))
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    pal.putpixel((0, 1), 1)
    pal.save(tmp / "pal.png", transparency=0)  # colour 0 transparent
    out["palette with transparency"] = (tmp / "pal.png", np.array([[255] * 3, [200, 100, 50]]))
    la = np.zeros((4, 4, 2), dtype=np.uint8)
    la[..., 0], la[..., 1] = 0, 0  # black, fully transparent -> white
    la[1, 0] = (0, 255)  # opaque black
    Image.fromarray(la, "LA").save(tmp / "la.png")
    out["LA"] = (tmp / "la.png", np.array([[255] * 3, [0] * 3]))
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[...] = (0, 0, 0, 128)  # black at half opacity over white -> 127
    rgba[1, 0] = (255, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp / "rgba.png")
    out["RGBA"] = (tmp / "rgba.png", np.array([[127] * 3, [255, 0, 0]]))
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # red
    cmyk.putpixel((0, 1), (0, 0, 0, 255))  # black
    cmyk.save(tmp / "cmyk.jpg", quality=100)
    out["CMYK JPEG"] = (tmp / "cmyk.jpg", np.array([[255, 0, 0], [0, 0, 0]]))
    return out


PICTURE_CASES = [
    "16-bit PNG",
    "16-bit big-endian TIFF",
    "float TIFF",
    "1-bit",
    "palette with transparency",
    "LA",
    "RGBA",
    "CMYK JPEG",
]


@pytest.mark.parametrize("case", PICTURE_CASES)
def test_pictures_read_as_a_viewer_shows_them(case, tmp_path):
    path, expected = picture_files(tmp_path)[case]
    x = (load_picture(path, 4, quiet=True) * 255).round()
    got = np.stack([x[:, 0, 0].numpy(), x[:, 1, 0].numpy()])
    tolerance = 40 if "JPEG" in case else 1  # JPEG's colour bleeding across a 4×4 block
    assert np.abs(got - expected).max() <= tolerance, f"{case}: {got.tolist()} != {expected.tolist()}"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation, tmp_path):
    """A 40×20 picture, left half black and right half white, stored with an EXIF orientation."""
    x = np.zeros((20, 40, 3), dtype=np.uint8)
    x[:, 20:] = 255
    img = Image.fromarray(x)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    seen = load_picture(tmp_path / "turned.jpg", 20, quiet=True)[0]  # squeezed to 20×20
    # 3: turned 180° (black on the right); 6: turned 90° clockwise (black on top); 8: anticlockwise
    black = {3: seen[:, 15:], 6: seen[:5, :], 8: seen[15:, :]}[orientation].mean()
    white = {3: seen[:, :5], 6: seen[15:, :], 8: seen[:5, :]}[orientation].mean()
    assert black < 0.1 and white > 0.9


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.png", b"hello, not a picture", "notes.png: not a readable image"),
        ("empty.jpg", b"", "empty.jpg: the file is empty"),
        ("cut.png", None, "cut.png: not a readable image, truncated"),
    ],
)
def test_unreadable_pictures_are_named(name, content, message, tmp_path):
    if content is None:
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "x.png")
        content = (tmp_path / "x.png").read_bytes()[:2000]
    (tmp_path / name).write_bytes(content)
    with pytest.raises(PictureError, match=message) as err:
        load_picture(tmp_path / name, 8)
    assert isinstance(err.value, UsageError)


# ---- data: damaged MNIST files are named, with what is wrong ----


def fake_mnist(root: Path, images: bytes | None = None, labels: bytes | None = None) -> Path:
    """A test split under root/MNIST/raw: well-formed unless images or labels bytes are given."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    good_images = (2051).to_bytes(4, "big") + (10_000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    good_images += bytes(10_000 * 784)
    good_labels = (2049).to_bytes(4, "big") + (10_000).to_bytes(4, "big") + bytes(10_000)
    (raw / "t10k-images-idx3-ubyte").write_bytes(good_images if images is None else images)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(good_labels if labels is None else labels)
    return root


MNIST_CASES = {
    "truncated images": (dict(images=(2051).to_bytes(4, "big") + bytes(5000)), "truncated: expected 7,840,016 bytes"),
    "bad image magic": (dict(images=(2049).to_bytes(4, "big") + bytes(7_840_012)), "expected 2051, found 2049"),
    "bad label magic": (dict(labels=bytes(10_008)), "magic number expected 2049, found 0"),
    "labels too long": (dict(labels=(2049).to_bytes(4, "big") + bytes(20_000)), "too long: expected 10,008"),
    "empty labels": (dict(labels=b""), "found none (0 bytes)"),
}


@pytest.mark.parametrize("case", MNIST_CASES)
def test_damaged_mnist_is_named(case, tmp_path):
    broken, message = MNIST_CASES[case]
    root = fake_mnist(tmp_path, **broken)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        load_mnist(root, train=False, download=False)
    assert "t10k-" in str(err.value) and "not found" not in str(err.value)


def test_damaged_mnist_via_the_command_line(tmp_path, capsys):
    root = fake_mnist(tmp_path, images=(2051).to_bytes(4, "big") + bytes(100))
    line = run_cli(["ram-gif", "--data-root", str(root), "--out", str(tmp_path / "r.gif")], tmp_path, capsys)
    assert "t10k-images-idx3-ubyte is truncated" in line


def test_well_formed_and_absent_mnist(tmp_path):
    data = load_mnist(fake_mnist(tmp_path / "ok"), train=False, download=False)
    assert data.images.shape == (10_000, 1, 28, 28) and data.labels.dtype == torch.long
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mnist(tmp_path / "none", train=False, download=False)


def test_real_mnist_passes_the_checks(mnist_data_root):
    test = load_mnist(mnist_data_root, train=False, download=False)
    assert test.images.shape == (10_000, 1, 28, 28) and int(test.labels.max()) == 9


# ---- checkpoints ----


def painter_file(tmp_path: Path, name: str, **edit) -> Path:
    """A painter checkpoint with its dict edited (``config`` entries merged, others replaced)."""
    model = tiny_painter()
    ckpt = {"format": FORMAT, "kind": "painter", "config": dataclasses.asdict(model.cfg), "model": model.state_dict()}
    ckpt["config"]["encoder_size"] = ckpt["config"]["encoder_size"] or ckpt["config"]["size"]
    for key, value in edit.items():
        if key == "config":
            ckpt["config"] = {k: v for k, v in {**ckpt["config"], **value}.items() if v != "DROP"}
        else:
            ckpt[key] = value
    torch.save(ckpt, tmp_path / name)
    return tmp_path / name


def cut_checkpoint(tmp: Path) -> Path:
    save_checkpoint(tmp / "whole.pt", "painter", tiny_painter())
    data = (tmp / "whole.pt").read_bytes()
    (tmp / "cut.pt").write_bytes(data[: len(data) // 2])
    return tmp / "cut.pt"


CHECKPOINT_CASES = {
    "truncated": (cut_checkpoint, "truncated or not a glimpse checkpoint: a damaged or truncated zip"),
    "random bytes": (lambda t: (t / "r.pt").write_bytes(os.urandom(3000)) and t / "r.pt", "not a glimpse checkpoint"),
    "empty file": (lambda t: (t / "e.pt").write_bytes(b"") or t / "e.pt", "the file is empty"),
    "a folder": (lambda t: (t / "d.pt").mkdir() or t / "d.pt", "is a folder"),
    "a bare state_dict": (lambda t: torch.save({"w": torch.ones(2)}, t / "s.pt") or t / "s.pt", "no kind/config/model"),
    "unknown format": (lambda t: painter_file(t, "f.pt", format=99), "format 99"),
    "unknown config field": (lambda t: painter_file(t, "u.pt", config={"wings": 2}), "does not know: wings"),
    "non-finite weights": (
        lambda t: painter_file(
            t, "n.pt", model={**tiny_painter().state_dict(), "head.x": torch.tensor([1.0, math.inf])}
        ),
        "head.x has 1 NaN or infinite",
    ),
    "weights that do not fit": (lambda t: painter_file(t, "w.pt", config={"hidden": 32}), "do not fit its config"),
}


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_bad_checkpoints_are_named(case, tmp_path):
    make, message = CHECKPOINT_CASES[case]
    path = make(tmp_path)
    with pytest.raises(CheckpointError, match=message) as err:
        load_model(path, kind="painter")
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("stored", [None, "DROP"])
def test_format_1_painter_migrates_encoder_size_to_size(stored, tmp_path):
    """Format 1's encoder_size None (or absent) meant 'the encoder sees size'; loading keeps that."""
    model = tiny_painter(size=32, encoder_size=32)
    path = painter_file(tmp_path, "old.pt", format=1, config={"size": 32, "encoder_size": stored})
    torch.save({**torch.load(path, weights_only=True), "model": model.state_dict()}, path)
    ckpt = load_checkpoint(path)
    assert ckpt["format"] == FORMAT == 2 and ckpt["config"]["encoder_size"] == 32
    loaded = load_model(path, kind="painter")
    assert loaded.cfg.encoder_size == 32
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.rollout(x).strokes, model.eval().rollout(x).strokes)


def test_shipped_format_1_painters_still_load():
    from glimpse.shipped import load_shipped

    assert load_shipped("painter-30").cfg.encoder_size == 64  # format 1, no encoder_size: its size


# ---- interrupted writes ----


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    keep = ["model.pt", "notes.tmp", ".hidden.tmp", ".model.short.pt.tmp", "a.b.c"]
    for name in keep:
        (tmp_path / name).write_text("x")
    stale = []
    for target in ("last.pt", "metrics.jsonl", "README"):
        with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / target) as tmp:
            stale.append(tmp.name)
            raise KeyboardInterrupt  # atomic_path cleans up after an exception...
        (tmp_path / stale[-1]).write_text("half")  # ...but not after SIGKILL: recreate what it leaves
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_outputs_are_written_together_or_not_at_all(tmp_path):
    (tmp_path / "b.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_paths([tmp_path / "a.txt", tmp_path / "b.txt"]) as (a, b):
        a.write_text("new a")
        raise RuntimeError("the second output failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"] and (tmp_path / "b.txt").read_text() == "old"
    with atomic_paths([tmp_path / "a.txt", tmp_path / "b.txt"]) as (a, b):
        a.write_text("new a")
        b.write_text("new b")
    assert (tmp_path / "a.txt").read_text() == "new a" and (tmp_path / "b.txt").read_text() == "new b"


# ---- the Python API: images, batches, σ ----


def small_ram() -> RAM:
    torch.manual_seed(0)
    return RAM(RAMConfig(hidden=16, what_size=8, where_size=8, glimpse_out=16, glimpses=2))


API_REFUSALS = {
    "0..255 floats": (torch.rand(2, 1, 28, 28) * 255, "divide 0..255 pictures by 255"),
    "uint8": (torch.randint(0, 255, (2, 1, 28, 28), dtype=torch.uint8), r"images.float\(\) / 255"),
    "empty batch": (torch.rand(0, 1, 28, 28), "empty batch"),
    "negative values": (torch.rand(2, 1, 28, 28) - 0.5, "values down to"),
    "NaN": (torch.full((2, 1, 28, 28), math.nan), "NaN or infinite"),
    "3-D": (torch.rand(1, 28, 28), "shape"),
}


@pytest.mark.parametrize("case", API_REFUSALS)
@pytest.mark.parametrize("model", ["ram", "painter"])
def test_models_refuse_bad_images_at_the_entry(case, model):
    images, message = API_REFUSALS[case]
    if model == "painter":
        images = images.expand(*images.shape[:-3], 3, 28, 28) if images.dim() == 4 else images
        with pytest.raises(ValueError, match=message):
            tiny_painter().rollout(images[..., :16, :16])
    else:
        with pytest.raises(ValueError, match=message):
            small_ram().rollout(images)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_dtypes_are_cast_to_the_models(dtype):
    x = torch.rand(3, 1, 28, 28)
    ram = small_ram().eval()
    with torch.no_grad():
        same = ram.rollout(x.to(dtype).float(), "mean").logits
        cast = ram.rollout(x.to(dtype), "mean").logits
    assert cast.dtype == torch.float32 and torch.equal(same, cast)
    painter = tiny_painter().eval()
    p = paint_pictures(painter, torch.rand(2, 3, 16, 16).to(dtype), 4)
    assert p.canvas.dtype == torch.float32


def test_painting_entry_points_name_their_shapes():
    painter = tiny_painter()
    with pytest.raises(ValueError, match=r"one picture \(channels, height, width\)"):
        paint_picture(painter, torch.rand(1, 3, 16, 16), 4)
    with pytest.raises(ValueError, match="3-channel"):
        paint_pictures(painter, torch.rand(1, 1, 16, 16), 4)
    with pytest.raises(ValueError, match=r"divide 0\.\.255"):
        paint_picture(painter, torch.rand(3, 16, 16) * 255, 4)


@pytest.mark.parametrize("std", [math.inf, math.nan, 0.0, -0.1])
def test_set_std_refuses_non_finite_and_non_positive(std):
    policy = small_ram().policy
    before = policy.std.item()
    with pytest.raises(ValueError, match="finite number > 0"):
        policy.set_std(std)
    assert policy.std.item() == before


def test_image_check_does_not_break_a_compiled_graph():
    """Under torch.compile the data-dependent value check is skipped: no graph break."""
    fn = torch.compile(lambda x: check_images(x, 1, torch.float32) * 2, backend="eager", fullgraph=True)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    out = fn(x)
    assert out.dtype == torch.float32 and torch.allclose(out, x.float() * 2)
