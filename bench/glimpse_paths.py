"""Where a trained RAM looks, measured: accuracy after each glimpse, how far each glimpse lands from
the digit, and how much of the digit's ink each retina scale ever covers.

Good accuracy does not prove the policy learned anything sensible, so this rebuilds the task's
images from held-out *validation* digits with the digit offsets known (``glimpse.variants``'s
``offsets=``: the same generator, the digit placed where we say) and follows the model's rollouts:

    per-step accuracy      the classifier read out after glimpse t (the model classifies after T)
    distance               |l_t - digit centre| in pixels (location units × W/2)
    ink seen, scale i      share of the digit's ink (pixels > 0.5) inside any of the T patches of
                           side g·2^i: scale 0 is full resolution, scale i is pooled by 2^i
    without clutter        error on the same digits at the same offsets with no distractors

    python -m bench.glimpse_paths runs/tasks/cluttered60-ram-conv-wide/model.pt --dataset cluttered60 \\
        --data-root ../shared/data --out bench/results/tasks/paths-cluttered60.json

Protocols: ``stochastic`` (one sampled rollout, σ as saved with the weights), ``mean``, ``random``
(uniform locations, the trained classifier) and ``oracle`` (the first glimpse at the image centre,
the others at the digit's centre: is the classifier ready for a policy that fixates?). Never reads
the test set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from glimpse.checkpoint import load_model
from glimpse.data import load_mnist, split, task
from glimpse.ram import RAM
from glimpse.sensor import glimpse_boxes
from glimpse.variants import digit_centres, random_offsets, translate
from train.ram import oracle_locations


def boxes_cover(boxes: Tensor, height: int, width: int) -> Tensor:
    """Which pixels lie inside any of T boxes.  boxes: (T, B, 4) (left, top, right, bottom) ->
    (B, H, W) bool"""
    xs = torch.arange(width).view(1, 1, width)
    ys = torch.arange(height).view(1, 1, height)
    in_x = (xs >= boxes[..., 0:1]) & (xs < boxes[..., 2:3])  # (T, B, W)
    in_y = (ys >= boxes[..., 1:2]) & (ys < boxes[..., 3:4])  # (T, B, H)
    return (in_y.unsqueeze(-1) & in_x.unsqueeze(-2)).any(0)


def paths(
    model: RAM, images: Tensor, labels: Tensor, ink: Tensor, centres: Tensor, policy: str, oracle: bool = False
) -> dict[str, Any]:
    """images: (B, C, H, W); labels: (B,); ink: (B, H, W) bool; centres: (B, 2) digit centres in
    location units -> per-step accuracy, median distance (px) and ink seen per scale.  ``oracle``:
    look at the image centre, then at the digit's centre, instead of where the policy says."""
    c = model.cfg
    locations = oracle_locations(centres, c.glimpses, 0.0, torch.Generator()) if oracle else None  # (T, B, 2)
    with torch.no_grad():
        r = model.rollout(images, policy, torch.Generator().manual_seed(0), locations=locations)
    right = r.logits.argmax(-1) == labels  # (T, B)
    dist = (r.locations - centres).norm(dim=-1) * (c.width / 2)  # (T, B) px
    boxes = torch.stack([glimpse_boxes(loc, c.glimpse_size, c.scales, c.height, c.width) for loc in r.locations])
    seen = [
        ((boxes_cover(boxes[:, :, i], c.height, c.width) & ink).flatten(1).sum(1) / ink.flatten(1).sum(1)).mean().item()
        for i in range(c.scales)
    ]
    return {
        "error": 1 - right[-1].float().mean().item(),
        "accuracy_by_step": [round(a, 4) for a in right.float().mean(1).tolist()],
        "median_distance_px_by_step": [round(d, 1) for d in dist.median(1).values.tolist()],
        "median_closest_px": round(dist.min(0).values.median().item(), 1),
        "ink_seen_by_scale": [round(s, 3) for s in seen],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a RAM checkpoint (model.pt or best.pt)")
    p.add_argument("--dataset", default="cluttered60", help="translated, cluttered60 or cluttered100")
    p.add_argument("--data-root", default=None)
    p.add_argument("--n", type=int, default=5000, help="validation digits (at most 5,000)")
    p.add_argument("--seed", type=int, default=0, help="the split's seed (as in training)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    a = p.parse_args()
    torch.set_num_threads(1)
    t = task(a.dataset)
    if t.kind == "mnist":
        p.error("--dataset must be a translated or cluttered task: plain MNIST digits do not move")
    model = load_model(a.checkpoint, kind="ram")
    if (model.cfg.height, model.cfg.width) != (t.size, t.size):
        p.error(f"{a.checkpoint} takes {model.cfg.height}×{model.cfg.width} images, {t.name} is {t.size}×{t.size}")
    _, val = split(load_mnist(a.data_root, train=True), 5000, a.seed)
    if not 1 <= a.n <= len(val):
        p.error(f"--n must lie in [1, {len(val)}], got {a.n}")
    digits, labels = val.float_images(slice(0, a.n)), val.labels[: a.n]  # (n, 1, 28, 28)
    g = torch.Generator().manual_seed(a.seed + 100)
    offsets = random_offsets(a.n, 0, t.size - digits.shape[-1], g)  # (n, 2) (top, left)
    alone = translate(digits, t.size, offsets=offsets)
    images = t.variant(val)(digits, g, offsets) if t.clutters else alone
    ink = alone[:, 0] > 0.5
    centres = digit_centres(offsets, digits.shape[-1], t.size)  # (n, 2) (x, y) location units
    results: dict[str, Any] = {"checkpoint": a.checkpoint, "task": t.name, "validation_digits": a.n}
    protocols = (("stochastic", "sample", False), ("mean", "mean", False), ("random", "random", False))
    for name, policy, oracle in (*protocols, ("oracle", "mean", True)):
        results[name] = paths(model, images, labels, ink, centres, policy, oracle)
        if t.clutters:
            results[name]["error_without_clutter"] = paths(model, alone, labels, ink, centres, policy, oracle)["error"]
        print(name, json.dumps(results[name]))
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
