"""Seconds per training batch of 16 faces at 64² for painters of different shapes (random weights
and pictures, compiled canvas, relative loss, train.paint's 5-step chunks), each after two warm-up
batches, averaged over three. Three batches of the first shape come first, untimed, while the
canvas kernels compile.

    python -m bench.paint_batch_time --threads 2 > bench/results/paint_batch_time.txt
"""

from __future__ import annotations

import argparse
import time

import torch

from glimpse.canvas import compile_canvas
from glimpse.painter import Painter, PainterConfig
from train.paint import fit_batch

FORTY_BY_FIVE = dict(steps=40, strokes_per_step=5, encoder_size=64)  # the painter these shapes were compared with
SHAPES = {
    "40x5, encoder 64": FORTY_BY_FIVE,
    "40x5, encoder 32": {**FORTY_BY_FIVE, "encoder_size": 32},
    "20x10, encoder 64": dict(steps=20, strokes_per_step=10, encoder_size=64),
    "20x10, encoder 32": dict(encoder_size=32, steps=20, strokes_per_step=10),
    "10x20, encoder 32": dict(encoder_size=32, steps=10, strokes_per_step=20),
    "40x5, encoder width 16": {**FORTY_BY_FIVE, "width": 16},
}


def seconds_per_batch(fields: dict, x: torch.Tensor, warmup: int = 2, timed: int = 3) -> float:
    cfg = PainterConfig(colour="solved", **fields)
    model = Painter(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    for _ in range(warmup):
        fit_batch(model, opt, x, 5, 1.0, True)
    t = time.perf_counter()
    for _ in range(timed):
        fit_batch(model, opt, x, 5, 1.0, True)
    return (time.perf_counter() - t) / timed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    compile_canvas(True)
    x = torch.rand(16, 3, 64, 64)
    seconds_per_batch(FORTY_BY_FIVE, x, warmup=3, timed=1)  # compile the first shape's canvas kernels first
    for name, fields in SHAPES.items():
        print(f"{name}: {seconds_per_batch(fields, x):.2f} s per batch", flush=True)


if __name__ == "__main__":
    main()
