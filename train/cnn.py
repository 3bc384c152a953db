"""Train the CNN baseline on MNIST or its translated / cluttered variants (the same data as train.ram).

    python -m train.cnn                                          # MNIST, conv blocks 32, 64, 64
    python -m train.cnn --dataset translated --out runs/cnn-translated
    python -m train.cnn --conv-channels 32,64,128,128 --dataset <a 100×100 task> --out runs/cnn-100
    python -m train.cnn --resume --out runs/cnn-mnist            # continue an interrupted run

Data, batches (the variants drawn afresh for every batch), validation split and test protocols
are train.ram's (:class:`train.ram.RAMRecipe`); the loss is the cross-entropy of the logits. The
CNN has no glimpses, so results.json reports its one test error under ``stochastic`` and ``mean``.
Writes to ``--out`` what every run writes (see train.loop): ``last.pt``, ``best.pt`` (lowest
validation error), ``model.pt`` (loads with no flags), ``metrics.jsonl`` and ``results.json``.

This module also holds what the CNN and the soft-attention classifier (train.soft) share: their
options (:class:`ClassifierArgs`: train.ram's data options, :class:`train.ram.TaskArgs`, and
gradient clipping) and a recipe for classifiers trained by plain backpropagation
(:class:`ClassifierRecipe`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glimpse.cnn import CNN, CNNConfig
from glimpse.errors import UsageError
from glimpse.evaluate import error_rate
from train import loop
from train import ram as train_ram
from train.common import arg, entry_point


@dataclass
class ClassifierArgs(train_ram.TaskArgs):
    """The options of a classifier trained by backpropagation on train.ram's data."""

    clip: float | None = arg(5.0, "clip the gradient norm to this (none: no clipping)")


class ClassifierRecipe(train_ram.RAMRecipe):
    """train.ram's data, batches, validation and test, for a model trained by plain backprop:
    subclasses give ``kind``, ``script``, :meth:`make_model` and :meth:`classification_loss`."""

    stats = ("loss", "accuracy")
    select = "val_error"
    resumable = frozenset({"epochs", "eval_rollouts"})
    teacher = teacher_kind = None  # no --oracle-glimpses or --ink-glimpses: these models choose no locations

    def make_model(self, cfg: Any) -> nn.Module:
        raise NotImplementedError

    def classification_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(scalar loss, (B,) 1 where the prediction is right) of one batch."""
        raise NotImplementedError

    def load_data(self) -> None:
        super().load_data()  # self.splits and self.train, as train.ram loads them
        fn = self.classification_loss
        self.loss: Callable[..., tuple[Tensor, Tensor]] = torch.compile(fn, dynamic=False) if self.args.compile else fn

    def build_model(self) -> nn.Module:
        c, h, w = self.splits.val.images.shape[-3:]
        try:
            return self.make_model(dataclasses.replace(self.args.model, height=h, width=w, channels=c))
        except ValueError as err:  # e.g. a patch larger than this task's images
            raise UsageError(f"--dataset {self.args.dataset}: {err}") from None

    def objective(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return self.loss(model, x, y)

    def train_batch(self, forward, update, x: Tensor, y: Tensor) -> Tensor:
        loss, correct = forward(x, y)
        update(loss)
        return torch.stack([loss.detach(), correct.mean()])

    def unused_parameters(self) -> bool:
        return False

    def after_batch(self, model: nn.Module, progress: float) -> None:
        pass  # no σ schedule

    def validate(self, model: nn.Module) -> dict[str, float]:
        return {"val_error": error_rate(model, self.splits.val, "mean", device=self.device, seed=self.args.seed)}

    def record(self, model: nn.Module) -> dict[str, Any]:
        return {}


@dataclass
class Args(ClassifierArgs):
    model: CNNConfig = dataclasses.field(default_factory=CNNConfig)
    out: str = arg("runs/cnn-mnist", "run folder for checkpoints and logs")


class CNNRecipe(ClassifierRecipe):
    kind, script = "cnn", "train.cnn"

    def make_model(self, cfg: CNNConfig) -> CNN:
        return CNN(cfg)

    def classification_loss(self, model: CNN, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        logits = model(x)
        return F.cross_entropy(logits, y), (logits.detach().argmax(-1) == y).to(logits.dtype)


def main(argv: list[str] | None = None) -> dict | None:
    return loop.main(CNNRecipe, Args, argv, __doc__)


if __name__ == "__main__":
    entry_point("train.cnn", main)
