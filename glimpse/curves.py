"""Learning curves: draw the ``metrics.jsonl`` of training runs side by side in one PNG.

    from glimpse.curves import plot_runs
    plot_runs(["bench/results/rnn-late-anneal-160", "bench/results/random-control"], "curves.png")

Every training script writes one JSON line per epoch to ``RUN/metrics.jsonl``. The figure has one
panel for the training ``loss``, one for each validation key present in any run (``val_error`` for
glimpse classifiers, ``val_mse`` for painters, any other ``val_*`` key a later model writes), and
one for ``images_per_s`` when a run logs it. The x axis is the epoch, or wall-clock minutes
(``x="wall"``, from ``wall_s``). Drawn with matplotlib's Agg backend: no display needed.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from glimpse.errors import UsageError
from glimpse.files import atomic_path

METRICS = "metrics.jsonl"
TRAINING = ("loss", "bound")  # the training objective's key: most models log "loss", DRAW its "bound"
KNOWN_VALIDATION = ("val_error", "val_mse", "val_nats", "val_loss")  # drawn in this order, then other val_*
TITLES = {
    "loss": "training loss",
    "bound": "training bound (nats per image)",
    "val_error": "validation error",
    "val_mse": "validation error (squared error per pixel)",
    "val_nats": "validation nats per image",
    "val_loss": "validation loss",
    "images_per_s": "training images/s",
}
X_AXES = ("epoch", "wall")

PathLike = str | os.PathLike[str]


def metrics_file(run: PathLike) -> Path:
    """The ``metrics.jsonl`` of a run folder (or the file itself); a UsageError if there is none."""
    path = Path(run)
    if path.is_dir():
        path = path / METRICS
    if not path.is_file():
        raise UsageError(f"{run}: no {METRICS} here (expected a run folder written by a training script)")
    return path


def read_metrics(run: PathLike) -> list[dict]:
    """The rows of a run's ``metrics.jsonl``, one dict per epoch (blank lines skipped)."""
    path = metrics_file(run)
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UsageError(f"{path}, line {n}: not JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise UsageError(f"{path}, line {n}: expected one JSON object per line")
        rows.append(row)
    if not rows:
        raise UsageError(f"{path} holds no epochs yet")
    return rows


def panel_keys(runs: list[list[dict]]) -> list[str]:
    """The metrics to draw, one panel each: loss, the validation keys present, images/s."""
    present = {k for rows in runs for row in rows for k in row}
    extra = sorted(k for k in present if k.startswith("val_") and k not in KNOWN_VALIDATION)
    keys = [*TRAINING, *[k for k in KNOWN_VALIDATION if k in present], *extra, "images_per_s"]
    return [k for k in keys if k in present]


def _x_value(row: dict, x: str) -> float | None:
    if x == "epoch":
        return row.get("epoch")
    wall = row.get("wall_s")
    return None if wall is None else wall / 60.0


def plot_runs(
    runs: list[PathLike], out: PathLike, x: str = "epoch", labels: list[str] | None = None, title: str | None = None
) -> Path:
    """Draw the learning curves of ``runs`` (run folders or metrics.jsonl files) into the PNG ``out``.

    ``x``: ``"epoch"`` or ``"wall"`` (wall-clock minutes from each row's ``wall_s``). ``labels``:
    one legend entry per run (default: the run folder's name). The PNG is written atomically.
    """
    if x not in X_AXES:
        raise UsageError(f"x axis must be one of {', '.join(X_AXES)}; got {x!r}")
    if not runs:
        raise UsageError("no runs to plot")
    if labels is not None and len(labels) != len(runs):
        raise UsageError(f"{len(labels)} labels for {len(runs)} runs")
    data = [read_metrics(r) for r in runs]
    if x == "wall":
        for run, rows in zip(runs, data, strict=True):
            if not any("wall_s" in row for row in rows):
                raise UsageError(f"{run}: its {METRICS} has no wall_s, so it cannot be drawn against wall-clock time")
    names = labels or [metrics_file(r).parent.name for r in runs]
    keys = panel_keys(data)

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        values = []
        for rows, name in zip(data, names, strict=True):
            pts = [(_x_value(r, x), r[key]) for r in rows if isinstance(r.get(key), int | float)]
            pts = [(a, b) for a, b in pts if a is not None and math.isfinite(b)]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, label=name, linewidth=1.2, marker="o" if len(xs) <= 20 else None, markersize=3)
                values.extend(ys)
        if values and min(values) > 0 and max(values) > 10 * min(values):
            ax.set_yscale("log")
        ax.set_title(TITLES.get(key, key), fontsize=10)
        ax.set_xlabel("epoch" if x == "epoch" else "wall-clock minutes")
        ax.grid(True, alpha=0.3, which="both")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out
