"""The painting table: squared error per pixel on CelebA test faces, painter beside per-image fitting.

    python -m bench.paint_table --checkpoint runs/paint-celeba/model.pt --data-root ../shared/data \\
        [--pictures 2000] [--fit bench/results/paint_fit.json] [--out bench/results/paint_table.json]

Painter rows: one forward pass per face (IDs 000001-002000), error after the first 10/30/50/100/200
strokes at 64², and at 128² with 200 strokes painted two ways: the whole face in one pass (the
encoder sees it at 64², strokes are rendered at 128²), and coarse to fine (half the strokes on the
whole face, the rest on a 2×2 grid of patches). With ``--fit`` (the output of ``bench.paint_fit``)
the painter is also measured on the faces that were fitted directly, for the side-by-side table.
RGB in [0, 1]; canvases start black.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from glimpse.checkpoint import load_model
from glimpse.data import ImageSet
from glimpse.evaluate import painting_error
from glimpse.fit import fit_strokes
from glimpse.painter import mse_by_strokes, stroke_sequence
from glimpse.painting import paint_pictures
from glimpse.pictures import celeba_files, load_pictures

COUNTS = (10, 30, 50, 100, 200)


def painter_mse(model, faces: torch.Tensor, counts) -> dict[int, float]:
    """The painter's error after each stroke count on uint8 faces (train.paint's evaluation)."""
    device = next(model.parameters()).device
    return painting_error(model, ImageSet(faces, torch.zeros(len(faces), dtype=torch.long)), list(counts), device)


@torch.no_grad()
def painter_mse_128(model, faces: torch.Tensor, strokes: int, batch: int = 50) -> dict[str, float]:
    cfg = model.cfg
    whole, c2f = 0.0, 0.0
    device = next(model.parameters()).device
    for i in range(0, len(faces), batch):
        x = faces[i : i + batch].to(device).float() / 255
        s = stroke_sequence(model.rollout(x, -(-strokes // cfg.strokes_per_step)))
        whole += mse_by_strokes(s, x, [strokes], cfg.mode, cfg.style, cfg.edge, cfg.background)[strokes].sum().item()
        patches = paint_pictures(model, x, strokes, one_pass_up_to=1.0).canvas  # 2×2 patches at 128²
        c2f += (patches - x).pow(2).mean(dim=(1, 2, 3)).sum().item()
    return {"whole": whole / len(faces), "coarse_to_fine": c2f / len(faces)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data-root")
    p.add_argument("--pictures", type=int, default=2000, help="test faces for the painter rows")
    p.add_argument("--fit", help="results of bench.paint_fit, to measure the painter on the same faces")
    p.add_argument("--refine", type=int, default=0, help="also fit from the painter's strokes for N iterations")
    p.add_argument("--no-128", dest="big", action="store_false", help="skip the 128² rows")
    p.add_argument("--no-64", dest="small", action="store_false", help="skip the 64² rows on all --pictures")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--out")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    model = load_model(a.checkpoint, kind="painter", device=a.device)
    cfg = model.cfg
    _, test_files = celeba_files(a.data_root)
    test_files = test_files[: a.pictures]
    res: dict = {
        "checkpoint": a.checkpoint,
        "pictures": len(test_files),
        "config": vars(cfg).copy(),
        "device": a.device,
    }

    faces64 = load_pictures(test_files, cfg.size, progress=False)
    if a.small:
        t0 = time.perf_counter()
        res["painter_64"] = painter_mse(model, faces64, COUNTS)
        res["painter_64_s_per_face"] = (time.perf_counter() - t0) / len(faces64)
        print("painter 64²: " + "  ".join(f"{k}: {v:.5f}" for k, v in res["painter_64"].items()), flush=True)
    if a.big and cfg.strokes < 200:
        print(f"skipping the 128² rows: they paint 200 strokes and this painter paints {cfg.strokes}", flush=True)
    elif a.big:
        faces128 = load_pictures(test_files, 128, progress=False)
        res["painter_128_200"] = painter_mse_128(model, faces128, 200)
        print(f"painter 128², 200 strokes: {res['painter_128_200']}", flush=True)

    if a.fit:
        fit = json.loads(Path(a.fit).read_text())
        res["fit"] = fit
        res["painter_64_fit_subset"] = painter_mse(model, faces64[: fit["pictures"]], COUNTS)
        for n, v in fit["mse"].items():
            if int(n) in res["painter_64_fit_subset"]:
                print(
                    f"{n} strokes: painter {res['painter_64_fit_subset'][int(n)]:.5f}, fitted {v:.5f} "
                    f"({fit['pictures']} faces)"
                )
        if a.refine:  # the painter's strokes as the fit's starting point
            x = faces64[: fit["pictures"]].to(a.device).float() / 255
            with torch.no_grad():
                start = stroke_sequence(model.rollout(x))
            res["painter_refined_64"], res["refine_s_per_face"] = {}, {}
            for n in (c for c in COUNTS if c <= cfg.strokes):
                t0 = time.perf_counter()
                r = fit_strokes(x, n, a.refine, 0.01, cfg.mode, cfg.style, cfg.edge, cfg.background, init=start[:, :n])
                res["painter_refined_64"][n] = r.mse.mean().item()
                res["refine_s_per_face"][n] = (time.perf_counter() - t0) / len(x)
                print(f"{n} strokes: painter + {a.refine} fitting iterations {res['painter_refined_64'][n]:.5f}")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()
