"""The shipped models acting through the environments against their own evaluations.

    python -m bench.env_bridges --data-root ../shared/data --out bench/results/env_bridges.json

- RAM: test error on MNIST's 10,000 test digits through ``GlimpseVectorEnv`` (``envs.bridges.
  ram_test_error``) beside ``glimpse.evaluate.error_rate`` under the same protocol: ``mean`` (the
  policy mean) and ``stochastic`` (sampled locations, generator seeded 0, batches of 1,000).
- Painter: squared error per pixel after 200 strokes through ``PaintVectorEnv``
  (``envs.bridges.painter_errors``) beside ``glimpse paint``'s (``paint_pictures``) on the same
  pictures: the first ``--faces`` CelebA test faces at 64² (box-resized, ``load_pictures``) and the
  public-domain astronaut crop at 64² and 128² (``load_picture``, as ``glimpse paint --crop``).
Only numbers are written; no picture.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from envs.bridges import painter_errors, ram_test_error
from glimpse.data import load_mnist
from glimpse.evaluate import error_rate
from glimpse.painting import paint_pictures
from glimpse.pictures import celeba_files, load_picture, load_pictures
from glimpse.shipped import load_shipped

ASTRONAUT_CROP = (110, 0, 350, 290)  # the README's crop of public/astronaut.png


def painter_row(painter, pictures: torch.Tensor, what: str) -> dict:
    env = float(painter_errors(painter, pictures).mean())
    own = float((paint_pictures(painter, pictures, 200).canvas - pictures).pow(2).mean())
    return {"pictures": what, "env": env, "glimpse_paint": own, "relative_difference": env / own - 1}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=os.environ.get("GLIMPSE_DATA"))
    p.add_argument("--faces", type=int, default=64)
    p.add_argument("--out", default="bench/results/env_bridges.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    root = args.data_root

    ram = load_shipped("ram")
    test = load_mnist(root, train=False, download=False)
    rows = []
    for policy, protocol in (("mean", "mean"), ("sample", "stochastic")):
        env, own = ram_test_error(ram, root, policy), error_rate(ram, test, protocol)
        rows.append({"protocol": protocol, "env_error": env, "error_rate": own, "difference_points": 100 * (env - own)})
        print(json.dumps(rows[-1]), flush=True)

    painter = load_shipped("painter")
    paint_rows = []
    faces = celeba_files(root)[1][: args.faces]
    pictures = load_pictures(faces, 64, progress=False).float() / 255
    paint_rows.append(painter_row(painter, pictures, f"CelebA test IDs 000001-{len(faces):06d}, 64² box-resized"))
    print(json.dumps(paint_rows[-1]), flush=True)
    photo = Path(root) / "public" / "astronaut.png"
    for size in (64, 128):
        picture = load_picture(photo, size, crop=ASTRONAUT_CROP, quiet=True)[None]
        paint_rows.append(painter_row(painter, picture, f"astronaut crop {ASTRONAUT_CROP}, {size}²"))
        print(json.dumps(paint_rows[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"ram": rows, "painter_200_strokes": paint_rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
