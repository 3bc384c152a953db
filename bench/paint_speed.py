"""`glimpse paint`'s speed, the earlier whole-canvas path beside the windowed one, in one run (issue 20).

    python -m bench.paint_speed --data-root ../shared/data --threads 1 --out bench/results/paint_speed.json

For each case (256² with 1,000 strokes, 512² with 4,000) and style (flat, oil) it times what the
command times, in one process, ``--repeats`` times (min and median):

- **painting**: loading the shipped painter and the portrait (public/astronaut.png, whole picture),
  :func:`glimpse.painting.paint_picture` and the final PNG image (the command's "painted in");
- **gif**: the frames (:func:`glimpse.render.paint_frames`) and writing the GIF (:func:`write_gif`).

``old``: the painter's own rollout on whole canvases, every stroke painted again on the whole
canvas (``window=False``), frames painted on the whole canvas, the GIF written by imageio with a
palette per frame. ``new``: every stroke on its window only, the painter's canvas reused, one shared
GIF palette. Both use today's oil texture, which costs more per pixel than the one before it (the
``old`` path pays that on every pixel of the canvas); ``--baseline DIR`` also times the code as it
was, a checkout of it in DIR (``git worktree add DIR 60c14c2``: ``before``), in a subprocess.
The old path needs every stroke's coverage at once (strokes × size² × 24 bytes): at 512² with
4,000 strokes that is 24 GiB, which the command refused, so it is not run there.
The machine's load average (``uptime``) is recorded before and after: timings on a loaded machine
are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

OLD_MEMORY_LIMIT_GIB = 8.0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def time_once(picture: Path, size: int, strokes: int, style: str, window: bool, folder: Path) -> dict[str, float]:
    from glimpse.checkpoint import load_model
    from glimpse.painting import paint_picture
    from glimpse.pictures import load_picture
    from glimpse.render import paint_frames, to_rgb, write_gif
    from glimpse.shipped import shipped_path

    t0 = time.perf_counter()
    model = load_model(shipped_path("painter"), kind="painter")
    target = load_picture(picture, size, channels=model.cfg.channels)
    painting = paint_picture(model, target, strokes, style, window=window)
    to_rgb(painting.canvas)
    t1 = time.perf_counter()
    frames = paint_frames(target, painting.steps, model.cfg.mode, style, model.cfg.background, max(1, 256 // size),
                          window=window)  # fmt: skip
    write_gif(frames, folder / f"{style}-{size}.gif", 8.0, shared_palette=window)
    t2 = time.perf_counter()
    mse = (painting.canvas - target).pow(2).mean().item()
    return {"painting_s": t1 - t0, "gif_s": t2 - t1, "frames": len(frames), "mse": mse}


BASELINE = """
import json, sys, time, torch
torch.set_num_threads({threads})
from glimpse.checkpoint import load_model
from glimpse.painting import paint_picture
from glimpse.pictures import load_picture
from glimpse.render import paint_frames, to_rgb, write_gif
from glimpse.shipped import shipped_path
t0 = time.perf_counter()
model = load_model(shipped_path("painter"), kind="painter")
target = load_picture({picture!r}, {size}, channels=model.cfg.channels)
painting = paint_picture(model, target, {strokes}, {style!r})
to_rgb(painting.canvas)
t1 = time.perf_counter()
frames = paint_frames(target, painting.steps, model.cfg.mode, {style!r}, model.cfg.background, max(1, 256 // {size}))
write_gif(frames, {gif!r}, 8.0)
t2 = time.perf_counter()
mse = (painting.canvas - target).pow(2).mean().item()
print(json.dumps({{"painting_s": t1 - t0, "gif_s": t2 - t1, "frames": len(frames), "mse": mse}}))
"""


def time_baseline(tree: Path, picture: Path, size: int, strokes: int, style: str, threads: int, folder: Path) -> dict:
    """time_once with the code in ``tree`` (an earlier checkout), in a subprocess."""
    code = BASELINE.format(threads=threads, picture=str(picture), size=size, strokes=strokes, style=style,
                           gif=str(folder / f"before-{style}-{size}.gif"))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.environ.get("GLIMPSE_DATA", "../shared/data"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cases", nargs="+", default=["256:1000", "512:4000"], help="SIZE:STROKES")
    p.add_argument("--out", default="bench/results/paint_speed.json")
    p.add_argument("--baseline", type=Path, help="a checkout of the earlier code, timed as 'before'")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    picture = Path(a.data_root) / "public" / "astronaut.png"
    results = {
        "baseline": str(a.baseline) if a.baseline else None,
        "command": "python -m bench.paint_speed " + " ".join(argv if argv is not None else sys.argv[1:]),
        "picture": str(picture),
        "threads": a.threads,
        "repeats": a.repeats,
        "cpu_cores": os.cpu_count(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load_average_before": load_average(),
        "cases": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for case in a.cases:
            size, strokes = (int(x) for x in case.split(":"))
            for style in ("flat", "oil"):
                for path in ("before", "old", "new") if a.baseline else ("old", "new"):
                    row = {"size": size, "strokes": strokes, "style": style, "path": path}
                    need = strokes * size * size * 24 / 2**30
                    if path in ("before", "old") and need > OLD_MEMORY_LIMIT_GIB:
                        row["skipped"] = f"the old path needs about {need:.1f} GiB (strokes × size² × 24 bytes)"
                    else:
                        if path == "before":
                            runs = [time_baseline(a.baseline, picture, size, strokes, style, a.threads, Path(tmp))
                                    for _ in range(a.repeats)]  # fmt: skip
                        else:
                            runs = [time_once(picture, size, strokes, style, path == "new", Path(tmp))
                                    for _ in range(a.repeats)]  # fmt: skip
                        for key in ("painting_s", "gif_s"):
                            values = [r[key] for r in runs]
                            row[key] = {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
                                        "all": [round(v, 3) for v in values]}  # fmt: skip
                        row["frames"], row["mse"] = runs[0]["frames"], round(runs[0]["mse"], 6)
                        row["load_average"] = load_average()
                    print(json.dumps(row), flush=True)
                    results["cases"].append(row)
    results["load_average_after"] = load_average()
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
