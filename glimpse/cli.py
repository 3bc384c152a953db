"""The ``glimpse`` command.

    glimpse ram-gif [--checkpoint PATH] [--dataset TASK] [--out ram_mnist.gif] [--digits 8] [--data-root DIR]
    glimpse paint IMAGE [--strokes 200] [--size 128] [--crop L T R B] [--out painting.gif] [--style flat|oil]
    glimpse paint IMAGE ... [--svg OUT.svg] [--strokes-json OUT.json]
    glimpse render OUT.json [--size S] [--out X.png|X.gif|X.svg] [--style flat|oil]
    glimpse paint-mnist [--digits 6] [--out paint_mnist.gif] [--data-root DIR]
    glimpse plot RUN [RUN ...] [--out curves.png] [--x epoch|wall]
    glimpse draw [--out draw.gif] [--samples 16] [--reconstruct] [--checkpoint PATH] [--data-root DIR]
    glimpse export CHECKPOINT OUT [--full] [--keep NAME ...]

``ram-gif`` draws a glimpse classifier at work on test digits of a task (``--dataset``): the boxes of every retina
scale at each step, the path of earlier glimpses, and the predicted class with its probability.
``paint`` paints any picture stroke by stroke and writes a GIF (target and canvas side by side,
one frame per step) and the final PNG, and with ``--svg`` / ``--strokes-json`` the strokes
themselves (vector art; the 13 numbers of each, which ``render`` paints again at any size);
``paint-mnist`` does the same for MNIST test digits; ``export`` writes a small float16 copy of a
checkpoint for shipping.
Without ``--checkpoint`` each uses the small model shipped inside the package.

Every option is checked before anything is loaded or written (limits: ``--size`` up to 4096,
``--strokes`` up to 100,000 and its GIF's frames within about 8 GiB, ``--digits`` up to 256,
``--fps`` in (0, 100]); a command's outputs are written together or not at all, never over its
inputs or each other. A user's mistake ends with one line, ``glimpse: error: ...``, and exit
status 2.
"""

from __future__ import annotations

import argparse
import sys

from glimpse.commands import (
    draw_cmd,
    export_cmd,
    paint_cmd,
    paint_mnist,
    plot_cmd,
    ram_gif,
    render_cmd,
)
from glimpse.errors import UsageError
from glimpse.options import (
    FULL_DISK,
    MAX_DIGITS,
    MAX_FPS,
    MAX_REFINE,
    MAX_SIZE,
    MAX_STROKES,
    PAINT_MEMORY_GIB,
)
from glimpse.shipped import shipped_path

shipped_checkpoint = shipped_path  # the file of a shipped model, by name (kept for older callers)


