"""The ``glimpse`` command.

    glimpse ram-gif [--checkpoint PATH] [--out ram_mnist.gif] [--digits 8] [--data-root DIR]

draws a GIF of a glimpse classifier at work on MNIST test digits: the boxes of every retina scale
at each step, the path of earlier glimpses, and the predicted class with its probability. Without
``--checkpoint`` it uses the small model shipped inside the package.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

import torch

SHIPPED = {"ram": "ram_mnist.pt"}


def shipped_checkpoint(kind: str) -> Path:
    """Path of the checkpoint shipped with the package for a model kind."""
    path = Path(str(resources.files("glimpse") / "weights" / SHIPPED[kind]))
    if not path.is_file():
        raise FileNotFoundError(f"the shipped {kind} checkpoint is missing from this install ({path})")
    return path


def ram_gif(a: argparse.Namespace) -> Path:
    from glimpse.checkpoint import load_model
    from glimpse.data import load_mnist
    from glimpse.render import ram_frames, write_gif

    out = Path(a.out)
    if out.exists() and not a.force:
        raise SystemExit(f"{out} exists; pass --force to overwrite it")
    if a.digits < 1:
        raise SystemExit(f"--digits must be >= 1, got {a.digits}")
    model = load_model(a.checkpoint or shipped_checkpoint("ram"), kind="ram")
    test = load_mnist(a.data_root, train=False)
    g = torch.Generator().manual_seed(a.seed)
    idx = torch.randperm(len(test), generator=g)[: a.digits]
    images, labels = test.float_images(idx), test.labels[idx]
    with torch.no_grad():
        rollout = model.rollout(images, a.policy, generator=g)
    cfg = model.cfg
    frames = ram_frames(images, rollout, cfg.glimpse_size, cfg.scales, labels, cols=min(a.digits, a.cols))
    write_gif(frames, out, fps=a.fps)
    print(f"wrote {out} ({len(frames)} steps, {a.digits} digits, policy {a.policy})")
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="glimpse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("ram-gif", help="animate a glimpse classifier on MNIST test digits")
    r.add_argument("--checkpoint", help="a RAM checkpoint (default: the shipped MNIST model)")
    r.add_argument("--out", default="ram_mnist.gif", help="GIF to write")
    r.add_argument("--digits", type=int, default=8, help="how many test digits")
    r.add_argument("--cols", type=int, default=4, help="digits per row")
    r.add_argument("--policy", choices=["sample", "mean"], default="sample", help="sampled or mean locations")
    r.add_argument("--data-root", help="data root holding MNIST/raw (default: $GLIMPSE_DATA, then ./data)")
    r.add_argument("--seed", type=int, default=0, help="which digits, and the location samples")
    r.add_argument("--fps", type=float, default=1.5, help="frames per second")
    r.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    r.set_defaults(func=ram_gif)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        a.func(a)
    except (FileNotFoundError, ValueError) as err:
        print(f"glimpse: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
