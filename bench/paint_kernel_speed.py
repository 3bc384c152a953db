"""The painting environments' C kernel alone (``envs.paint_kernel.paint_step``): time per batched
step against the eager painting it replaces, and its largest differences from
``glimpse.canvas.paint`` over canvas sizes, channels and edge widths.

    python -m bench.paint_kernel_speed --out bench/results/paint_kernel_speed.json

Timing: N = 256 environments of 64² canvases, uniform random strokes (faces: 10 RGB strokes a
step, digits: 2 grey), best of ``--repeats`` after a warm-up, at each of ``--threads``. The eager
side is ``PaintTask.step`` without ``compile`` (the library's fast canvas in blocks of ~160
strokes, then uint8 and error). Accuracy: 6 environments × 5 strokes on random canvases, the first
stroke of each an edge case (as in tests/test_paint_kernel.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from envs.paint_env import PaintTask, to_uint8
from envs.paint_kernel import paint_step
from glimpse.canvas import paint

SETTINGS = {"faces": (3, 10), "digits": (1, 2)}  # channels, strokes per step


def best_time(fn, args: tuple, repeats: int) -> float:
    fn(*args)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def speed(n: int, size: int, repeats: int, threads: list[int]) -> dict:
    rows = {}
    for name, (c, k) in SETTINGS.items():
        g = torch.Generator().manual_seed(0)
        canvas, target = torch.rand(2, n, c, size, size, generator=g)
        strokes = torch.rand(n, k, 13, generator=g)
        eager_task = dict(channels=c, size=size, strokes_per_step=k, compile=False)  # the eager side, stated
        task = PaintTask(pictures=torch.zeros(1, c, size, size), **eager_task)
        for th in threads:
            torch.set_num_threads(th)
            kernel = best_time(paint_step, (canvas, strokes, target, 0.5), repeats)
            eager = best_time(task.step, (canvas, strokes, target), repeats)
            rows[f"{name}, {th} thread(s)"] = {
                "kernel_ms": 1e3 * kernel,
                "eager_ms": 1e3 * eager,
                "speed-up": eager / kernel,
                "kernel_ns_per_stroke_pixel": 1e9 * kernel / (n * k * size * size),
                "kernel_env_steps_per_s": n / kernel,
            }
            print(name, th, json.dumps(rows[f"{name}, {th} thread(s)"]), flush=True)
    return rows


def accuracy() -> dict:
    worst = {"canvas": 0.0, "error": 0.0, "uint8": 0}
    for size in (36, 37, 64, 100, 128):
        for c in (1, 3):
            for edge in (0.1, 0.5, 2.0):
                g = torch.Generator().manual_seed(size * 10 + c)
                canvas, target = torch.rand(2, 6, c, size, size, generator=g)
                s = torch.rand(6, 5, 13, generator=g)
                s[0, 0, 4:6] = s[0, 0, 0:2]  # a dot
                s[1, 0, 6:8], s[2, 0, 6:8], s[3, 0, 8:10] = 0.0, 1.0, 0.0  # thinnest, broadest, no paint
                s[4, 0, :6] = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0])  # corner to corner
                s[5, :, 6], s[5, :, 7] = 0.0, 1.0  # thinnest to broadest
                out, u8, err = paint_step(canvas, s, target, edge)
                ref = paint(canvas, s, edge=edge)
                ref_err = (ref - target).pow(2).mean((1, 2, 3)).double()
                worst["canvas"] = max(worst["canvas"], (out - ref).abs().max().item())
                worst["error"] = max(worst["error"], (err - ref_err).abs().max().item())
                worst["uint8"] = max(worst["uint8"], (u8.int() - to_uint8(ref).int()).abs().max().item())
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-envs", type=int, default=256)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", default="bench/results/paint_kernel_speed.json")
    a = p.parse_args()
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "load_average": os.getloadavg(),
        "num_envs": a.num_envs,
        "size": a.size,
        "speed": speed(a.num_envs, a.size, a.repeats, a.threads),
        "largest_differences_from_glimpse_canvas_paint": accuracy(),
    }
    print(json.dumps(results["largest_differences_from_glimpse_canvas_paint"]))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
