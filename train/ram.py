"""Train a Recurrent Attention Model on MNIST (or its translated / cluttered variants).

    python -m train.ram                                   # the paper's MNIST setting, 6 glimpses of 8×8
    python -m train.ram --compile --threads 2             # the same, compiled (the README's 26.8-min run)
    python -m train.ram --random-glimpses --out runs/ram-random   # the random-glimpse control
    python -m train.ram --resume --out runs/ram-mnist     # continue an interrupted run

Writes to ``--out``: ``last.pt`` (every epoch, atomically; ``--resume`` continues from it),
``best.pt`` (lowest validation error), ``model.pt`` (best weights + test results, small),
``metrics.jsonl`` (one line per epoch) and ``results.json`` (test errors under every protocol).
Models are selected on a validation split held out of the 60,000 training digits; the test set
is read once, at the end.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor
from tqdm import tqdm

from glimpse.checkpoint import build_model, save_checkpoint
from glimpse.data import ImageSet, mnist_splits
from glimpse.evaluate import error_rate
from glimpse.losses import RAMLoss, ram_loss
from glimpse.ram import RAM, RAMConfig
from glimpse.variants import shift
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


@dataclass
class Args(RunArgs):
    out: str = arg("runs/ram-mnist", "run folder for checkpoints and logs")
    epochs: int = arg(160, "training epochs")
    batch_size: int = arg(128, "images per optimisation step")
    dataset: Literal["mnist", "translated", "cluttered"] = arg("mnist", "MNIST 28×28, or 60×60 variants")
    data_root: str | None = arg(None, "data root holding MNIST/raw (default: $GLIMPSE_DATA, then ./data)")
    glimpses: int = arg(6, "glimpses per image, T")
    glimpse_size: int = arg(8, "retina patch side g, in pixels")
    scales: int = arg(1, "retina patches per glimpse, k")
    core: Literal["rnn", "lstm", "gru"] = arg("rnn", "recurrent core (rnn: the paper's 256-unit ReLU RNN)")
    hidden: int = arg(256, "core width")
    what_size: int = arg(128, "width of the glimpse network's image ('what') pathway h_g")
    where_size: int = arg(128, "width of its location ('where') pathway h_l")
    glimpse_out: int = arg(256, "width of the glimpse feature g_t")
    combine: Literal["sum", "product"] = arg("sum", "g_t from h_g and h_l: RAM's sum or DRAM's product")
    loc_std: float = arg(0.1, "location policy σ in location units (×14 px on 28×28: 0.1 is 1.4 px)")
    loc_std_final: float | None = arg(0.01, "σ at the end of training, after a cosine fall (none: keep σ fixed)")
    anneal_from: float = arg(0.8, "fraction of training after which σ starts its cosine fall to --loc-std-final")
    learn_std: bool = arg(False, "learn σ by REINFORCE, no schedule (on MNIST it collapses; see the README)")
    reinforce_core: bool = arg(False, "let REINFORCE also train the core and glimpse network")
    reinforce_weight: float = arg(1.0, "weight λ of the REINFORCE term")
    reward: Literal["correct", "prob", "log_prob"] = arg(
        "log_prob", "REINFORCE reward: 0/1 correctness (the paper), p(y|x), or log p(y|x)"
    )
    random_glimpses: bool = arg(False, "the control: uniformly random locations, no policy")
    augment_shift: int = arg(1, "random shift of training digits by up to this many pixels")
    val_size: int = arg(5000, "training digits held out for model selection")
    train_limit: int | None = arg(None, "train on only the first N training digits (quick checks)")
    select: Literal["stochastic", "mean"] = arg("stochastic", "validation protocol used to pick best.pt")
    eval_rollouts: int = arg(10, "M for the averaged protocol")
    compile: bool = arg(False, "run the rollout and loss as one torch.compile'd graph (1.15-1.8x faster here)")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "glimpses", "glimpse_size", "scales", "hidden", "val_size"):
            if getattr(self, name) < 1:
                raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or not self.loc_std > 0:
            raise SystemExit(f"--lr and --loc-std must be > 0, got {self.lr} and {self.loc_std}")
        if self.learn_std:  # a learned σ replaces the schedule
            self.loc_std_final = None
        if self.loc_std_final is not None and not 0 < self.loc_std_final <= self.loc_std:
            raise SystemExit(
                f"--loc-std-final must lie in (0, --loc-std={self.loc_std}] (or be 'none'), got {self.loc_std_final}"
            )
        if not 0 <= self.anneal_from < 1:
            raise SystemExit(f"--anneal-from must lie in [0, 1), got {self.anneal_from}")


def model_config(a: Args, height: int, width: int) -> RAMConfig:
    fields = {f.name for f in dataclasses.fields(RAMConfig)}
    shared = {k: v for k, v in dataclasses.asdict(a).items() if k in fields}
    return RAMConfig(height=height, width=width, **shared)


def annealed_std(progress: float, start: float, final: float, anneal_from: float = 0.0) -> float:
    """σ at ``progress`` in [0, 1] of training: ``start`` until ``anneal_from``, then a cosine fall
    to ``final`` at the end (with ``anneal_from=0`` it follows the cosine learning-rate factor)."""
    t = min(max((progress - anneal_from) / (1.0 - anneal_from), 0.0), 1.0)
    return final + (start - final) * 0.5 * (1.0 + math.cos(math.pi * t))


STATS = ("loss", "classification", "policy", "baseline", "accuracy")


def loss_function(model: RAM, a: Args) -> Callable[[Tensor, Tensor], RAMLoss]:
    """images, labels -> the hybrid loss of one sampled rollout; compiled with ``--compile``."""

    def loss(x: Tensor, y: Tensor) -> RAMLoss:
        return ram_loss(model.rollout(x, "sample"), y, a.reinforce_weight, a.reward)

    return torch.compile(loss, dynamic=False) if a.compile else loss


def train_epoch(
    model: RAM, loss_fn, opt, sched, batches, a: Args, gen: torch.Generator, variant, bar, total_steps: int
) -> dict[str, float]:
    """One pass over the training batches; returns mean loss terms and training accuracy."""
    model.train()
    sums, n = None, 0
    for x, y in batches:
        if variant is not None:
            x = variant(x, gen)
        x = shift(x, a.augment_shift, gen)
        losses = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        losses.total.backward()
        opt.step()
        sched.step()
        if a.loc_std_final is not None:
            progress = sched.last_epoch / total_steps  # optimisation steps taken so far
            model.policy.set_std(annealed_std(progress, a.loc_std, a.loc_std_final, a.anneal_from))
        step = torch.stack(
            [losses.total, losses.classification, losses.policy, losses.baseline, losses.correct.mean()]
        ).detach()
        sums = step if sums is None else sums + step  # stays on the device: no sync per step
        n += 1
        if bar is not None:
            bar.update(1)
            if n % 50 == 0:
                mean = (sums / n).tolist()
                bar.set_postfix(loss=f"{mean[0]:.3f}", acc=f"{mean[4]:.3f}")
    means = (sums / max(n, 1)).tolist() if sums is not None else [float("nan")] * len(STATS)
    return dict(zip(STATS, means, strict=True))


def evaluate_all(model: RAM, data: ImageSet, a: Args, device: torch.device) -> dict[str, float]:
    """Error rates under every protocol, named as reported."""
    out = {
        "stochastic": error_rate(model, data, "stochastic", device=device, seed=a.seed),
        "mean": error_rate(model, data, "mean", device=device),
        f"average{a.eval_rollouts}": error_rate(model, data, "average", a.eval_rollouts, device=device, seed=a.seed),
    }
    if not model.cfg.random_glimpses:  # the trained model, but looking at random places
        out["random_locations"] = error_rate(model, data, "random", device=device, seed=a.seed)
    return out


def main(argv: list[str] | None = None) -> None:
    a, ckpt, device, gen = start_run(parse_args(Args, argv, __doc__), "train.ram")
    out = Path(a.out)
    last = out / "last.pt"

    splits = mnist_splits(a.data_root, a.dataset, a.val_size, a.seed)
    if a.train_limit:
        splits.train = ImageSet(splits.train.images[: a.train_limit], splits.train.labels[: a.train_limit])
    splits.train = splits.train.to(device)
    h, w = splits.val.images.shape[-2:]
    model = RAM(model_config(a, h, w)) if ckpt is None else build_model(ckpt)
    model.to(device)
    fused = device.type in ("cpu", "cuda")
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, fused=fused)
    steps_per_epoch = len(splits.train) // a.batch_size
    total_steps = a.epochs * steps_per_epoch
    sched = make_schedule(opt, a.schedule, total_steps)
    start, best, wall = restore(ckpt, opt, sched, gen)
    if ckpt is not None:
        print(f"resuming {out} at epoch {start + 1}/{a.epochs} (best validation error {best:.4f})")
    log = MetricsLog(out / "metrics.jsonl")
    loss_fn = loss_function(model, a)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"{a.dataset}: {len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test; "
        f"{a.core} core, {n_params:,} parameters, device {device}, {torch.get_num_threads()} threads"
    )

    for epoch in range(start, a.epochs):
        t0 = time.perf_counter()
        batches = splits.train.batches(a.batch_size, shuffle=True, generator=gen, device=device, drop_last=True)
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{a.epochs}",
            leave=False,
            disable=not a.progress,
            file=sys.stdout,
        )
        try:
            stats = train_epoch(model, loss_fn, opt, sched, batches, a, gen, splits.variant, bar, total_steps)
        except KeyboardInterrupt:
            bar.close()
            raise interrupted(epoch, a.out, "train.ram") from None
        bar.close()
        train_time = time.perf_counter() - t0
        val = error_rate(model, splits.val, a.select, device=device, seed=a.seed)
        wall += time.perf_counter() - t0
        improved = val < best
        best = min(best, val)
        rate = steps_per_epoch * a.batch_size / train_time
        record = dict(
            epoch=epoch + 1,
            **stats,
            val_error=val,
            select=a.select,
            lr=sched.get_last_lr()[0],
            std=model.policy.std.item(),
            epoch_s=train_time,
            images_per_s=rate,
            wall_s=wall,
        )
        log.write(**record)
        print(
            f"epoch {epoch + 1}: loss {stats['loss']:.4f} train acc {stats['accuracy']:.4f} "
            f"val error ({a.select}) {val:.4f}{' *' if improved else ''}  {record['images_per_s']:,.0f} img/s "
            f"wall {wall / 60:.1f} min",
            flush=True,
        )
        if improved:
            save_checkpoint(out / "best.pt", "ram", model, epoch=epoch, val_error=val)
        save_checkpoint(last, "ram", model, **run_state(a, opt, sched, gen, epoch, best, wall))

    best_ckpt, best_model = load_best(out, device)
    best_epoch = best_ckpt["epoch"] + 1
    results = {
        "dataset": a.dataset,
        "best_epoch": best_epoch,
        "epochs": a.epochs,
        "train_wall_min": round(wall / 60, 2),
        "val": evaluate_all(best_model, splits.val, a, device),
        "test": evaluate_all(best_model, splits.test, a, device),
        "args": config_dict(a),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    save_checkpoint(out / "model.pt", "ram", best_model, test_error=results["test"], best_epoch=best_epoch)
    print(f"best epoch {best_epoch}; test error: " + ", ".join(f"{k} {v:.2%}" for k, v in results["test"].items()))


if __name__ == "__main__":
    main()
