r"""Train a Recurrent Attention Model on MNIST (or its translated / cluttered variants).

    python -m train.ram                                   # the paper's MNIST setting, 6 glimpses of 8×8
    python -m train.ram --compile --threads 2             # the same, compiled (the README's 26.8-min run)
    python -m train.ram --dataset cluttered100            # 100×100 cluttered: 8 glimpses of 12×12, 4 scales
    python -m train.ram --dataset cluttered60 --what-net conv     # conv glimpse network
    python -m train.ram --dataset cluttered60 --what-net conv --what-size 256 --glimpse-out 512 --hidden 512 \
        --loc-std 0.2 --epochs 140 --amp                            # REINFORCE alone: 2.82 % test error
    python -m train.ram --dataset cluttered60 --what-net conv --what-size 256 --glimpse-out 512 --hidden 512 \
        --ink-glimpses 0.2 --imitate --epochs 60 --amp --out runs/c60-ink    # taught at the densest ink, then
    python -m train.ram --dataset cluttered60 --what-net conv --what-size 256 --glimpse-out 512 --hidden 512 \
        --init-from runs/c60-ink/model.pt --reward correct --loc-std 0.05 --lr 1e-5 --epochs 15 --amp \
        --out runs/c60                                              # REINFORCE: ram-cluttered60, shipped
    python -m train.ram --dataset cluttered60 --oracle-glimpses 0.2 --out runs/c60-oracle  # glimpses at the digit
    python -m train.ram --random-glimpses --out runs/ram-random   # the random-glimpse control
    python -m train.ram --dataset cluttered100 --scales 3 --what-net conv --what-size 256 --glimpse-out 512 \
        --hidden 512 --init-from runs/c60/model.pt                  # 100², starting from the 60² model
    python -m train.ram --resume --out runs/ram-mnist     # continue an interrupted run
    torchrun --nproc_per_node 2 -m train.ram --device cpu # data-parallel

Writes to ``--out``: ``last.pt`` (every epoch, atomically; ``--resume`` continues from it),
``best.pt`` (lowest validation error), ``model.pt`` (best weights + test results, small),
``metrics.jsonl`` (one line per epoch) and ``results.json`` (test errors under every protocol).
Models are selected on a validation split held out of the 60,000 training digits; the test set
is read once, at the end (with --oracle-glimpses or --ink-glimpses, ``best.pt`` is chosen on the
validation error at the teacher's places). A resumed run may change --epochs and the σ schedule
(--loc-std-final, --anneal-from) and --eval-rollouts; its other options stay as they were.

``--dataset`` names a task of :data:`glimpse.data.TASKS` (``cluttered`` is ``cluttered60``); it
sets --glimpse-size, --scales and --glimpses to the paper's values for it, and --augment-shift to
0 on the translated and cluttered canvases, unless those flags are given. --augment-rotate and
--augment-scale (default 0: off) turn and resize each 28×28 training digit by a random amount
(:func:`glimpse.variants.jitter`) before it is placed; validation and test digits are never changed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from glimpse.data import DATASETS, DIGIT, TASKS, ImageSet, Variant, mnist_splits, task
from glimpse.errors import UsageError
from glimpse.evaluate import all_protocols, error_rate
from glimpse.losses import RAMLoss, imitation_loss, ram_loss
from glimpse.ram import RAM, RAMConfig
from glimpse.sensor import densest_window
from glimpse.soft import LossSteps
from glimpse.variants import digit_centres, jitter, random_offsets, shift
from train import loop
from train.common import RunArgs, arg, at_least_one, entry_point

INK_WINDOW = 16  # --ink-glimpses' window side in pixels (see glimpse.sensor.densest_window)


@dataclass
class TaskArgs(RunArgs):
    """The data options of every classifier trained on a task of :data:`glimpse.data.TASKS` (this
    script's RAM, and train.cnn's and train.soft's classifiers)."""

    epochs: int = arg(20, "training epochs")
    batch_size: int = arg(128, "images per optimisation step")
    dataset: Literal[DATASETS] = arg("mnist", "the task: MNIST 28×28, or its translated / cluttered variants")
    data_root: str | None = arg(None, "data root holding MNIST/raw (default: $GLIMPSE_DATA, then ./data)")
    augment_shift: int = arg(1, "random shift of training digits by up to this many pixels")
    augment_rotate: float = arg(0.0, "rotate each training digit by a random angle up to this many degrees")
    augment_scale: float = arg(0.0, "scale each training digit by a random factor in [1 - s, 1 + s]")
    val_size: int = arg(5000, "training digits held out for model selection")
    train_limit: int | None = arg(None, "train on only the first N training digits (quick checks)")
    eval_rollouts: int = arg(10, "M for the averaged protocol (a deterministic model reports its one rollout)")
    compile: bool = arg(False, "run the forward pass and loss as one torch.compile'd graph (1.15-1.8x faster here)")

    @staticmethod
    def implied_options(values: dict[str, Any]) -> dict[str, Any]:
        """No extra shift where the digit already lies at a random place of a larger canvas."""
        return dict(augment_shift=1 if task(values["dataset"]).kind == "mnist" else 0)

    def __post_init__(self) -> None:
        super().__post_init__()
        t = task(self.dataset)
        self.dataset = t.name  # an alias ('cluttered', in older runs too) by its name
        at_least_one("val_size", "train_limit", "eval_rollouts", obj=self)
        if self.augment_shift < 0:
            raise UsageError(f"--augment-shift must be >= 0, got {self.augment_shift}")
        if not 0 <= self.augment_rotate <= 180:
            raise UsageError(f"--augment-rotate must lie in [0, 180] degrees, got {self.augment_rotate}")
        if not 0 <= self.augment_scale < 1:
            raise UsageError(f"--augment-scale must lie in [0, 1), got {self.augment_scale}")


@dataclass
class Args(TaskArgs):
    model: RAMConfig = dataclasses.field(default_factory=RAMConfig)
    out: str = arg("runs/ram-mnist", "run folder for checkpoints and logs")
    epochs: int = arg(160, "training epochs")
    dataset: Literal[DATASETS] = arg(
        "mnist",
        "the task; unless given, it sets --glimpse-size, --scales, --glimpses (the paper's) and --augment-shift: "
        + "; ".join(f"{t.name}: {t.describe()}" for t in TASKS.values())
        + " ('cluttered' is 'cluttered60')",
    )
    loc_std_final: float | None = arg(0.01, "σ at the end of training, after a cosine fall (none: keep σ fixed)")
    anneal_from: float = arg(0.8, "fraction of training after which σ starts its cosine fall to --loc-std-final")
    reinforce_weight: float = arg(1.0, "weight λ of the REINFORCE term")
    reward: Literal["correct", "prob", "log_prob"] = arg(
        "log_prob", "REINFORCE reward: 0/1 correctness (the paper), p(y|x), or log p(y|x)"
    )
    loss: LossSteps = arg("last", "cross-entropy of the last glimpse's logits (the paper), or the mean over all")
    reward_steps: LossSteps = arg(
        "last", "reward the last glimpse's read-out (the paper), or every glimpse's: l_t earns the rewards of t..T"
    )
    select: Literal["stochastic", "mean"] = arg("stochastic", "validation protocol used to pick best.pt")
    oracle_glimpses: float | None = arg(
        None,
        "pretraining with privileged glimpses: the first at the image centre, the rest at the digit's centre plus "
        "N(0, S²) (S in location units); cross-entropy only (the location head learns nothing unless --imitate). "
        "Then train the RAM with --init-from this run's model.pt (none: off)",
    )
    ink_glimpses: float | None = arg(
        None,
        "pretraining like --oracle-glimpses but from the pixels alone: the rest at the centre of the image's "
        f"densest {INK_WINDOW}×{INK_WINDOW} window of ink plus N(0, S²) (none: off)",
    )
    imitate: bool = arg(
        False,
        "with --oracle-glimpses or --ink-glimpses, also fit the location head's means to those places "
        "(squared error, through the core and glimpse network too: they learn to say where the digit is)",
    )

    @staticmethod
    def implied_options(values: dict[str, Any]) -> dict[str, Any]:
        """Defaults that follow --dataset: the paper's retina and glimpse count for the task, and
        TaskArgs's --augment-shift."""
        t = task(values["dataset"])
        return dict(
            glimpse_size=t.glimpse_size, scales=t.scales, glimpses=t.glimpses, **TaskArgs.implied_options(values)
        )

    def __post_init__(self) -> None:
        super().__post_init__()
        task(self.dataset).check_retina(self.model.glimpse_size, "--glimpse-size")
        if self.model.learn_std:  # a learned σ replaces the schedule
            self.loc_std_final = None
        std = self.model.loc_std
        if self.loc_std_final is not None and not 0 < self.loc_std_final <= std:
            raise UsageError(
                f"--loc-std-final must lie in (0, --loc-std={std}] (or be 'none'), got {self.loc_std_final}"
            )
        if not 0 <= self.anneal_from < 1:
            raise UsageError(f"--anneal-from must lie in [0, 1), got {self.anneal_from}")
        teachers = {"--oracle-glimpses": self.oracle_glimpses, "--ink-glimpses": self.ink_glimpses}
        given = {flag: value for flag, value in teachers.items() if value is not None}
        for flag, value in given.items():
            if not 0 <= value < math.inf:
                raise UsageError(f"{flag} must be a finite σ >= 0, got {value}")
            if task(self.dataset).kind == "mnist":
                raise UsageError(f"{flag} needs a task whose digits move: translated, cluttered60, cluttered100")
            if self.model.random_glimpses:
                raise UsageError(f"{flag} and --random-glimpses both choose the locations: give one")
        if len(given) > 1:
            raise UsageError("--oracle-glimpses and --ink-glimpses both choose the locations: give one")
        if given and self.augment_shift:
            raise UsageError(f"{next(iter(given))} finds the digit before any shift: give --augment-shift 0")
        if self.imitate and not given:
            raise UsageError("--imitate fits the location head to a teacher: add --oracle-glimpses or --ink-glimpses")


ORACLE_SEED = 3  # the oracle's validation images (the val and test sets use seed + 1 and seed + 2)


def annealed_std(progress: float, start: float, final: float, anneal_from: float = 0.0) -> float:
    """σ at ``progress`` in [0, 1] of training: ``start`` until ``anneal_from``, then a cosine fall
    to ``final`` at the end (with ``anneal_from=0`` it follows the cosine learning-rate factor)."""
    t = min(max((progress - anneal_from) / (1.0 - anneal_from), 0.0), 1.0)
    return final + (start - final) * 0.5 * (1.0 + math.cos(math.pi * t))


def oracle_locations(centres: Tensor, glimpses: int, std: float, generator: torch.Generator) -> Tensor:
    """A teacher's path (``--oracle-glimpses``, ``--ink-glimpses``): the image centre, then
    ``centres`` (the digit's, or the densest ink's) plus N(0, std²) noise.
    centres: (B, 2) -> (glimpses, B, 2)"""
    noise = torch.randn((glimpses - 1, *centres.shape), generator=generator).to(centres.device)
    return torch.cat([torch.zeros_like(centres)[None], centres + std * noise]).clamp(-1.0, 1.0)


def place_for_oracle(
    variant: Variant, digits: Tensor, size: int, glimpses: int, std: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Place ``digits`` (B, C, 28, 28) at offsets drawn here, so the oracle knows them ->
    (images (B, C, size, size), locations (glimpses, B, 2) from :func:`oracle_locations`)."""
    offsets = random_offsets(len(digits), 0, size - DIGIT, generator)
    centres = digit_centres(offsets, DIGIT, size).to(digits.device)
    return variant(digits, generator, offsets), oracle_locations(centres, glimpses, std, generator)


def place_for_ink(
    variant: Variant, digits: Tensor, glimpses: int, std: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Place ``digits`` (B, C, 28, 28) as the task does and look where the pixels alone point ->
    (images (B, C, size, size), locations (glimpses, B, 2) around each image's densest ink)."""
    images = variant(digits, generator)
    return images, oracle_locations(densest_window(images, INK_WINDOW), glimpses, std, generator)


def loss_function(a: Args) -> Callable[..., RAMLoss]:
    """(model, images, labels[, locations]) -> the hybrid loss of one sampled rollout (or of a
    rollout at the given locations); compiled with ``--compile``."""

    def loss(model: RAM, x: Tensor, y: Tensor, locations: Tensor | None = None) -> RAMLoss:
        rollout = model.rollout(x, "sample", locations=locations)
        losses = ram_loss(rollout, y, a.reinforce_weight, a.reward, a.loss, a.reward_steps)
        if a.imitate and locations is not None:  # the teacher's places replace REINFORCE's (zero) term
            states = torch.cat([torch.zeros_like(rollout.hidden[:1]), rollout.hidden[:-1]])  # h_0..h_{T-1}, live
            imitation = imitation_loss(model.policy(states), locations)
            losses = losses._replace(total=losses.total + imitation, policy=imitation)
        return losses

    return torch.compile(loss, dynamic=False) if a.compile else loss


class RAMRecipe(loop.Recipe):
    kind, script = "ram", "train.ram"
    stats = ("loss", "classification", "policy", "baseline", "accuracy")
    select = "val_error"
    resumable = frozenset({"epochs", "loc_std_final", "anneal_from", "eval_rollouts"})

    @property
    def teacher_kind(self) -> Literal["oracle", "ink"] | None:
        """Who places the glimpses: ``--oracle-glimpses``, ``--ink-glimpses``, or None (the policy)."""
        a = self.args
        return "oracle" if a.oracle_glimpses is not None else "ink" if a.ink_glimpses is not None else None

    @property
    def teacher(self) -> float | None:
        """σ of the teacher's places, None when the policy places the glimpses."""
        a = self.args
        return a.oracle_glimpses if a.oracle_glimpses is not None else a.ink_glimpses

    def load_data(self) -> None:
        a = self.args
        self.splits = mnist_splits(a.data_root, a.dataset, a.val_size, a.seed)
        train = self.splits.train
        if a.train_limit is not None:
            if a.train_limit > len(train):
                raise UsageError(f"--train-limit {a.train_limit} is more than the {len(train)} training digits")
            train = ImageSet(train.images[: a.train_limit], train.labels[: a.train_limit])
        if len(train) < a.batch_size:
            raise UsageError(f"{len(train)} training digits are fewer than one batch (--batch-size {a.batch_size})")
        self.train = train.to(self.device)
        self.loss = loss_function(a)
        g = torch.Generator().manual_seed(a.seed + ORACLE_SEED)  # the teacher's validation noise
        if self.teacher_kind == "oracle":  # validated at the oracle's places: val digits, fixed offsets
            digits, t = self.splits.val_digits, task(a.dataset)
            x = digits.float_images(slice(None))
            images, locations = place_for_oracle(t.variant(digits), x, t.size, a.model.glimpses, self.teacher, g)
            self.teacher_val = ImageSet(images.mul(255).round().to(torch.uint8), digits.labels), locations
        elif self.teacher_kind == "ink":  # validated on the validation images, at their densest ink
            val = self.splits.val
            centres = densest_window(val.float_images(slice(None)), INK_WINDOW)
            self.teacher_val = val, oracle_locations(centres, a.model.glimpses, self.teacher, g)

    def build_model(self) -> RAM:
        h, w = self.splits.val.images.shape[-2:]
        return RAM(dataclasses.replace(self.args.model, height=h, width=w))

    def steps_per_epoch(self) -> int:
        return len(self.train) // self.args.batch_size

    def batches(self, gen: torch.Generator) -> Iterator[tuple[Tensor, ...]]:
        a, variant, size = self.args, self.splits.variant, task(self.args.dataset).size
        for x, y in self.train.batches(a.batch_size, shuffle=True, generator=gen, device=self.device, drop_last=True):
            x = jitter(x, a.augment_rotate, a.augment_scale, gen)
            if self.teacher_kind == "oracle":
                images, locations = place_for_oracle(variant, x, size, a.model.glimpses, self.teacher, gen)
                yield images, y, locations
            elif self.teacher_kind == "ink":
                images, locations = place_for_ink(variant, x, a.model.glimpses, self.teacher, gen)
                yield images, y, locations
            else:
                yield shift(x if variant is None else variant(x, gen), a.augment_shift, gen), y

    def objective(self, model: RAM, x: Tensor, y: Tensor, locations: Tensor | None = None) -> RAMLoss:
        return self.loss(model, x, y, locations)

    def train_batch(self, forward, update, x: Tensor, y: Tensor, *locations: Tensor) -> Tensor:
        losses = forward(x, y, *locations)
        update(losses.total)
        return torch.stack([losses.total, losses.classification, losses.policy, losses.baseline, losses.correct.mean()])

    def unused_parameters(self) -> bool:  # the control's and a teacher's location policy learn nothing
        return self.args.model.random_glimpses or (self.teacher is not None and not self.args.imitate)

    def after_init_from(self, model: RAM) -> None:
        if not self.args.model.learn_std:  # σ is this run's --loc-std, not where the source's schedule ended
            model.policy.set_std(self.args.model.loc_std)

    def after_batch(self, model: RAM, progress: float) -> None:
        a = self.args
        if a.loc_std_final is not None:
            model.policy.set_std(annealed_std(progress, a.model.loc_std, a.loc_std_final, a.anneal_from))

    def validate(self, model: RAM) -> dict[str, float]:
        if self.teacher is not None:
            return {"val_error": self.teacher_error(model)}
        return {
            "val_error": error_rate(model, self.splits.val, self.args.select, device=self.device, seed=self.args.seed)
        }

    def record(self, model: RAM) -> dict[str, Any]:
        return {"select": self.args.select, "std": model.policy.std.item()}

    def describe(self, model: RAM) -> str:
        s = self.splits
        return (
            f"{self.args.dataset}: {len(self.train)} train / {len(s.val)} val / {len(s.test)} test; "
            + super().describe(model)
        )

    @torch.no_grad()
    def teacher_error(self, model: RAM) -> float:
        """Validation error with every glimpse where ``--oracle-glimpses`` or ``--ink-glimpses`` puts it."""
        data, locations = self.teacher_val
        wrong = 0
        for i in range(0, len(data), 1000):
            chunk = slice(i, i + 1000)
            x, where = data.float_images(chunk, self.device), locations[:, chunk].to(self.device)
            rollout = model.rollout(x, locations=where)
            wrong += (rollout.logits[-1].argmax(-1).cpu() != data.labels[chunk]).sum().item()
        return wrong / len(data)

    def test(self, model: RAM) -> dict[str, Any]:
        a, s = self.args, self.splits
        results = {
            "dataset": a.dataset,
            "val": all_protocols(model, s.val, a.eval_rollouts, self.device, a.seed),
            "test": all_protocols(model, s.test, a.eval_rollouts, self.device, a.seed),
        }
        if self.teacher is not None:  # its own policy learned no REINFORCE: these are for reference
            results["val"][self.teacher_kind] = self.teacher_error(model)
        return results

    def checkpoint_entries(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"test_error": results["test"]}


def main(argv: list[str] | None = None) -> dict | None:
    return loop.main(RAMRecipe, Args, argv, __doc__)


if __name__ == "__main__":
    entry_point("train.ram", main)
