"""The ``glimpse`` command.

    glimpse ram-gif [--checkpoint PATH] [--out ram_mnist.gif] [--digits 8] [--data-root DIR]
    glimpse paint IMAGE [--strokes 200] [--size 128] [--crop L T R B] [--out painting.gif] [--style flat|oil]
    glimpse paint-mnist [--digits 6] [--out paint_mnist.gif] [--data-root DIR]
    glimpse plot RUN [RUN ...] [--out curves.png] [--x epoch|wall]

``ram-gif`` draws a glimpse classifier at work on MNIST test digits: the boxes of every retina
scale at each step, the path of earlier glimpses, and the predicted class with its probability.
``paint`` paints any picture stroke by stroke and writes a GIF (target and canvas side by side,
one frame per step) and the final PNG; ``paint-mnist`` does the same for MNIST test digits.
Without ``--checkpoint`` each uses the small model shipped inside the package.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

import torch

SHIPPED = {
    "ram": "ram_mnist.pt",
    "painter": "painter_celeba.pt",  # faces, 20 steps × 10 strokes
    "painter-30": "painter_celeba30.pt",  # faces, 6 steps × 5 strokes
    "painter-mnist": "painter_mnist.pt",
}


def checkpoint_path(name: str | None, kind: str) -> Path | str:
    """A checkpoint file, or the shipped one of that name (``painter-30``), or the shipped ``kind``."""
    if name is None:
        return shipped_checkpoint(kind)
    return shipped_checkpoint(name) if name in SHIPPED and not Path(name).exists() else name


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
    model = load_model(checkpoint_path(a.checkpoint, "ram"), kind="ram")
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


def _refuse_overwrite(paths: list[Path], force: bool) -> None:
    for p in paths:
        if p.exists() and not force:
            raise SystemExit(f"{p} exists; pass --force to overwrite it")


def paint_cmd(a: argparse.Namespace) -> Path:
    import time
    import warnings

    from glimpse.checkpoint import load_model
    from glimpse.files import atomic_path
    from glimpse.painting import paint_picture, plan
    from glimpse.pictures import load_picture
    from glimpse.render import paint_frames, to_rgb, write_gif

    t0 = time.perf_counter()
    out = Path(a.out)
    png = Path(a.png) if a.png else out.with_suffix(".png")
    _refuse_overwrite([out, png], a.force)
    if a.strokes < 1 or a.size < 1:
        raise ValueError(f"--strokes and --size must be positive; got {a.strokes} and {a.size}")
    model = load_model(checkpoint_path(a.checkpoint, "painter"), kind="painter")
    cfg = model.cfg
    coarse, _, patch_steps = plan(a.strokes, a.size, cfg.size, cfg.strokes_per_step)
    if coarse + patch_steps > cfg.steps:
        print(
            f"glimpse: note: this painter was trained for {cfg.steps} steps of {cfg.strokes_per_step} strokes; "
            f"{a.strokes} strokes at {a.size}² take {coarse + patch_steps} steps, past what it learned",
            file=sys.stderr,
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target = load_picture(a.image, a.size, channels=model.cfg.channels, quiet=False, crop=a.crop)
    for w in caught:
        print(f"glimpse: note: {w.message}", file=sys.stderr)
    painting = paint_picture(model, target, a.strokes, a.style)
    if a.refine:  # fit the painter's strokes to this picture directly
        from glimpse.fit import fit_strokes
        from glimpse.painting import Painting

        sizes = [s.shape[0] for s in painting.steps]
        fit = fit_strokes(
            target[None], sum(sizes), a.refine, 0.01, cfg.mode, a.style or cfg.style, cfg.edge, cfg.background,
            init=torch.cat(painting.steps)[None],
        )  # fmt: skip
        painting = Painting(list(fit.strokes[0].split(sizes)), fit.canvas[0])
    with atomic_path(png) as tmp:
        to_rgb(painting.canvas).save(tmp, format="PNG")
    painted = time.perf_counter() - t0
    mse = (painting.canvas - target).pow(2).mean().item()
    scale = max(1, 256 // a.size)
    frames = paint_frames(
        target, painting.steps, model.cfg.mode, a.style or model.cfg.style, model.cfg.background, scale, a.outline
    )
    write_gif(frames, out, fps=a.fps)
    n = sum(s.shape[0] for s in painting.steps)
    print(f"painted {a.image} at {a.size}² with {n} strokes in {painted:.2f} s (mse {mse:.5f}); wrote {png} and {out}")
    return out


def paint_mnist(a: argparse.Namespace) -> Path:
    from glimpse.checkpoint import load_model
    from glimpse.data import load_mnist
    from glimpse.painting import paint_pictures
    from glimpse.render import paint_frames, tile_grid, write_gif

    out = Path(a.out)
    _refuse_overwrite([out], a.force)
    if a.digits < 1:
        raise ValueError(f"--digits must be >= 1, got {a.digits}")
    model = load_model(checkpoint_path(a.checkpoint, "painter-mnist"), kind="painter")
    cfg = model.cfg
    test = load_mnist(a.data_root, train=False)
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(a.seed))[: a.digits]
    images = test.float_images(idx).expand(-1, cfg.channels, -1, -1)
    painting = paint_pictures(model, images, cfg.strokes)  # all digits in one batch
    per_digit = [
        paint_frames(x, [s[i] for s in painting.steps], cfg.mode, cfg.style, cfg.background, 4, a.outline)
        for i, x in enumerate(images)
    ]
    from PIL import Image

    steps = min(len(f) for f in per_digit)
    grid = [tile_grid([Image.fromarray(f[t]) for f in per_digit], cols=min(a.cols, a.digits)) for t in range(steps)]
    write_gif(grid, out, fps=a.fps)
    print(f"wrote {out} ({steps} steps of {cfg.strokes_per_step} strokes, {a.digits} digits)")
    return out


def export_cmd(a: argparse.Namespace) -> Path:
    from glimpse.checkpoint import export_checkpoint

    _refuse_overwrite([Path(a.out)], a.force)
    out = export_checkpoint(a.checkpoint, a.out, half=not a.full, keep=tuple(a.keep))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return out


def plot_cmd(a: argparse.Namespace) -> Path:
    from glimpse.curves import metrics_file, plot_runs
    from glimpse.errors import UsageError

    out = Path(a.out)
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out must name a .png file, got {out}")
    for run in a.runs:
        metrics_file(run)
    _refuse_overwrite([out], a.force)
    plot_runs(a.runs, out, x=a.x, title=a.title)
    print(f"wrote {out} ({len(a.runs)} runs, x = {a.x})")
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

    q = sub.add_parser("paint", help="paint a picture stroke by stroke: a GIF and the final PNG")
    q.add_argument("image", help="any picture file (alpha is flattened on white, greyscale made RGB)")
    q.add_argument("--strokes", type=int, default=200, help="how many strokes")
    q.add_argument("--size", type=int, default=128, help="paint at size×size pixels (larger: coarse to fine)")
    q.add_argument("--crop", type=int, nargs=4, metavar=("LEFT", "TOP", "RIGHT", "BOTTOM"), help="paint this box")
    q.add_argument("--out", default="painting.gif", help="GIF to write")
    q.add_argument("--png", help="final painting as PNG (default: --out with .png)")
    q.add_argument("--style", choices=["flat", "oil"], help="stroke style (default: the painter's)")
    q.add_argument("--outline", action="store_true", help="outline the strokes each step adds")
    q.add_argument("--refine", type=int, default=0, help="then fit the strokes to the picture for N iterations")
    q.add_argument(
        "--checkpoint",
        help="a painter checkpoint, or painter-30 for the shipped 30-stroke face painter (default: the 200-stroke one)",
    )
    q.add_argument("--fps", type=float, default=8.0, help="frames per second")
    q.add_argument("--force", action="store_true", help="overwrite --out and --png if they exist")
    q.set_defaults(func=paint_cmd)

    m = sub.add_parser("paint-mnist", help="paint MNIST test digits stroke by stroke")
    m.add_argument("--checkpoint", help="a painter checkpoint (default: the shipped digit painter)")
    m.add_argument("--out", default="paint_mnist.gif", help="GIF to write")
    m.add_argument("--digits", type=int, default=6, help="how many test digits")
    m.add_argument("--cols", type=int, default=3, help="digits per row")
    m.add_argument("--outline", action="store_true", help="outline the strokes each step adds")
    m.add_argument("--data-root", help="data root holding MNIST/raw (default: $GLIMPSE_DATA, then ./data)")
    m.add_argument("--seed", type=int, default=0, help="which digits")
    m.add_argument("--fps", type=float, default=3.0, help="frames per second")
    m.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    m.set_defaults(func=paint_mnist)

    e = sub.add_parser("export", help="a small copy of a checkpoint for shipping (model and config, float16)")
    e.add_argument("checkpoint")
    e.add_argument("out")
    e.add_argument("--full", action="store_true", help="keep float32 weights")
    e.add_argument("--keep", nargs="*", default=["test_mse", "test_error"], help="checkpoint entries to keep")
    e.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    e.set_defaults(func=export_cmd)

    c = sub.add_parser("plot", help="learning curves of training runs (their metrics.jsonl) as a PNG")
    c.add_argument("runs", nargs="+", metavar="RUN", help="run folders holding metrics.jsonl")
    c.add_argument("--out", default="curves.png", help="PNG to write")
    c.add_argument("--x", choices=["epoch", "wall"], default="epoch", help="x axis: epochs or wall-clock minutes")
    c.add_argument("--title", help="a title above the panels")
    c.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    c.set_defaults(func=plot_cmd)
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
