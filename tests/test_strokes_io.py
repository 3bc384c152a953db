"""Strokes out (issue 20): `glimpse paint --strokes-json` / `--svg`, `glimpse render`, stroke files
that render the very canvas again, and bad stroke files named in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from glimpse.checkpoint import save_checkpoint
from glimpse.cli import main as glimpse_main
from glimpse.errors import UsageError
from glimpse.painter import Painter, PainterConfig
from glimpse.stroke_files import LAYOUT, StrokeList, read_strokes_json, render_strokes, write_strokes_json


@pytest.fixture
def painter_ckpt(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "painter.pt"
    save_checkpoint(path, "painter", Painter(PainterConfig(size=16, steps=4, strokes_per_step=3, hidden=32, width=8)))
    return path


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "pic.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(path)
    return path


def test_json_round_trip_gives_the_same_strokes_and_canvas(tmp_path):
    g = torch.Generator().manual_seed(0)
    strokes = torch.rand(40, 13, generator=g)
    strokes[0, :3] = torch.tensor([0.0, 1.0, 5.3e-15])  # the ends of the range, and a tiny number
    strokes[1, 6:8] = torch.tensor([1 / 3, 2 / 3])  # numbers that need all of float32's digits
    original = StrokeList(strokes, 48, 40, 3, "fast", "oil", 0.5, 0.25, [10, 30])
    write_strokes_json(original, tmp_path / "s.json")
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["layout"] == list(LAYOUT) and len(doc["strokes"]) == 40 and doc["steps"] == [10, 30]
    back = read_strokes_json(tmp_path / "s.json")
    assert torch.equal(back.strokes, strokes) and back.steps == [10, 30]
    assert (back.height, back.width, back.style, back.background) == (48, 40, "oil", 0.25)
    assert torch.equal(render_strokes(back), render_strokes(original))
    assert render_strokes(back, 96, 80).shape == (3, 96, 80)


def test_paint_writes_strokes_that_render_the_png_exactly(painter_ckpt, picture, tmp_path, capsys):
    base = ["paint", str(picture), "--checkpoint", str(painter_ckpt), "--strokes", "17", "--size", "40"]
    out, svg, js = tmp_path / "p.gif", tmp_path / "p.svg", tmp_path / "p.json"
    assert glimpse_main([*base, "--out", str(out), "--svg", str(svg), "--strokes-json", str(js)]) == 0
    assert "p.svg" in capsys.readouterr().out
    s = read_strokes_json(js)
    assert len(s.strokes) == 17 and s.steps == [3, 3, 11] and (s.height, s.width) == (40, 40)  # 2 passes, 4 patches
    assert svg.read_text().startswith("<svg") and svg.read_text().count("<path") == 17
    for name, args in (("r.png", []), ("r.gif", ["--size", "80"]), ("r.svg", [])):
        assert glimpse_main(["render", str(js), "--out", str(tmp_path / name), *args]) == 0
    painted, rendered = (np.asarray(Image.open(tmp_path / n)) for n in ("p.png", "r.png"))
    assert np.array_equal(painted, rendered)  # the round trip reproduces the canvas exactly
    with Image.open(tmp_path / "r.gif") as gif:  # one frame per step, shown 3× as paint shows 80² paintings
        assert gif.n_frames == 3 and gif.size[0] == 3 * 80
    assert (tmp_path / "r.svg").read_text() == svg.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[0.5, 0.5]]", "stroke 0 has 2 numbers; a stroke is 13"),
        (json.dumps({"strokes": [[0.5] * 12 + [1.5]]}), "stroke 0 number 12 (B) is 1.5"),
        ('{"strokes": [[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, NaN]]}', "(B) is nan"),
        (json.dumps({"strokes": [[0.5] * 13, [0.5] * 6 + ["x"] + [0.5] * 6]}), "stroke 1 number 6 (r0) is 'x'"),
        (json.dumps({"strokes": [[0.5] * 13, -1]}), "stroke 1 has int numbers"),
        ("not json at all", "not a JSON stroke file"),
        (json.dumps({"paths": []}), 'expected a JSON object with "strokes"'),
        (json.dumps({"strokes": []}), "non-empty list"),
        (json.dumps({"strokes": [[0.5] * 13], "steps": [2]}), "adding up to the 1 strokes"),
        (json.dumps({"strokes": [[0.5] * 13], "width": 0}), "width is 0"),
        (json.dumps({"strokes": [[0.5] * 13], "style": "watercolour"}), "style 'watercolour'"),
        (json.dumps({"strokes": [[0.5] * 13], "channels": 3.0}), "channels is 3.0"),
    ],
)
def test_bad_stroke_files_are_named(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_strokes_json(path)
    assert glimpse_main(["render", str(path), "--out", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.json" in err and not (tmp_path / "r.png").exists()


def test_stroke_outputs_are_refused_before_anything_is_written(painter_ckpt, picture, tmp_path, capsys):
    base = ["paint", str(picture), "--checkpoint", str(painter_ckpt), "--strokes", "6", "--size", "16"]
    out = ["--out", str(tmp_path / "p.gif")]
    (tmp_path / "old.svg").write_text("good")
    (tmp_path / "old.json").write_text("good")
    cases = [
        (["--svg", str(tmp_path / "old.svg")], "old.svg exists; pass --force"),
        (["--strokes-json", str(tmp_path / "old.json")], "old.json exists; pass --force"),
        (["--svg", str(tmp_path / "a.png")], "--svg must name a .svg file"),
        (["--strokes-json", str(tmp_path / "s.txt")], "--strokes-json must name a .json file"),
        (["--svg", str(picture / "x.svg")], "is a file, not a folder"),
        (["--svg", str(tmp_path / "p.gif")], "--out and --svg name the same file"),
    ]
    for extra, message in cases:
        assert glimpse_main([*base, *out, *extra]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "p.gif").exists() and not (tmp_path / "p.png").exists()
    assert glimpse_main(["render", str(tmp_path / "none.json"), "--out", str(tmp_path / "r.png")]) == 2
    assert "none.json: no such stroke file" in capsys.readouterr().err
    assert glimpse_main(["render", str(tmp_path / "old.json"), "--out", str(tmp_path / "r.jpg")]) == 2
    assert "--out must name a .png, .gif or .svg file" in capsys.readouterr().err


def test_a_failed_write_keeps_the_good_files(painter_ckpt, picture, tmp_path, monkeypatch):
    base = ["paint", str(picture), "--checkpoint", str(painter_ckpt), "--strokes", "6", "--size", "16", "--force"]
    outs = [
        "--out",
        str(tmp_path / "p.gif"),
        "--svg",
        str(tmp_path / "p.svg"),
        "--strokes-json",
        str(tmp_path / "p.json"),
    ]
    assert glimpse_main([*base, *outs]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("p.")}

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("glimpse.svg.strokes_svg", broken)
    assert glimpse_main([*base, "--style", "oil", *outs]) == 2
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("p.")}
    assert after == before and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
