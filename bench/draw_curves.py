"""DRAW learning curves: validation bound (nats per image) against epochs and against hours.

    python -m bench.draw_curves bench/results/draw-att bench/results/draw-noatt --out bench/results/draw_curves.png

Each RUN is a folder holding a ``metrics.jsonl`` written by ``train.draw``. The paper's bounds
(80.97 nats with attention, 87.40 without; a fixed binarisation) and the 88-nat target are drawn
as horizontal lines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PAPER = {"paper, attention (80.97)": 80.97, "paper, no attention (87.40)": 87.40, "target (88)": 88.0}


def read(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--labels", nargs="*", help="one label per run (default: the folder names)")
    p.add_argument("--out", type=Path, default=Path("bench/results/draw_curves.png"))
    p.add_argument("--top", type=float, default=130.0, help="upper limit of the nats axis")
    a = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = a.labels or [r.name for r in a.runs]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for run, label in zip(a.runs, labels, strict=True):
        rows = read(run)
        val = [r["val_bound"] for r in rows]
        axes[0].plot([r["epoch"] for r in rows], val, marker="o", ms=3, label=label)
        axes[1].plot([r["wall_s"] / 3600 for r in rows], val, marker="o", ms=3, label=label)
    for ax, xlabel in zip(axes, ("epoch", "hours of training (2-core CPU, one thread per run)"), strict=True):
        for (name, y), style in zip(PAPER.items(), (":", "--", "-."), strict=True):
            ax.axhline(y, color="grey", ls=style, lw=1, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylim(75, a.top)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation −bound, nats per image (fixed binarisation)")
    axes[1].legend(fontsize=8)
    fig.suptitle("DRAW on binarised MNIST (train: dynamic binarisation)")
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")
    return a.out


if __name__ == "__main__":
    main()
