"""Train DRAW on binarised MNIST and report its negative variational bound in nats per image.

    python -m train.draw                                   # the paper's model: T=64, 256/256 LSTMs, 2×2 read, 5×5 write
    python -m train.draw --steps 16 --epochs 30 --threads 1 --out runs/draw-att
    python -m train.draw --no-attention --out runs/draw-noatt
    python -m train.draw --resume --out runs/draw-att     # continue an interrupted run

Binarisation: training digits are binarised afresh every batch (a Bernoulli sample of the grey
levels, "dynamic"); validation (5,000 held out of the 60,000 training digits, the same split as
train.ram) and test digits are binarised once with a fixed seed, so every evaluation sees the same
binary images. The paper's binarised MNIST is a different fixed set: say which beside a number.

The loop (:mod:`train.loop`) writes ``last.pt``, ``best.pt`` (lowest validation bound),
``model.pt``, ``metrics.jsonl`` and ``results.json`` to ``--out``. The test set is read once at
the end: the bound with its reconstruction and KL parts, and with ``--iwae K`` the
importance-weighted bound, reported separately.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from glimpse.data import ImageSet, binarise, mnist_splits
from glimpse.draw import DRAW, DRAWConfig, DRAWLoss
from glimpse.errors import UsageError
from glimpse.evaluate import variational_bound
from train.common import RunArgs, arg, at_least_one, entry_point
from train.loop import Recipe
from train.loop import main as loop_main

BINARISATION = "train: dynamic (a fresh Bernoulli sample every batch); val/test: binarised once, seeds {}/{}"


@dataclass
class Args(RunArgs):
    model: DRAWConfig = dataclasses.field(default_factory=DRAWConfig)
    out: str = arg("runs/draw-mnist", "run folder for checkpoints and logs")
    epochs: int = arg(100, "training epochs")
    batch_size: int = arg(64, "images per optimisation step")
    clip: float | None = arg(10.0, "clip the gradient norm to this (none: no clipping)")
    data_root: str | None = arg(None, "data root holding MNIST/raw (default: $GLIMPSE_DATA, then ./data)")
    val_size: int = arg(5000, "training digits held out for model selection")
    train_limit: int | None = arg(None, "train on only the first N training digits (quick checks)")
    eval_batch: int = arg(500, "images per evaluation batch")
    iwae: int | None = arg(None, "after training, also the importance-weighted test bound with K samples")
    iwae_limit: int | None = arg(None, "test digits for the importance-weighted bound (default: all)")

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least_one("val_size", "train_limit", "eval_batch", "iwae", "iwae_limit", obj=self)


@torch.no_grad()
def iwae_test(model: DRAW, data: ImageSet, k: int, device: torch.device, seed: int) -> float:
    """Mean negative importance-weighted bound with ``k`` samples (nats per image)."""
    g = torch.Generator(device=device).manual_seed(seed)
    per_batch = max(1, 4096 // k)
    return (
        torch.cat([model.iwae_bound(x, k, generator=g) for x, _ in data.batches(per_batch, device=device)])
        .mean()
        .item()
    )


class DrawRecipe(Recipe):
    kind, script = "draw", "train.draw"
    stats = ("bound", "reconstruction", "kl")
    select = "val_bound"

    def load_data(self) -> None:
        a = self.args
        splits = mnist_splits(a.data_root, "mnist", a.val_size, a.seed)
        train = splits.train
        if a.train_limit:
            train = ImageSet(train.images[: a.train_limit], train.labels[: a.train_limit])
        if len(train) < a.batch_size:
            raise UsageError(f"{len(train)} training digits are fewer than one batch (--batch-size {a.batch_size})")
        self.train = train  # grey levels, uint8; binarised per batch
        self.val, self.test_set = binarise(splits.val, a.seed + 1), binarise(splits.test, a.seed + 2)

    def build_model(self) -> DRAW:
        _, c, h, w = self.train.images.shape
        return DRAW(dataclasses.replace(self.args.model, height=h, width=w, channels=c))

    def steps_per_epoch(self) -> int:
        return len(self.train) // self.args.batch_size

    def batches(self, gen: torch.Generator) -> Iterator[tuple[Tensor, ...]]:
        for x, _ in self.train.batches(self.args.batch_size, shuffle=True, generator=gen, drop_last=True):
            yield (torch.bernoulli(x, generator=gen).to(self.device, non_blocking=True),)

    def objective(self, model: DRAW, x: Tensor) -> DRAWLoss:
        return model.loss(x)

    def train_batch(self, forward: Callable[..., Any], update: Callable[[Tensor], None], x: Tensor) -> Tensor:
        losses = forward(x)
        update(losses.total)
        return torch.stack(list(losses)).detach()

    def validate(self, model: DRAW) -> dict[str, float]:
        v = variational_bound(model, self.val, self.device, self.args.seed, self.args.eval_batch)
        return {f"val_{k}": x for k, x in v.items()}

    def test(self, model: DRAW) -> dict[str, Any]:
        a = self.args
        out: dict[str, Any] = {"binarisation": BINARISATION.format(a.seed + 1, a.seed + 2)}
        out["val"] = variational_bound(model, self.val, self.device, a.seed, a.eval_batch)
        out["test"] = variational_bound(model, self.test_set, self.device, a.seed, a.eval_batch)
        if a.iwae:
            sub = self.test_set
            if a.iwae_limit:
                sub = ImageSet(sub.images[: a.iwae_limit], sub.labels[: a.iwae_limit])
            bound = iwae_test(model, sub, a.iwae, self.device, a.seed)
            out["test_iwae"] = {"k": a.iwae, "images": len(sub), "bound": bound}
        return out

    def describe(self, model: DRAW) -> str:
        c = model.cfg
        return (
            f"DRAW {'with' if c.attention else 'without'} attention, T={c.steps}, {c.core} {c.enc_size}/{c.dec_size}, "
            f"z={c.z_size}: {sum(p.numel() for p in model.parameters()):,} parameters; {len(self.train)} train "
            f"(dynamic binarisation) / {len(self.val)} val / {len(self.test_set)} test (fixed binarisation); "
            f"{torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''}"
        )

    def checkpoint_entries(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"test": results["test"], "binarisation": results["binarisation"]}


def main(argv: list[str] | None = None) -> dict | None:
    return loop_main(DrawRecipe, Args, argv, __doc__)


if __name__ == "__main__":
    entry_point("train.draw", main)
