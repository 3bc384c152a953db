"""Typed command-line arguments and device choice shared by the training entry points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from glimpse.errors import UsageError
from train.common import arg, parse_args, pick_device


@dataclass
class Example:
    steps: int = arg(3, "how many")
    rate: float = arg(0.5, "how fast")
    name: str | None = arg(None, "optional text")
    mode: Literal["a", "b"] = arg("a", "one of two")
    flag: bool = arg(False, "a switch")


def test_defaults_and_types():
    assert parse_args(Example, []) == Example()
    got = parse_args(Example, ["--steps", "7", "--rate", "1e-3", "--name", "x", "--mode", "b", "--flag"])
    assert got == Example(7, 1e-3, "x", "b", True)
    assert parse_args(Example, ["--no-flag"]).flag is False


def test_bad_values_are_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args(Example, ["--mode", "c"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(Example, ["--steps", "many"])


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        parse_args(Example, ["--help"])
    shown = capsys.readouterr().out
    for text in ("how many (default: 3)", "how fast (default: 0.5)", "one of two (default: a)"):
        assert text in " ".join(shown.split()), text


def test_devices():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    for bad in ("tpu", "cudax", "cuda:", "cuda:one"):
        with pytest.raises(UsageError, match="--device must be"):
            pick_device(bad)
