"""How elongated a painter's strokes are (issue 20): length/width quantiles on CelebA test faces.

    python -m bench.stroke_shapes --data-root ../shared/data --threads 1 --out bench/results/stroke_shapes.json
    python -m bench.stroke_shapes --checkpoint runs/paint-brush/model.pt ...      # another painter

A stroke's length is the arc length of its centre line in px, its width twice its mean radius in px
(:func:`glimpse.strokes.stroke_dimensions`), on the canvas the painter paints: the first
``--pictures`` CelebA test faces (IDs from 000001) at ``--size``², ``--strokes`` strokes each (one
pass, :func:`glimpse.painting.paint_pictures`). Reports the quantiles of length, width and
length/width, the share of strokes shorter than they are wide, and the squared error per pixel.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def shape_summary(length: Tensor, width: Tensor) -> dict:
    """Quantiles of length, width (px) and length/width, and the share shorter than wide. (N,), (N,)"""
    ratio = length / width
    q = torch.tensor(QUANTILES, dtype=torch.float64)

    def quantiles(x: Tensor) -> dict[str, float]:
        return {
            f"q{round(100 * p)}": round(v, 4) for p, v in zip(QUANTILES, x.double().quantile(q).tolist(), strict=True)
        }

    return {
        "strokes": len(ratio),
        "length_px": quantiles(length),
        "width_px": quantiles(width),
        "length_over_width": quantiles(ratio),
        "median_length_over_width": round(ratio.double().median().item(), 4),
        "shorter_than_wide": round((ratio < 1).double().mean().item(), 4),
    }


@torch.no_grad()
def measure(model, faces: Tensor, strokes: int) -> dict:
    """Paint float faces (B, C, S, S) in [0, 1] and summarise the shapes of every stroke laid."""
    from glimpse.painting import paint_pictures
    from glimpse.strokes import stroke_dimensions

    painting = paint_pictures(model, faces, strokes)
    laid = torch.cat(painting.steps, 1)  # (B, N, 13)
    length, width = stroke_dimensions(laid.reshape(-1, laid.shape[-1]), faces.shape[-2], faces.shape[-1])
    out = shape_summary(length, width)
    out["mse"] = round((painting.canvas - faces).pow(2).mean().item(), 6)
    out["strokes_per_picture"] = laid.shape[1]
    return out


def main(argv: list[str] | None = None) -> dict:
    from glimpse.checkpoint import load_model
    from glimpse.pictures import celeba_files, load_pictures
    from glimpse.shipped import shipped_path

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="a painter checkpoint (default: the shipped painter)")
    p.add_argument("--data-root", default=os.environ.get("GLIMPSE_DATA"))
    p.add_argument("--pictures", type=int, default=50)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--strokes", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="bench/results/stroke_shapes.json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    checkpoint = a.checkpoint or str(shipped_path("painter"))
    model = load_model(checkpoint, kind="painter").eval()
    _, test = celeba_files(a.data_root)
    faces = load_pictures(test[: a.pictures], a.size, model.cfg.channels, progress=False).float().div(255)
    t0 = time.perf_counter()
    result = {
        "command": "python -m bench.stroke_shapes " + " ".join(argv if argv is not None else sys.argv[1:]),
        "checkpoint": checkpoint if a.checkpoint else "shipped: painter",
        "pictures": f"CelebA test IDs 000001-{a.pictures:06d} at {a.size}²",
        **measure(model, faces, a.strokes),
    }
    result["seconds"] = round(time.perf_counter() - t0, 2)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
