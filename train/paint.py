"""Train the stroke painter through the differentiable canvas.

    python -m train.paint --dataset celeba --data-root ../shared/data   # faces, 64²: 20 steps × 10 strokes
    python -m train.paint --dataset mnist --channels 1 --size 32 --steps 10 --strokes-per-step 2   # digits
    python -m train.paint --dataset folder --folder my_pictures/
    torchrun --nproc_per_node 2 -m train.paint --device cpu ...          # data-parallel

The painter's shape comes from ``PainterConfig``'s options (its defaults are the shipped face
painter's). Writes ``last.pt`` (every epoch, atomically; ``--resume`` continues it), ``best.pt``
(lowest validation error after all strokes), ``model.pt``, ``metrics.jsonl`` and ``results.json``
with the test error per pixel after 10/30/50/100/200 strokes. A resumed run may change --epochs
and --eval-limit; its other options stay as they were.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from glimpse.canvas import compile_canvas
from glimpse.data import ImageSet
from glimpse.errors import UsageError
from glimpse.evaluate import painting_error
from glimpse.painter import Painter, PainterConfig, paint_loss, relative_loss
from glimpse.pictures import picture_splits
from train import distributed, loop
from train.common import RunArgs, arg, at_least_one, entry_point

REPORT_STROKES = (10, 30, 50, 100, 200)


@dataclass
class Args(RunArgs):
    model: PainterConfig = dataclasses.field(default_factory=PainterConfig)
    out: str = arg("runs/paint-celeba", "run folder for checkpoints and logs")
    epochs: int = arg(5, "passes over the training pictures")
    batch_size: int = arg(16, "pictures per batch (each batch makes one update per --tbptt steps)")
    clip: float | None = arg(1.0, "clip the gradient norm to this (none: no clipping)")
    dataset: Literal["celeba", "mnist", "folder"] = arg("celeba", "faces (IDs 1-2000 test), MNIST, or --folder")
    folder: str | None = arg(None, "folder of pictures for --dataset folder (its last tenth is the test set)")
    data_root: str | None = arg(None, "data root holding celeba/ or MNIST/ (default: $GLIMPSE_DATA, then ./data)")
    loss: Literal["mean", "relative"] = arg(
        "relative", "each chunk's mean error, or that error over its own value (late chunks pull as hard)"
    )
    tbptt: int = arg(5, "steps per truncated-backprop chunk (one update each); --tbptt STEPS: full episodes")
    compile: bool = arg(False, "render the fast canvas with torch.compile'd kernels (faster; compiles ~20 s first)")
    flip: bool = arg(True, "random horizontal flips of training pictures")
    val_size: int = arg(500, "training pictures held out for model selection")
    train_limit: int | None = arg(None, "use only the first N training pictures (quick checks)")
    eval_limit: int | None = arg(None, "evaluate on only the first N test pictures")

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least_one("tbptt", "val_size", "train_limit", "eval_limit", obj=self)
        if self.dataset == "folder" and not self.folder:
            raise UsageError("--dataset folder needs --folder DIR")


def train_batch(
    forward, update, x: Tensor, steps: int, tbptt: int, relative: bool, dist: distributed.Dist | None = None
) -> Tensor:
    """Paint one batch for ``steps`` steps, one update per chunk of ``tbptt`` steps (truncated
    backprop through time); returns the per-step errors (steps,) (detached).

    ``forward(x, steps, canvas, state, start)`` paints a chunk and returns (chunk loss, its
    normaliser, per-step errors, canvas, state); ``update(loss)`` takes one optimiser step. With
    ``relative``, the chunk's loss is divided by its mean error over every process's shard.
    """
    losses = []
    canvas, state = None, None
    for start in range(0, steps, tbptt):
        loss, per_step, canvas, state = forward(x, min(tbptt, steps - start), canvas, state, start)
        if relative:
            loss = relative_loss(loss, distributed.mean(loss.detach(), dist or distributed.Dist()))
        update(loss)
        canvas, state = canvas.detach(), tuple(s.detach() for s in state)
        losses.append(per_step)
    return torch.cat(losses)


def fit_batch(model: Painter, opt: torch.optim.Optimizer, x: Tensor, tbptt: int, clip: float, relative: bool) -> Tensor:
    """:func:`train_batch` outside the loop (one process, plain optimiser steps), for benchmarks."""

    def update(loss: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()

    return train_batch(functools.partial(paint_chunk, model), update, x, model.cfg.steps, tbptt, relative)


def paint_chunk(model: Painter, x: Tensor, steps: int, canvas, state, start: int):
    """The differentiable part: paint ``steps`` steps from (canvas, state); (mean loss, per-step
    errors, last canvas, state)."""
    r = model.rollout(x, steps, canvas, state, start)
    loss, per_step = paint_loss(r, x)
    return loss, per_step, r.canvases[-1], r.state


class PaintRecipe(loop.Recipe):
    kind, script = "painter", "train.paint"
    stats = ("loss", "final_mse")
    select = "val_mse"
    resumable = frozenset({"epochs", "eval_limit"})
    fused_adam = False  # the shipped painters were trained with the for-loop Adam

    def load_data(self) -> None:
        a = self.args
        compile_canvas(a.compile)
        splits = picture_splits(a.dataset, a.model.size, a.data_root, a.folder, a.val_size, a.train_limit, a.progress)
        if a.model.channels == 3 and splits[0].images.shape[1] == 1:  # digits on an RGB painter
            splits = tuple(ImageSet(s.images.expand(-1, 3, -1, -1).contiguous(), s.labels) for s in splits)
        train, self.val, test = splits
        self.test_set = (
            test if a.eval_limit is None else ImageSet(test.images[: a.eval_limit], test.labels[: a.eval_limit])
        )
        if len(train) < a.batch_size:
            raise UsageError(f"{len(train)} training pictures are fewer than one batch (--batch-size {a.batch_size})")
        self.train = train.to(self.device)

    def build_model(self) -> Painter:
        return Painter(self.args.model)  # --init-from (the shared loop's) starts it from trained weights

    def steps_per_epoch(self) -> int:
        return len(self.train) // self.args.batch_size

    def batches(self, gen: torch.Generator) -> Iterator[tuple[Tensor]]:
        a = self.args
        for x, _ in self.train.batches(a.batch_size, shuffle=True, generator=gen, device=self.device, drop_last=True):
            if a.flip:
                flip = torch.rand(x.shape[0], generator=gen) < 0.5
                x = torch.where(flip.to(self.device).view(-1, 1, 1, 1), x.flip(-1), x)
            yield (x,)

    def objective(self, model: Painter, *inputs: Any):
        return paint_chunk(model, *inputs)

    def train_batch(self, forward, update, x: Tensor) -> Tensor:
        a = self.args
        per_step = train_batch(forward, update, x, a.model.steps, a.tbptt, a.loss == "relative", self.dist)
        return torch.stack([per_step.mean(), per_step[-1]])

    def validate(self, model: Painter) -> dict[str, float]:
        strokes = model.cfg.strokes
        return {"val_mse": painting_error(model, self.val, [strokes], self.device)[strokes]}

    def describe(self, model: Painter) -> str:
        cfg = model.cfg
        return (
            f"{self.args.dataset} {cfg.size}²: {len(self.train)} train / {len(self.val)} val / {len(self.test_set)} "
            f"test; {cfg.strokes} strokes ({cfg.steps} steps × {cfg.strokes_per_step}); " + super().describe(model)
        )

    def test(self, model: Painter) -> dict[str, Any]:
        counts = [*REPORT_STROKES, model.cfg.strokes]
        errors = painting_error(model, self.test_set, counts, self.device)
        return dict(
            dataset=self.args.dataset,
            size=model.cfg.size,
            test_pictures=len(self.test_set),
            test_mse={str(k): v for k, v in errors.items()},
        )

    def checkpoint_entries(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"test_mse": results["test_mse"]}


def main(argv: list[str] | None = None) -> dict | None:
    return loop.main(PaintRecipe, Args, argv, __doc__)


if __name__ == "__main__":
    entry_point("train.paint", main)
