"""`glimpse plot` and glimpse.curves: learning curves from metrics.jsonl."""

from __future__ import annotations

import json

import pytest

from glimpse.cli import main as glimpse_main
from glimpse.curves import panel_keys, plot_runs, read_metrics
from glimpse.errors import UsageError

PNG = b"\x89PNG\r\n\x1a\n"


def write_run(folder, rows):
    folder.mkdir()
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def runs(tmp_path):
    ram = write_run(
        tmp_path / "ram",
        [
            {"epoch": e, "loss": 2.0 / e, "val_error": 0.3 / e, "images_per_s": 5000 + e, "wall_s": 15.0 * e}
            for e in range(1, 6)
        ],
    )
    painter = write_run(
        tmp_path / "painter", [{"epoch": e, "loss": 0.02 / e, "val_mse": 0.006 / e, "wall_s": 60.0 * e} for e in (1, 2)]
    )
    return ram, painter


def cli(args):
    """The command's exit status (SystemExit's code counts, a message meaning 1)."""
    try:
        return glimpse_main([str(a) for a in args])
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1


def test_panels_are_loss_every_validation_key_and_speed(runs):
    data = [read_metrics(r) for r in runs]
    assert panel_keys(data) == ["loss", "val_error", "val_mse", "images_per_s"]
    assert panel_keys(data[1:]) == ["loss", "val_mse"]
    draw = [[{"epoch": 1, "loss": 1.0, "val_nats": 90.0, "val_bits": 1.0}]]
    assert panel_keys(draw) == ["loss", "val_nats", "val_bits"]


def test_plot_writes_a_png_by_epoch_and_by_wall_clock(runs, tmp_path):
    out = tmp_path / "curves.png"
    assert cli(["plot", *runs, "--out", out]) == 0
    assert out.read_bytes().startswith(PNG)
    wall = plot_runs([runs[0] / "metrics.jsonl", runs[1]], tmp_path / "wall.png", x="wall", labels=["a", "b"])
    assert wall.read_bytes().startswith(PNG)


def test_plot_refuses_to_overwrite_without_force(runs, tmp_path):
    out = tmp_path / "curves.png"
    out.write_bytes(b"keep")
    assert cli(["plot", runs[0], "--out", out]) == 2
    assert out.read_bytes() == b"keep"
    assert cli(["plot", runs[0], "--out", out, "--force"]) == 0
    assert out.read_bytes().startswith(PNG)


def test_user_mistakes_are_one_line_with_status_2(runs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(["plot", runs[0], empty, "--out", tmp_path / "c.png"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no metrics.jsonl" in err and str(empty) in err
    assert cli(["plot", runs[0], "--out", tmp_path / "c.jpg"]) == 2
    assert not (tmp_path / "c.png").exists()
    (runs[0] / "metrics.jsonl").write_text('{"epoch": 1, "loss": 1.0}\n')
    with pytest.raises(UsageError, match="wall_s"):
        plot_runs([runs[0]], tmp_path / "w.png", x="wall")
    (runs[0] / "metrics.jsonl").write_text("not json\n")
    with pytest.raises(UsageError, match="line 1"):
        read_metrics(runs[0])
