"""What each subcommand of the ``glimpse`` command does (:mod:`glimpse.cli` parses the command
line and calls one of these with its options). Each checks its options before it loads or writes
anything, writes its outputs together or not at all, and returns the main output's path."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from glimpse import options
from glimpse.errors import UsageError
from glimpse.options import (
    MAX_DIGITS,
    MAX_REFINE,
    MAX_SIZE,
    MAX_STROKES,
)
from glimpse.shipped import SHIPPED, shipped_path


def checkpoint_path(name: str | None, kind: str) -> Path | str:
    """A checkpoint file, or the shipped one of that name (``painter-30``), or the shipped ``kind``."""
    if name is None:
        return shipped_path(kind)
    if Path(name).exists():
        return name
    if name in SHIPPED:
        return shipped_path(name)
    raise UsageError(f"--checkpoint {name}: no such file, nor a shipped model (shipped: {', '.join(SHIPPED)})")


# the glimpse classifier each task's ram-gif uses without --checkpoint
RAM_GIF_SHIPPED = {"mnist": "ram", "cluttered60": "ram-cluttered60"}


def ram_gif(a: argparse.Namespace) -> Path:
    from glimpse.checkpoint import load_model
    from glimpse.data import CHUNK, task
    from glimpse.datasets import GlimpseMNIST
    from glimpse.ram import RAM
    from glimpse.render import ram_frames, soft_frames, write_gif
    from glimpse.soft import SoftAttention

    out = check_digit_grid(a, a.digits, "--digits")
    t = task(a.dataset)
    if a.checkpoint is None and t.name not in RAM_GIF_SHIPPED:
        raise UsageError(
            f"--dataset {a.dataset}: no model for it ships with the package; pass --checkpoint RUN/model.pt"
        )
    path = checkpoint_path(a.checkpoint or RAM_GIF_SHIPPED[t.name], "ram")
    model = load_model(path)
    if not isinstance(model, RAM | SoftAttention):
        raise UsageError(f"--checkpoint {path}: a {type(model).__name__} model; ram-gif animates RAM or soft attention")
    if (model.cfg.height, model.cfg.width) != (t.size, t.size):
        raise UsageError(
            f"--checkpoint {path} looks at {model.cfg.height}×{model.cfg.width} images, --dataset {t.name} is "
            f"{t.size}×{t.size}: pass the --dataset it was trained on"
        )
    test = GlimpseMNIST(a.data_root, train=False, download=True, task_name=t)  # train.ram's test set, made lazily
    g = torch.Generator().manual_seed(a.seed)
    idx = torch.randperm(len(test), generator=g)[: a.digits].tolist()
    images = torch.stack([test.chunk(i // CHUNK)[i % CHUNK] for i in idx]).float() / 255  # only their chunks
    labels = test.targets[idx]
    with torch.no_grad():
        rollout = model.rollout(images, a.policy, generator=g)
    cols, scale = min(a.digits, a.cols), max(1, 140 // t.size)  # about 140 px a digit
    if isinstance(model, SoftAttention):
        frames = soft_frames(images, rollout, labels, scale=scale, cols=cols)
    else:
        frames = ram_frames(images, rollout, model.cfg.glimpse_size, model.cfg.scales, labels, scale, cols)
    options.write_together([(out, lambda tmp: write_gif(frames, tmp, fps=a.fps))])
    print(f"wrote {out} ({len(frames)} steps, {a.digits} {t.name} test digits, policy {a.policy})")
    return out


def paint_cmd(a: argparse.Namespace) -> Path:
    import time
    import warnings

    from glimpse.checkpoint import load_model
    from glimpse.painting import paint_picture, plan
    from glimpse.pictures import load_picture
    from glimpse.render import paint_frames, to_rgb, write_gif

    t0 = time.perf_counter()
    out = Path(a.out)
    png = Path(a.png) if a.png else out.with_suffix(".png")
    options.count(a.strokes, "--strokes", 1, MAX_STROKES)
    options.count(a.size, "--size", 1, MAX_SIZE)
    options.count(a.refine, "--refine", 0, MAX_REFINE)
    options.fps(a.fps)
    if a.crop is not None:
        left, top, right, bottom = a.crop
        if not (0 <= left < right and 0 <= top < bottom):
            raise UsageError(f"--crop {left} {top} {right} {bottom}: need 0 <= LEFT < RIGHT and 0 <= TOP < BOTTOM")
    image = Path(a.image)
    if not image.is_file():
        raise UsageError(f"{image}: no such picture" if not image.is_dir() else f"{image} is a folder, not a picture")
    extra = [(Path(p), flag) for p, flag in ((a.svg, "--svg"), (a.strokes_json, "--strokes-json")) if p]
    options.refuse_overwrite(
        [out, png, *(p for p, _ in extra)], a.force, ["--out", "--png", *(f for _, f in extra)], inputs=[image]
    )  # before the suffixes: same.png
    options.suffix(out, "--out", ".gif")
    options.suffix(png, "--png", ".png")
    for path, flag in extra:
        options.suffix(path, flag, ".svg" if flag == "--svg" else ".json")
    model = load_model(checkpoint_path(a.checkpoint, "painter"), kind="painter")
    cfg = model.cfg
    coarse, grid, patch_steps = plan(a.strokes, a.size, cfg.size, cfg.strokes_per_step)
    options.paint_memory(a.strokes, a.size, coarse + patch_steps, patches=grid > 1)
    notes = []
    if a.svg and (a.style or cfg.style) != "flat":
        notes.append("the SVG is flat: it has no oil texture")
    if a.crop is not None and (a.crop[2] - a.crop[0]) != (a.crop[3] - a.crop[1]):
        notes.append(f"the {a.crop[2] - a.crop[0]}×{a.crop[3] - a.crop[1]} crop is squeezed to a square")
    if coarse + patch_steps > cfg.steps:
        notes.append(
            f"this painter was trained for {cfg.steps} steps of {cfg.strokes_per_step} strokes; "
            f"{a.strokes} strokes at {a.size}² take {coarse + patch_steps} steps, past what it learned"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target = load_picture(image, a.size, channels=model.cfg.channels, quiet=False, crop=a.crop)
    options.notes([*notes, *(str(w.message) for w in caught)])  # only once every input has been read
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
    final = to_rgb(painting.canvas)
    painted = time.perf_counter() - t0
    mse = (painting.canvas - target).pow(2).mean().item()
    frames = paint_frames(
        target, painting.steps, model.cfg.mode, a.style or model.cfg.style, model.cfg.background,
        options.frame_scale(a.size), a.outline, edge=model.cfg.edge,
    )  # fmt: skip
    outputs = [(png, lambda tmp: final.save(tmp, format="PNG")), (out, lambda tmp: write_gif(frames, tmp, a.fps))]
    if extra:
        from glimpse.stroke_files import StrokeList

        c, h, w = painting.canvas.shape
        strokes = StrokeList(
            torch.cat(painting.steps).float(), h, w, c, cfg.mode, a.style or cfg.style, cfg.edge, cfg.background,
            [s.shape[0] for s in painting.steps],
        )  # fmt: skip
        for path, flag in extra:
            outputs.append((path, lambda tmp, flag=flag: _write_strokes(strokes, tmp, flag)))
    options.write_together(outputs)
    gif = time.perf_counter() - t0 - painted
    n = sum(s.shape[0] for s in painting.steps)
    print(
        f"painted {a.image} at {a.size}² with {n} strokes in {painted:.2f} s (mse {mse:.5f}); "
        f"wrote {png} and {out} ({len(frames)} frames; written in {gif:.2f} s)" + "".join(f" and {p}" for p, _ in extra)
    )
    return out


def _write_strokes(strokes, tmp: Path, flag: str) -> None:
    """Write a stroke list as ``--svg`` (vector art) or ``--strokes-json`` (the 13 numbers)."""
    from glimpse.stroke_files import write_strokes_json
    from glimpse.svg import strokes_svg

    if flag == "--svg":
        svg = strokes_svg(strokes.strokes, strokes.height, strokes.width, strokes.channels, strokes.background,
                          strokes.edge, mode=strokes.mode)  # fmt: skip
        tmp.write_text(svg, encoding="utf-8")
    else:
        write_strokes_json(strokes, tmp)


def render_cmd(a: argparse.Namespace) -> Path:
    """Render a stroke file (``glimpse paint --strokes-json``) again: a PNG, or a GIF of its steps."""
    from glimpse.render import stroke_frames, to_rgb, write_gif
    from glimpse.stroke_files import read_strokes_json, render_strokes

    source, out = Path(a.strokes_file), Path(a.out)
    if a.size is not None:
        options.count(a.size, "--size", 1, MAX_SIZE)
    options.fps(a.fps)
    if out.suffix.lower() not in (".png", ".gif", ".svg"):
        raise UsageError(f"--out must name a .png, .gif or .svg file, got {out}")
    options.refuse_overwrite([out], a.force, ["--out"], inputs=[source])
    strokes = read_strokes_json(source)
    h, w = (a.size, a.size) if a.size is not None else (strokes.height, strokes.width)
    if a.size is not None and strokes.height != strokes.width:  # keep the aspect: --size is the longer side
        scale = a.size / max(strokes.height, strokes.width)
        h, w = max(1, round(strokes.height * scale)), max(1, round(strokes.width * scale))
    style = a.style or strokes.style
    gif = out.suffix.lower() == ".gif"
    options.paint_memory(len(strokes.strokes), max(h, w), len(strokes.step_strokes()) if gif else 0)
    if out.suffix.lower() == ".svg":
        from glimpse.svg import strokes_svg

        svg = strokes_svg(strokes.strokes, h, w, strokes.channels, strokes.background, strokes.edge, mode=strokes.mode)
        options.write_together([(out, lambda tmp: tmp.write_text(svg, encoding="utf-8"))])
        if style != "flat":
            options.notes(["the SVG is flat: it has no oil texture"])
            style = "flat"
    elif gif:
        frames = stroke_frames(strokes, h, w, style, options.frame_scale(max(h, w)))
        options.write_together([(out, lambda tmp: write_gif(frames, tmp, a.fps))])
    else:
        image = to_rgb(render_strokes(strokes, h, w, style))
        options.write_together([(out, lambda tmp: image.save(tmp, format="PNG"))])
    print(f"rendered {len(strokes.strokes)} strokes from {source} at {w}×{h} ({style}); wrote {out}")
    return out


def paint_mnist(a: argparse.Namespace) -> Path:
    from glimpse.checkpoint import load_model
    from glimpse.data import load_mnist
    from glimpse.painting import paint_pictures
    from glimpse.render import paint_frames, tile_grid, write_gif

    out = check_digit_grid(a, a.digits, "--digits")
    model = load_model(checkpoint_path(a.checkpoint, "painter-mnist"), kind="painter")
    cfg = model.cfg
    test = load_mnist(a.data_root, train=False)
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(a.seed))[: a.digits]
    images = test.float_images(idx).expand(-1, cfg.channels, -1, -1)
    painting = paint_pictures(model, images, cfg.strokes)  # all digits in one batch
    per_digit = [
        paint_frames(
            x, [s[i] for s in painting.steps], cfg.mode, cfg.style, cfg.background, 4, a.outline, edge=cfg.edge
        )
        for i, x in enumerate(images)
    ]
    from PIL import Image

    steps = min(len(f) for f in per_digit)
    grid = [tile_grid([Image.fromarray(f[t]) for f in per_digit], cols=min(a.cols, a.digits)) for t in range(steps)]
    options.write_together([(out, lambda tmp: write_gif(grid, tmp, fps=a.fps))])
    print(f"wrote {out} ({steps} steps of {cfg.strokes_per_step} strokes, {a.digits} digits)")
    return out


def export_cmd(a: argparse.Namespace) -> Path:
    from glimpse.checkpoint import export_checkpoint

    source = Path(a.checkpoint)
    if not source.is_file():
        raise UsageError(f"checkpoint {source} does not exist" if not source.is_dir() else f"{source} is a folder")
    options.refuse_overwrite([Path(a.out)], a.force, ["OUT"], inputs=[source])
    try:
        out = export_checkpoint(source, a.out, half=not a.full, keep=tuple(a.keep))
    except (PermissionError, IsADirectoryError, NotADirectoryError) as err:
        raise UsageError(f"cannot write {a.out}: {err.strerror or err}") from None
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
    options.refuse_overwrite([out], a.force, ["--out"])
    plot_runs(a.runs, out, x=a.x, title=a.title)
    print(f"wrote {out} ({len(a.runs)} runs, x = {a.x})")
    return out


def draw_cmd(a: argparse.Namespace) -> Path:
    """DRAW drawing digits step by step, its write windows outlined: prior samples, or with
    ``--reconstruct`` binarised test digits (beside their targets, read windows outlined too)."""
    from glimpse.checkpoint import load_model
    from glimpse.render import draw_frames, write_gif

    out = check_digit_grid(a, a.samples, "--samples")
    model = load_model(checkpoint_path(a.checkpoint, "draw"), kind="draw")
    cfg = model.cfg
    g = torch.Generator().manual_seed(a.seed)
    targets = None
    with torch.no_grad():
        if a.reconstruct:
            from glimpse.data import load_mnist

            if (cfg.channels, cfg.height, cfg.width) != (1, 28, 28):
                raise UsageError(f"--reconstruct needs a model of 28×28 digits, not {cfg.height}×{cfg.width}")
            test = load_mnist(a.data_root, train=False)
            idx = torch.randperm(len(test), generator=g)[: a.samples]
            targets = torch.bernoulli(test.float_images(idx), generator=g)  # the model's binary digits
            rollout = model.rollout(targets, generator=g)
        else:
            rollout = model.sample(a.samples, generator=g)
    frames = draw_frames(
        rollout.images, rollout.writes, cfg.write_n, rollout.reads, cfg.read_n, targets, cols=min(a.cols, a.samples)
    )
    options.write_together([(out, lambda tmp: write_gif(frames, tmp, fps=a.fps, hold_last=2 * int(a.fps)))])
    what = "test digits reconstructed" if a.reconstruct else "samples from the prior"
    print(f"wrote {out} ({cfg.steps} steps, {a.samples} {what})")
    return out


def check_digit_grid(a: argparse.Namespace, n: int, flag: str) -> Path:
    """Check the options :func:`glimpse.cli._digit_grid` adds (and --seed); returns the GIF's path."""
    out = Path(a.out)
    options.count(n, flag, 1, MAX_DIGITS)
    options.count(a.cols, "--cols")
    options.fps(a.fps)
    options.seed(a.seed)
    options.suffix(out, "--out", ".gif")
    options.refuse_overwrite([out], a.force, ["--out"])
    return out
