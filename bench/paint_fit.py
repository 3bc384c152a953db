"""The per-image reference: fit 10/30/50/100/200 strokes to CelebA test faces directly.

    python -m bench.paint_fit --data-root ../shared/data [--pictures 24] [--iters 200] \\
        [--out bench/results/paint_fit.json]

For each stroke count, every face (the first ``--pictures`` test IDs, 64×64 RGB in [0, 1], black
canvas) gets its own strokes, fitted by Adam (lr 0.05, cosine decay) on the squared error through
the fast canvas from a coarse-to-fine random start (:func:`glimpse.fit.fit_strokes`). Reported:
mean squared error per pixel and seconds per face. ``bench.paint_table`` puts the painter beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from glimpse.fit import fit_strokes
from glimpse.pictures import celeba_files, load_pictures

COUNTS = (10, 30, 50, 100, 200)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root")
    p.add_argument("--pictures", type=int, default=24)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    _, test = celeba_files(a.data_root)
    faces = load_pictures(test[: a.pictures], a.size, progress=False).float() / 255
    res = {"pictures": len(faces), "size": a.size, "iters": a.iters, "lr": a.lr, "mse": {}, "s_per_face": {}}
    for n in a.counts:
        t0 = time.perf_counter()
        fit = fit_strokes(faces, n, a.iters, a.lr, generator=torch.Generator().manual_seed(a.seed))
        res["mse"][n] = fit.mse.mean().item()
        res["s_per_face"][n] = (time.perf_counter() - t0) / len(faces)
        print(f"{n} strokes: mse {res['mse'][n]:.5f}  ({res['s_per_face'][n]:.1f} s per face)", flush=True)
        if a.out:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(a.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
