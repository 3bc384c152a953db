"""Train a painter for a fixed wall time with one training loss, and log its validation error.

    python -m bench.paint_loss_ab --loss mean     --minutes 30 --out bench/results/paint-loss-ab/mean.jsonl
    python -m bench.paint_loss_ab --loss relative --minutes 30 --out bench/results/paint-loss-ab/relative.jsonl
    python -m bench.paint_loss_ab --loss relative --scratch encoder_size=32 steps=20 --lr 1e-3 --out ...

By default it fine-tunes --checkpoint; ``--scratch KEY=VALUE ...`` instead starts a new painter
(40 steps × 5 strokes with solved colours, encoder at 64²) with those
fields changed, to compare painter shapes at equal wall time.

Run the two side by side (one thread each) so that they share the machine's speed. Both start from
the same checkpoint, see the same batches and flips (seed 0) and use Adam at a constant --lr, with
train.paint's chunked updates (5 steps per chunk, one update each). Training pictures: the first
7,744 CelebA training faces; validation: the next 256 (error after 10/50/100/200 strokes, every 10
minutes). ``relative`` divides each chunk's loss by its own detached value (``paint_loss``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from glimpse.canvas import compile_canvas
from glimpse.checkpoint import load_model
from glimpse.evaluate import painting_error
from glimpse.painter import Painter, PainterConfig
from glimpse.pictures import picture_splits
from train.paint import fit_batch

COUNTS = [10, 50, 100, 200]


def validate(model, val) -> dict[int, float]:
    """train.paint's evaluation, leaving the model in training mode."""
    return painting_error(model, val, COUNTS, "cpu", batch_size=128)


def scratch_config(pairs: list[str]) -> PainterConfig:
    """The 40 × 5 painter with solved colours (encoder at 64²) with KEY=VALUE fields changed (values
    parsed as the default's type)."""
    cfg = PainterConfig(steps=40, strokes_per_step=5, encoder_size=64, colour="solved")
    fields = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if not hasattr(cfg, key):
            raise SystemExit(f"--scratch: PainterConfig has no field {key!r}")
        default = getattr(cfg, key)
        fields[key] = value if isinstance(default, str) else int(value) if default is None else type(default)(value)
    return dataclasses.replace(cfg, **fields)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loss", choices=["mean", "relative"], required=True)
    p.add_argument("--checkpoint", default="glimpse/weights/painter_celeba.pt")
    p.add_argument("--data-root", default=None)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--scratch", nargs="*", metavar="KEY=VALUE", help="train a new painter with these config fields")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    compile_canvas(True)
    train, val, _ = picture_splits("celeba", 64, a.data_root, None, 256, 7744, progress=False)
    model = load_model(a.checkpoint) if a.scratch is None else Painter(scratch_config(a.scratch))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    gen = torch.Generator().manual_seed(0)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("")

    def record(t: float, batches: int) -> None:
        row = {"loss": a.loss, "scratch": a.scratch, "minutes": round(t, 1), "batches": batches}
        row["val"] = validate(model, val)
        with open(a.out, "a") as log:
            log.write(json.dumps(row) + "\n")

    record(0.0, 0)
    t0, batches, next_eval = time.time(), 0, 10.0
    while (time.time() - t0) / 60 < a.minutes:
        for x, _ in train.batches(16, shuffle=True, generator=gen, drop_last=True):
            flip = torch.rand(16, generator=gen) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            fit_batch(model, opt, x, 5, 1.0, a.loss == "relative")
            batches += 1
            minutes = (time.time() - t0) / 60
            if minutes > next_eval:
                record(minutes, batches)
                next_eval += 10
            if minutes > a.minutes:
                break
    record((time.time() - t0) / 60, batches)


if __name__ == "__main__":
    main()
