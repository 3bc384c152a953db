"""The numbers behind the thirteenth session's fixes (bench/README.md, "A review pass").

    python -m bench.review_checks --data-root ../shared/data --out bench/results/review_checks.json

- ``score_bias``: REINFORCE's score ∂log π/∂μ averaged over draws l ~ N(μ, σ²) near an edge
  (μ = 0.95, σ = 0.1, 200,000 draws, advantage 1), with log π taken on the clamped location (the
  old rollout) and on the draw itself (today's). Its mean is 0 for a true score function; the noise
  of the mean is about 1 / (σ √n).
- ``clamped_draws``: the fraction of the shipped RAMs' sampled locations that the clamp to [-1, 1]
  moved, one stochastic rollout on the first 2,000 test images of their task (seed 0).
- ``coarse_to_fine``: the shipped face painter on the public astronaut (the README's crop) at 512²
  with 200 strokes: squared error, on the top and bottom halves too, and how many of the patch
  strokes lie in the bottom half. ``--only coarse_to_fine`` runs it alone (for example against an
  older library: ``PYTHONPATH=/path/to/old/checkout python -m bench.review_checks --only ...``).
- ``hairline``: a 0.25 px hairline through a row of pixel centres on 64², 0.59 of the side long,
  its control point on the middle or on either end: the fast rasteriser's coverage along the row
  (away from the caps) against the crisp rasteriser's exact tube, with the stamps evenly spaced
  along the arc (today's ``glimpse.stamps.arc_params``) and evenly spaced in t (before).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from unittest import mock

import torch

import glimpse.stamps
from glimpse.canvas import stroke_alpha
from glimpse.data import mnist_splits
from glimpse.shipped import load_shipped


def score_bias(mu: float = 0.95, sigma: float = 0.1, n: int = 200_000) -> dict[str, float]:
    draws = mu + sigma * torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    score = lambda x: ((x - mu) / sigma**2).mean().item()  # noqa: E731  (∂/∂μ of log N(x; μ, σ²))
    return {"clamped": score(draws.clamp(-1, 1)), "unclamped": score(draws), "noise": 1 / (sigma * n**0.5)}


def clamped_draws(root: str | None, n: int = 2000) -> dict[str, float]:
    out = {}
    for name, task in (("ram", "mnist"), ("ram-cluttered60", "cluttered60")):
        model = load_shipped(name)
        images = mnist_splits(root, task, download=False).test.images[:n]
        x = images.float() / 255 if images.dtype == torch.uint8 else images
        with torch.no_grad():
            r = model.rollout(x, "sample", torch.Generator().manual_seed(0))
        out[name] = (r.locations.abs() == 1).any(-1).float().mean().item()
    return out


def hairline() -> dict[str, dict[str, float]]:
    out = {}
    for ctrl in ((0.5, 0.5), (0.0, 0.0), (1.0, 1.0)):
        s = torch.tensor([[0.2, 32.5 / 64, *ctrl, 0.79, 32.5 / 64, 0, 0, 1, 1, 1, 0, 0]])
        inside = slice(round(0.2 * 64) + 2, round(0.79 * 64) - 2)
        crisp = stroke_alpha(s, 64, 64, "crisp")[0, 32, inside]
        arc = stroke_alpha(s, 64, 64, "fast")[0, 32, inside]
        with mock.patch.object(glimpse.stamps, "arc_params", lambda strokes, u, h, w: u):  # even in t
            even_t = stroke_alpha(s, 64, 64, "fast")[0, 32, inside]
        out[f"control {ctrl}"] = {
            "crisp_min": crisp.min().item(),
            "arc_min": arc.min().item(),
            "even_t_min": even_t.min().item(),
            "max": crisp.max().item(),
        }
    return out


def coarse_to_fine(root: str | None, size: int = 512, strokes: int = 200) -> dict[str, float]:
    from glimpse.painting import paint_picture, plan
    from glimpse.pictures import load_picture

    painter = load_shipped("painter")
    picture = Path(root or "data") / "public" / "astronaut.png"
    target = load_picture(picture, size, crop=(110, 0, 350, 290))
    painting = paint_picture(painter, target, strokes)
    error = (painting.canvas - target).pow(2)
    coarse, grid, _ = plan(strokes, size, painter.cfg.size, painter.cfg.strokes_per_step)
    late = torch.cat(painting.steps[coarse:])
    centres = (late[:, 1] + late[:, 5]) / 2
    return {
        "plan": [coarse, grid],
        "error": error.mean().item(),
        "error_top": error[:, : size // 2].mean().item(),
        "error_bottom": error[:, size // 2 :].mean().item(),
        "patch_strokes": late.shape[0],
        "patch_strokes_in_bottom_half": int((centres > 0.5).sum()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=Path, default=None, help="JSON to write (default: print only)")
    p.add_argument("--only", choices=["score_bias", "clamped_draws", "coarse_to_fine", "hairline"])
    a = p.parse_args()
    torch.set_num_threads(2)
    checks = {
        "score_bias": score_bias,
        "clamped_draws": lambda: clamped_draws(a.data_root),
        "coarse_to_fine": lambda: coarse_to_fine(a.data_root),
        "hairline": hairline,
    }
    results = {name: check() for name, check in checks.items() if a.only in (None, name)}
    text = json.dumps(results, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
