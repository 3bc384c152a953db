"""Strokes out of a painting and back in: a JSON stroke list that renders again exactly.

A stroke file holds every stroke's 13 numbers in painting order, in the documented layout
(:mod:`glimpse.strokes`: ``x0 y0 cx cy x2 y2 r0 r2 a0 a2 R G B``, each in [0, 1]), how many
strokes each painting step laid, and what the canvas needs to render them the same way again: its
size, channels, rasteriser, style, edge softness and background::

    {"format": "glimpse-strokes", "version": 1,
     "layout": ["x0", "y0", "cx", "cy", "x2", "y2", "r0", "r2", "a0", "a2", "R", "G", "B"],
     "height": 256, "width": 256, "channels": 3, "mode": "fast", "style": "flat", "edge": 0.5,
     "background": 0.0, "steps": [10, 10, ...], "strokes": [[0.41, 0.52, ...], ...]}

Numbers are written as the shortest decimal that reads back as the same float32, so a stroke list
read back renders the very canvas it came from (:func:`render_strokes`). Strokes are
resolution-free: the same list renders at any size (radii scale with the canvas).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from glimpse.canvas import blank, paint
from glimpse.errors import UsageError
from glimpse.strokes import MODES, STROKE_SIZE, STYLES

FORMAT = "glimpse-strokes"
VERSION = 1
LAYOUT = ("x0", "y0", "cx", "cy", "x2", "y2", "r0", "r2", "a0", "a2", "R", "G", "B")
MAX_SIDE = 4096


@dataclass
class StrokeList:
    """Strokes in painting order and the canvas they were painted on."""

    strokes: Tensor  # (N, 13) float32 in [0, 1]
    height: int
    width: int
    channels: int = 3
    mode: str = "fast"
    style: str = "flat"
    edge: float = 0.5
    background: float = 0.0
    steps: list[int] = field(default_factory=list)  # strokes per painting step (sums to N)

    def step_strokes(self) -> list[Tensor]:
        """The strokes of each step, (n_i, 13) each (one step holding all when steps is empty)."""
        return list(self.strokes.split(self.steps or [len(self.strokes)]))


def _number(x: float) -> float:
    """A float32 as the shortest decimal that reads back as the same float32."""
    text = f"{x:.9g}"
    for digits in range(6, 10):
        short = f"{x:.{digits}g}"
        if torch.tensor(float(short), dtype=torch.float32).item() == x:
            text = short
            break
    return float(text)


def stroke_document(s: StrokeList) -> dict:
    """The JSON document of a stroke list (see the module's docstring)."""
    strokes = s.strokes.detach().to(torch.float32).cpu()
    return {
        "format": FORMAT,
        "version": VERSION,
        "layout": list(LAYOUT),
        "height": s.height,
        "width": s.width,
        "channels": s.channels,
        "mode": s.mode,
        "style": s.style,
        "edge": s.edge,
        "background": s.background,
        "steps": list(s.steps) or [len(strokes)],
        "strokes": [[_number(x) for x in row] for row in strokes.tolist()],
    }


def write_strokes_json(s: StrokeList, path: str | os.PathLike[str]) -> None:
    """Write the stroke list to ``path`` as JSON, one stroke a line (callers write atomically)."""
    doc = stroke_document(s)
    rows = doc.pop("strokes")
    head = "".join(f" {json.dumps(k)}: {json.dumps(v)},\n" for k, v in doc.items())
    body = ",\n  ".join(json.dumps(r) for r in rows)
    Path(path).write_text(f'{{\n{head} "strokes": [\n  {body}\n ]\n}}\n', encoding="utf-8")


def _fail(path: Path, message: str) -> UsageError:
    return UsageError(f"{path}: {message}")


def read_strokes_json(path: str | os.PathLike[str]) -> StrokeList:
    """Read a stroke file; anything that is not a stroke list raises :class:`UsageError` naming the
    file and the value: a missing or unreadable file, not JSON, a stroke of the wrong length, a
    number outside [0, 1] or not a number (NaN), steps that do not add up, a bad canvas field."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such stroke file" if not path.is_dir() else "is a folder, not a stroke file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _fail(path, f"not a JSON stroke file ({err})") from None
    if isinstance(doc, list):  # a bare list of strokes: painted on the default canvas
        doc = {"strokes": doc}
    if not isinstance(doc, dict) or "strokes" not in doc:
        raise _fail(path, 'not a stroke file: expected a JSON object with "strokes" (or a list of strokes)')
    if doc.get("format", FORMAT) != FORMAT or doc.get("version", VERSION) != VERSION:
        raise _fail(path, f"format {doc.get('format')!r} version {doc.get('version')!r}; expected {FORMAT!r} {VERSION}")
    rows = doc["strokes"]
    if not isinstance(rows, list) or not rows:
        raise _fail(path, '"strokes" must be a non-empty list of strokes of 13 numbers')
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != STROKE_SIZE:
            n = len(row) if isinstance(row, list) else type(row).__name__
            raise _fail(path, f"stroke {i} has {n} numbers; a stroke is {STROKE_SIZE} ({' '.join(LAYOUT)})")
        for j, x in enumerate(row):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x <= 1:  # NaN fails too
                raise _fail(path, f"stroke {i} number {j} ({LAYOUT[j]}) is {x!r}; stroke numbers lie in [0, 1]")
    strokes = torch.tensor(rows, dtype=torch.float64).to(torch.float32)
    height, width = _side(path, doc, "height"), _side(path, doc, "width")
    channels = doc.get("channels", 3)
    if isinstance(channels, bool) or not isinstance(channels, int) or channels not in (1, 3):  # 3.0 too
        raise _fail(path, f"channels is {channels!r}; a canvas has 1 or 3")
    mode, style = doc.get("mode", "fast"), doc.get("style", "flat")
    if mode not in MODES or style not in STYLES:
        raise _fail(path, f"mode {mode!r} and style {style!r}: mode is one of {MODES}, style one of {STYLES}")
    edge, background = doc.get("edge", 0.5), doc.get("background", 0.0)
    if not _real(edge) or not 0 < edge < math.inf:
        raise _fail(path, f"edge is {edge!r}; the edge softness is a number of px above 0")
    if not _real(background) or not 0 <= background <= 1:
        raise _fail(path, f"background is {background!r}; a grey level in [0, 1]")
    steps = doc.get("steps", [len(rows)])
    if (
        not isinstance(steps, list)
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in steps)
        or sum(steps) != len(rows)
    ):
        raise _fail(path, f"steps {steps!r} must be counts of strokes adding up to the {len(rows)} strokes")
    return StrokeList(strokes, height, width, channels, mode, style, float(edge), float(background), steps)


def _real(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _side(path: Path, doc: dict, name: str) -> int:
    value = doc.get(name, 128)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
        raise _fail(path, f"{name} is {value!r}; a canvas side is a whole number of pixels from 1 to {MAX_SIDE}")
    return value


def render_strokes(
    s: StrokeList, height: int | None = None, width: int | None = None, style: str | None = None
) -> Tensor:
    """Paint the stroke list on a blank canvas of its own size (or ``height`` × ``width``), each
    stroke on its window, in painting order.  ->  (C, H, W)"""
    h, w = height or s.height, width or s.width
    canvas = blank(1, s.channels, h, w, s.background, dtype=torch.float32)
    return paint(canvas, s.strokes[None], s.mode, style or s.style, s.edge, window=True)[0]
