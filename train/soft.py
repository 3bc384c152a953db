"""Train the soft-attention classifier (DRAW's filterbank read, end to end) on MNIST or its
translated / cluttered variants (the same data as train.ram).

    python -m train.soft                                          # MNIST: 8 glimpses of 12×12, LSTM 256
    python -m train.soft --dataset cluttered60 --out runs/soft-cluttered60
    python -m train.soft --loss last --out runs/soft-last         # cross-entropy after the last glimpse only
    python -m train.soft --dataset translated --scales 3 --augment-rotate 10 --augment-scale 0.1 --compile
    python -m train.soft --resume --out runs/soft-mnist           # continue an interrupted run

Data, batches (the variants drawn afresh for every batch), validation split and test protocols
are train.ram's (:class:`train.ram.RAMRecipe`). The loss is the cross-entropy averaged over every
glimpse's logits (``--loss all``, the default) or of the last glimpse's only (``--loss last``, as
RAM classifies); nothing is sampled, so plain backpropagation trains every part. The defaults
(``--loss all --lr 3e-4``) are the recipe that learned cluttered 60²; ``--loss last --lr 1e-3``
stayed near chance there for 7 epochs. The
model is deterministic: results.json reports its one rollout under ``stochastic``, ``mean`` and
``average10``, and ``random_locations`` is the trained model with its windows' centres drawn
uniformly. Writes to ``--out`` what every run writes (see train.loop): ``last.pt``, ``best.pt``
(lowest validation error), ``model.pt`` (loads with no flags), ``metrics.jsonl``, ``results.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import Tensor

from glimpse.soft import LossSteps, SoftAttention, SoftAttentionConfig, soft_loss
from train import loop
from train.cnn import ClassifierArgs, ClassifierRecipe
from train.common import arg, entry_point


@dataclass
class Args(ClassifierArgs):
    model: SoftAttentionConfig = dataclasses.field(default_factory=SoftAttentionConfig)
    out: str = arg("runs/soft-mnist", "run folder for checkpoints and logs")
    lr: float = arg(3e-4, "Adam learning rate at the start of the schedule (1e-3 did not learn cluttered 60²)")
    loss: LossSteps = arg("all", "cross-entropy averaged over every glimpse's logits, or on the last glimpse's only")


class SoftRecipe(ClassifierRecipe):
    kind, script = "soft", "train.soft"

    def make_model(self, cfg: SoftAttentionConfig) -> SoftAttention:
        return SoftAttention(cfg)

    def classification_loss(self, model: SoftAttention, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        loss = soft_loss(model.rollout(x), y, self.args.loss)
        return loss.total, loss.correct


def main(argv: list[str] | None = None) -> dict | None:
    return loop.main(SoftRecipe, Args, argv, __doc__)


if __name__ == "__main__":
    entry_point("train.soft", main)
