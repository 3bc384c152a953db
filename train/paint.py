"""Train the stroke painter through the differentiable canvas.

    python -m train.paint --dataset celeba --data-root ../shared/data   # faces, 64²: 20 steps × 10 strokes
    python -m train.paint --dataset mnist --channels 1 --size 32 --steps 10 --strokes-per-step 2   # digits
    python -m train.paint --dataset folder --folder my_pictures/

Writes ``last.pt`` (every epoch, atomically; ``--resume`` continues it), ``best.pt`` (lowest
validation error after all strokes), ``model.pt``, ``metrics.jsonl`` and ``results.json`` with the
test error per pixel after 10/30/50/100/200 strokes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from tqdm import tqdm

from glimpse.canvas import compile_canvas
from glimpse.checkpoint import build_model, save_checkpoint
from glimpse.data import ImageSet
from glimpse.painter import Painter, PainterConfig, mse_by_strokes, paint_loss, stroke_sequence
from glimpse.pictures import picture_splits
from train.common import (
    MetricsLog,
    RunArgs,
    arg,
    config_dict,
    interrupted,
    load_best,
    make_schedule,
    parse_args,
    restore,
    run_state,
    start_run,
)

REPORT_STROKES = (10, 30, 50, 100, 200)


@dataclass
class Args(RunArgs):
    out: str = arg("runs/paint-celeba", "run folder for checkpoints and logs")
    epochs: int = arg(5, "passes over the training pictures")
    batch_size: int = arg(16, "pictures per batch (each batch makes one update per --tbptt steps)")
    dataset: Literal["celeba", "mnist", "folder"] = arg("celeba", "faces (IDs 1-2000 test), MNIST, or --folder")
    folder: str | None = arg(None, "folder of pictures for --dataset folder (its last tenth is the test set)")
    data_root: str | None = arg(None, "data root holding celeba/ or MNIST/ (default: $GLIMPSE_DATA, then ./data)")
    clip: float = arg(1.0, "gradient-norm clipping")
    loss: Literal["mean", "relative"] = arg(
        "relative", "each chunk's mean error, or that error over its own value (late chunks pull as hard)"
    )
    size: int = arg(64, "training canvas side (a multiple of 16)")
    channels: int = arg(3, "3 (RGB) or 1 (greyscale)")
    steps: int = arg(20, "recurrent steps per painting")
    tbptt: int = arg(5, "steps per truncated-backprop chunk (one update each); --tbptt STEPS: full episodes")
    strokes_per_step: int = arg(10, "strokes emitted per step")
    core: Literal["rnn", "lstm", "gru"] = arg("lstm", "recurrent core")
    hidden: int = arg(256, "core width")
    width: int = arg(32, "channels of the encoder's first convolution")
    encoder_size: int | None = arg(
        None, "side the encoder sees pictures at (a multiple of 16 up to --size; default half of --size, at least 16)"
    )
    where: Literal["error", "free"] = arg("error", "strokes start at peaks of the remaining error, or anywhere")
    colour: Literal["head", "solved"] = arg("solved", "stroke colours: least squares on the target, or the head's own")
    mode: Literal["fast", "crisp"] = arg("fast", "canvas rasteriser")
    style: Literal["flat", "oil"] = arg("flat", "stroke style")
    edge: float = arg(0.5, "stroke edge softness, px")
    compile: bool = arg(False, "render the fast canvas with torch.compile'd kernels (faster; compiles ~20 s first)")
    background: float = arg(0.0, "grey level of the blank canvas")
    flip: bool = arg(True, "random horizontal flips of training pictures")
    val_size: int = arg(500, "training pictures held out for model selection")
    train_limit: int | None = arg(None, "use only the first N training pictures (quick checks)")
    eval_limit: int | None = arg(None, "evaluate on only the first N test pictures")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "size", "steps", "strokes_per_step", "hidden", "width"):
            if getattr(self, name) < 1:
                raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.size % 16:
            raise SystemExit(f"--size must be a multiple of 16, got {self.size}")
        if self.encoder_size is None:
            self.encoder_size = max(16, self.size // 32 * 16)
        if not (0 < self.encoder_size <= self.size and self.encoder_size % 16 == 0):
            raise SystemExit(f"--encoder-size must be a multiple of 16 up to --size, got {self.encoder_size}")
        if self.channels not in (1, 3):
            raise SystemExit(f"--channels must be 1 or 3, got {self.channels}")
        if not self.lr > 0 or not self.edge > 0:
            raise SystemExit(f"--lr and --edge must be > 0, got {self.lr} and {self.edge}")


def model_config(a: Args) -> PainterConfig:
    fields = {f.name for f in dataclasses.fields(PainterConfig)}
    return PainterConfig(**{k: v for k, v in dataclasses.asdict(a).items() if k in fields})


def train_batch(
    model: Painter, opt: torch.optim.Optimizer, x: torch.Tensor, steps: int, tbptt: int, clip: float, relative: bool
) -> torch.Tensor:
    """Paint one batch for ``steps`` steps, one update per chunk of ``tbptt`` steps (truncated
    backprop through time); returns the per-step errors (steps,) (detached)."""
    losses = []
    canvas, state = None, None
    for start in range(0, steps, tbptt):
        r = model.rollout(x, min(tbptt, steps - start), canvas, state, start)
        loss, per_step = paint_loss(r, x, relative)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        canvas, state = r.canvases[-1].detach(), tuple(s.detach() for s in r.state)
        losses.append(per_step)
    return torch.cat(losses)


def train_epoch(model: Painter, opt, sched, data: ImageSet, a: Args, gen: torch.Generator, device, bar) -> dict:
    """One pass over the training pictures; returns the mean loss and final-step error."""
    model.train()
    sums, n = None, 0
    for x, _ in data.batches(a.batch_size, shuffle=True, generator=gen, device=device, drop_last=True):
        if a.flip:
            flip = torch.rand(x.shape[0], generator=gen) < 0.5
            x = torch.where(flip.to(device).view(-1, 1, 1, 1), x.flip(-1), x)
        per_step = train_batch(model, opt, x, a.steps, a.tbptt, a.clip, a.loss == "relative")
        sched.step()
        stats = torch.stack([per_step.mean(), per_step[-1]])
        sums = stats if sums is None else sums + stats
        n += 1
        if bar is not None:
            bar.update(1)
            if n % 10 == 0:
                mean = (sums / n).tolist()
                bar.set_postfix(loss=f"{mean[0]:.4f}", final=f"{mean[1]:.4f}")
    mean = (sums / max(n, 1)).tolist()
    return {"loss": mean[0], "final_mse": mean[1]}


@torch.no_grad()
def evaluate(model: Painter, data: ImageSet, counts: list[int], device, batch_size: int = 100) -> dict[int, float]:
    """Mean squared error per pixel after each stroke count, over ``data``."""
    model.eval()
    cfg = model.cfg
    counts = [c for c in counts if c <= cfg.strokes] or [cfg.strokes]
    sums = dict.fromkeys(counts, 0.0)
    for x, _ in data.batches(batch_size, device=device):
        strokes = stroke_sequence(model.rollout(x))
        for c, err in mse_by_strokes(strokes, x, counts, cfg.mode, cfg.style, cfg.edge, cfg.background).items():
            sums[c] += err.sum().item()
    return {c: s / len(data) for c, s in sums.items()}


def main(argv: list[str] | None = None) -> None:
    a, ckpt, device, gen = start_run(parse_args(Args, argv, __doc__), "train.paint")
    compile_canvas(a.compile)
    out = Path(a.out)
    last = out / "last.pt"

    train, val, test = picture_splits(
        a.dataset, a.size, a.data_root, a.folder, a.val_size, a.train_limit, progress=a.progress
    )
    if a.channels == 3 and train.images.shape[1] == 1:  # digits on an RGB painter
        train, val, test = (ImageSet(s.images.expand(-1, 3, -1, -1).contiguous(), s.labels) for s in (train, val, test))
    if a.eval_limit:
        test = ImageSet(test.images[: a.eval_limit], test.labels[: a.eval_limit])
    train = train.to(device)
    model = Painter(model_config(a)) if ckpt is None else build_model(ckpt)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    steps_per_epoch = len(train) // a.batch_size
    if steps_per_epoch < 1:
        raise SystemExit(f"{len(train)} training pictures is fewer than one batch of {a.batch_size}")
    sched = make_schedule(opt, a.schedule, a.epochs * steps_per_epoch)
    start, best, wall = restore(ckpt, opt, sched, gen)
    if ckpt is not None:
        print(f"resuming {out} at epoch {start + 1}/{a.epochs} (best validation error {best:.5f})")
    log = MetricsLog(out / "metrics.jsonl")
    cfg = model.cfg
    print(
        f"{a.dataset} {a.size}²: {len(train)} train / {len(val)} val / {len(test)} test; {cfg.strokes} strokes "
        f"({cfg.steps} steps × {cfg.strokes_per_step}); {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"device {device}, {torch.get_num_threads()} threads"
    )

    for epoch in range(start, a.epochs):
        t0 = time.perf_counter()
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{a.epochs}",
            leave=False,
            disable=not a.progress,
            file=sys.stdout,
        )
        try:
            stats = train_epoch(model, opt, sched, train, a, gen, device, bar)
        except KeyboardInterrupt:
            bar.close()
            raise interrupted(epoch, a.out, "train.paint") from None
        bar.close()
        train_time = time.perf_counter() - t0
        val_err = evaluate(model, val, [cfg.strokes], device)[cfg.strokes]
        wall += time.perf_counter() - t0
        improved = val_err < best
        best = min(best, val_err)
        log.write(epoch=epoch + 1, **stats, val_mse=val_err, lr=sched.get_last_lr()[0], epoch_s=train_time, wall_s=wall)
        print(
            f"epoch {epoch + 1}: loss {stats['loss']:.5f} final {stats['final_mse']:.5f} "
            f"val mse {val_err:.5f}{' *' if improved else ''}  "
            f"{steps_per_epoch * a.batch_size / train_time:.1f} pictures/s "
            f"wall {wall / 60:.1f} min",
            flush=True,
        )
        if improved:
            save_checkpoint(out / "best.pt", "painter", model, epoch=epoch, val_mse=val_err)
        save_checkpoint(last, "painter", model, **run_state(a, opt, sched, gen, epoch, best, wall))

    best_ckpt, best_model = load_best(out, device)
    counts = [*REPORT_STROKES, cfg.strokes]
    test_mse = evaluate(best_model, test, counts, device)
    results = {
        "dataset": a.dataset,
        "size": a.size,
        "best_epoch": best_ckpt["epoch"] + 1,
        "epochs": a.epochs,
        "train_wall_min": round(wall / 60, 2),
        "test_pictures": len(test),
        "test_mse": {str(k): v for k, v in test_mse.items()},
        "args": config_dict(a),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    save_checkpoint(out / "model.pt", "painter", best_model, test_mse=results["test_mse"])
    print("test mse: " + ", ".join(f"{k} strokes {v:.5f}" for k, v in test_mse.items()))


if __name__ == "__main__":
    main()