def _digit_grid(
    parser: argparse.ArgumentParser, checkpoint: str, out: str, count: str, n: int, cols: int, fps: float
) -> None:
    """The options of the commands that animate a grid of MNIST digits."""
    parser.add_argument("--checkpoint", help=checkpoint)
    parser.add_argument("--out", default=out, help="GIF to write (a .gif name)")
    parser.add_argument(count, type=int, default=n, help=f"how many digits, 1 to {MAX_DIGITS}")
    parser.add_argument("--cols", type=int, default=cols, help="digits per row, at least 1")
    parser.add_argument("--data-root", help="data root holding MNIST/raw (default: $GLIMPSE_DATA, then ./data)")
    parser.add_argument("--fps", type=float, default=fps, help=f"frames per second, above 0 and at most {MAX_FPS:g}")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="glimpse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "ram-gif",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="animate a glimpse classifier on MNIST (or translated, cluttered) test digits",
    )
    _digit_grid(
        r,
        "a RAM or soft-attention checkpoint (default: the task's shipped model)",
        "ram_mnist.gif",
        "--digits",
        8,
        4,
        1.5,
    )
    r.add_argument("--dataset", default="mnist", help="the task: mnist, translated, cluttered60 or cluttered100")
    r.add_argument("--policy", choices=["sample", "mean"], default="sample", help="sampled or mean locations")
    r.add_argument("--seed", type=int, default=0, help="which digits, and the location samples (>= 0)")
    r.set_defaults(func=ram_gif)

    q = sub.add_parser(
        "paint",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="paint a picture stroke by stroke: a GIF and the final PNG",
    )
    q.add_argument(
        "image",
        help="any picture file, read as a viewer shows it (EXIF orientation applied, alpha flattened on white, "
        "greyscale and 16-bit made 8-bit RGB)",
    )
    q.add_argument("--strokes", type=int, default=200, help=f"how many strokes, 1 to {MAX_STROKES:,}")
    q.add_argument(
        "--size",
        type=int,
        default=128,
        help=f"paint at size×size pixels, 1 to {MAX_SIZE} (larger than twice the painter's: coarse to fine); "
        f"canvases, the painter on every patch and the GIF's frames must fit in {PAINT_MEMORY_GIB:g} GiB",
    )
    q.add_argument(
        "--crop", type=int, nargs=4, metavar=("LEFT", "TOP", "RIGHT", "BOTTOM"),
        help="paint this box (pixels of the picture as a viewer shows it; RIGHT and BOTTOM exclusive); "
        "a box that is not square is squeezed to the square canvas",
    )  # fmt: skip
    q.add_argument("--out", default="painting.gif", help="GIF to write (a .gif name)")
    q.add_argument("--png", help="final painting as PNG (default: --out with .png; not the same file as --out)")
    q.add_argument("--style", choices=["flat", "oil"], help="stroke style (default: the painter's)")
    q.add_argument("--outline", action="store_true", help="outline the strokes each step adds")
    q.add_argument(
        "--refine",
        type=int,
        default=0,
        help=f"then fit the strokes to the picture for N iterations (0 to {MAX_REFINE:,})",
    )
    q.add_argument(
        "--checkpoint",
        help="a painter checkpoint, or painter-30 for the shipped 30-stroke face painter (default: the 200-stroke one)",
    )
    q.add_argument("--fps", type=float, default=8.0, help=f"frames per second, above 0 and at most {MAX_FPS:g}")
    q.add_argument("--svg", help="also write the painting as vector art (a .svg file: each stroke a filled outline)")
    q.add_argument(
        "--strokes-json",
        help="also write every stroke's 13 numbers in painting order, with the canvas (a .json file; "
        "glimpse render reads it)",
    )
    q.add_argument(
        "--force", action="store_true", help="overwrite --out, --png, --svg and --strokes-json if they exist"
    )
    q.set_defaults(func=paint_cmd)

    v = sub.add_parser(
        "render",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="render a stroke file (glimpse paint --strokes-json) again, at any size",
    )
    v.add_argument("strokes_file", metavar="STROKES.json", help="a stroke file written by glimpse paint --strokes-json")
    v.add_argument("--size", type=int, help=f"longer side of the picture, 1 to {MAX_SIZE} (default: the file's)")
    v.add_argument("--out", default="render.png", help="a .png (the painting), .gif (step by step) or .svg file")
    v.add_argument("--style", choices=["flat", "oil"], help="stroke style (default: the file's)")
    v.add_argument("--fps", type=float, default=8.0, help=f"GIF frames per second, above 0 and at most {MAX_FPS:g}")
    v.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    v.set_defaults(func=render_cmd)

    m = sub.add_parser(
        "paint-mnist",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="paint MNIST test digits stroke by stroke",
    )
    _digit_grid(
        m, "a painter checkpoint (default: the shipped digit painter)", "paint_mnist.gif", "--digits", 6, 3, 3.0
    )
    m.add_argument("--outline", action="store_true", help="outline the strokes each step adds")
    m.add_argument("--seed", type=int, default=0, help="which digits (>= 0)")
    m.set_defaults(func=paint_mnist)

    e = sub.add_parser(
        "export",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="a small copy of a checkpoint for shipping (model and config, float16)",
    )
    e.add_argument("checkpoint")
    e.add_argument("out")
    e.add_argument("--full", action="store_true", help="keep float32 weights")
    e.add_argument("--keep", nargs="*", default=["test_mse", "test_error"], help="checkpoint entries to keep")
    e.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    e.set_defaults(func=export_cmd)

    c = sub.add_parser(
        "plot",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="learning curves of training runs (their metrics.jsonl) as a PNG",
    )
    c.add_argument("runs", nargs="+", metavar="RUN", help="run folders holding metrics.jsonl")
    c.add_argument("--out", default="curves.png", help="PNG to write")
    c.add_argument("--x", choices=["epoch", "wall"], default="epoch", help="x axis: epochs or wall-clock minutes")
    c.add_argument("--title", help="a title above the panels")
    c.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    c.set_defaults(func=plot_cmd)

    d = sub.add_parser(
        "draw",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="DRAW drawing digits step by step (prior samples, or --reconstruct test digits)",
    )
    _digit_grid(d, "a DRAW checkpoint (default: the shipped MNIST model)", "draw.gif", "--samples", 16, 8, 6.0)
    d.add_argument("--reconstruct", action="store_true", help="reconstruct binarised test digits instead of sampling")
    d.add_argument("--seed", type=int, default=0, help="the samples' noise, and which digits (>= 0)")
    d.set_defaults(func=draw_cmd)
    return p


USER_ERRORS = (UsageError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def main(argv: list[str] | None = None) -> int:
    """Run the ``glimpse`` command; 0 on success. A user's mistake (a :class:`UsageError`, which
    includes :class:`~glimpse.checkpoint.CheckpointError` and the picture and data errors; a missing
    file; an output that cannot be written) prints ``glimpse: error: <message>`` in one line and
    returns 2. Anything else is a bug and propagates with its traceback."""
    a = build_parser().parse_args(argv)
    try:
        a.func(a)
    except USER_ERRORS as err:
        return _fail(err)
    except OSError as err:
        if err.errno not in FULL_DISK:
            raise
        return _fail(err)
    return 0


def _fail(err: BaseException) -> int:
    if isinstance(err, OSError) and not isinstance(err, UsageError) and err.strerror:
        message = f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    else:
        message = str(err)
    print(f"glimpse: error: {' '.join(message.split())}", file=sys.stderr)  # one line
    return 2


if __name__ == "__main__":
    sys.exit(main())
