"""The one training loop behind every ``python -m train.<model>``.

A training script writes a :class:`Recipe` (its model, data and loss) and calls :func:`main`; the
loop does the rest, the same way for every model:

- options: a typed ``Args`` dataclass holding the model's config (``model: RAMConfig``), see
  :mod:`train.common`; ``--device``, ``--seed``, ``--threads``, ``--resume`` and friends;
- the optimiser (Adam), the learning-rate schedule per batch, optional gradient clipping;
- epochs with a progress bar, a metrics line per epoch (``metrics.jsonl``), a validation pass
  after each epoch that picks ``best.pt``, ``last.pt`` written atomically every epoch;
- ``--resume``: model, optimiser, schedule, epoch and every random stream come back, so an
  interrupted run ends with exactly the weights of an uninterrupted one (see :mod:`train.resume`);
- ``--init-from MODEL``: a new run starts from a trained model's weights (same architecture, a
  fresh optimiser and schedule), a curriculum such as cluttered 60² before 100²;
- a loss that turns non-finite stops the run with the epoch and step, keeping the last good
  checkpoint; Ctrl-C says what is saved and how to continue;
- at the end the test set is read once, by the best model: ``results.json`` and ``model.pt``;
- ``torchrun --nproc_per_node N -m train.<model>``: data-parallel (:mod:`train.distributed`).

Writing a recipe::

    class MyRecipe(Recipe):
        kind, script = "ram", "train.ram"         # checkpoint kind, module name
        stats = ("loss", "accuracy")              # what train_batch returns, in order
        select = "val_error"                      # key of validate() that picks best.pt
        def load_data(self): ...                  # once, before the model
        def build_model(self): ...                # a new model from self.args.model
        def steps_per_epoch(self): ...
        def batches(self, gen): ...               # global batches (tuples of tensors), augmented
        def objective(self, model, *shard): ...   # the differentiable part: loss (and more)
        def train_batch(self, forward, update, shard): ...  # forward(*inputs) runs objective;
                                                  # update(loss) steps; returns the stats tensor
        def validate(self, model): ...            # {"val_error": ...}
        def test(self, model): ...                # results, read once at the end
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from glimpse.checkpoint import CheckpointError, build_model, load_checkpoint, load_model, save_checkpoint
from glimpse.errors import UsageError
from glimpse.files import atomic_path, remove_stale_temporaries
from train import distributed
from train.common import (
    MetricsLog,
    RunArgs,
    config_dict,
    make_schedule,
    parse_command_line,
    pick_device,
    rng_state,
    seed_everything,
    set_rng_state,
    user_errors,
)
from train.resume import resume_or_start


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""


class Recipe:
    """What one model's training script gives the loop: its model, data and loss (override the
    methods; see the module docstring)."""

    kind: str = ""
    script: str = ""
    stats: tuple[str, ...] = ("loss",)
    select: str = "val_loss"
    resumable: frozenset[str] = frozenset({"epochs"})  # options a resumed run may change
    fused_adam: bool = True  # PyTorch's fused Adam kernel on CPU and CUDA (rounds differently from the loop)

    def __init__(self, args: Any, device: torch.device, dist: distributed.Dist) -> None:
        self.args, self.device, self.dist = args, device, dist

    def load_data(self) -> None: ...

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def batches(self, gen: torch.Generator) -> Iterator[tuple[Tensor, ...]]:
        raise NotImplementedError

    def objective(self, model: nn.Module, *inputs: Any) -> Any:
        raise NotImplementedError

    def train_batch(self, forward: Callable[..., Any], update: Callable[[Tensor], None], *shard: Tensor) -> Tensor:
        raise NotImplementedError

    def unused_parameters(self) -> bool:
        """Whether some parameters get no gradient in a training step (DDP then looks for them)."""
        return False

    def after_batch(self, model: nn.Module, progress: float) -> None:
        """Called after each batch's updates with the fraction of training done (schedules)."""

    def after_init_from(self, model: nn.Module) -> None:
        """Called after ``--init-from`` loaded trained weights: restore what this run's options set
        rather than the source model (train.ram: the location σ)."""

    def validate(self, model: nn.Module) -> dict[str, float]:
        raise NotImplementedError

    def test(self, model: nn.Module) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self, model: nn.Module) -> str:
        return f"{sum(p.numel() for p in model.parameters()):,} parameters"

    def record(self, model: nn.Module) -> dict[str, Any]:
        """Extra entries for each epoch's metrics line."""
        return {}

    def checkpoint_entries(self, results: dict[str, Any]) -> dict[str, Any]:
        """What ``model.pt`` keeps of the results (``glimpse export`` keeps them too)."""
        return {}


class Objective(nn.Module):
    """The model and the recipe's differentiable part as one module, so that DDP sees a forward.
    With ``amp`` it runs under bfloat16 autocast (matrix products and convolutions in bfloat16;
    parameters, gradients and the optimiser stay float32)."""

    def __init__(self, model: nn.Module, fn: Callable[..., Any], amp: bool = False, device_type: str = "cpu") -> None:
        super().__init__()
        self.model, self.fn, self.amp, self.device_type = model, fn, amp, device_type

    def forward(self, *inputs: Any) -> Any:
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.amp):
            return self.fn(self.model, *inputs)


class Trainer:
    """Optimiser, schedule, logs and checkpoints of one run, around a recipe."""

    def __init__(self, recipe: Recipe, model: nn.Module, ckpt: dict[str, Any] | None, gen: torch.Generator):
        a, self.recipe, self.model, self.gen = recipe.args, recipe, model, gen
        self.out, self.main = Path(a.out), recipe.dist.main
        self.total = a.epochs * recipe.steps_per_epoch()
        fused = recipe.fused_adam and recipe.device.type in ("cpu", "cuda")
        self.opt = torch.optim.Adam(model.parameters(), lr=a.lr, fused=fused)
        self.sched = make_schedule(self.opt, a.schedule, self.total)
        self.start, self.best, self.wall = 0, float("inf"), 0.0
        if ckpt is not None:
            self.opt.load_state_dict(ckpt["optimizer"])
            self.sched.load_state_dict(ckpt["scheduler"])
            set_rng_state(_rng_of_this_process(ckpt, recipe.dist, a.seed), gen)
            self.start, self.best, self.wall = ckpt["epoch"] + 1, ckpt["best_val"], ckpt["wall"]
        objective = Objective(model, recipe.objective, a.amp, recipe.device.type)
        self.forward = distributed.wrap(objective, recipe.dist, recipe.device, recipe.unused_parameters())
        self.log = MetricsLog(self.out / "metrics.jsonl")
        self.updates = 0
        self.first_bad = torch.full((), -1, dtype=torch.long, device=recipe.device)

    def update(self, loss: Tensor) -> None:
        """One optimiser step on ``loss``; a non-finite loss is remembered without a device sync."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.recipe.args.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.args.clip)
        self.opt.step()
        bad = ~torch.isfinite(loss.detach()) & (self.first_bad < 0)
        self.first_bad = torch.where(bad, torch.full_like(self.first_bad, self.updates), self.first_bad)
        self.updates += 1

    def check_finite(self, epoch: int) -> None:
        """Stop (before anything is saved) if any update so far had a non-finite loss."""
        bad = int(self.first_bad)
        if bad >= 0:
            kept = f"{self.out / 'last.pt'} (epoch {epoch})" if epoch else "no checkpoint (no epoch finished)"
            raise Diverged(
                f"the loss became non-finite at epoch {epoch + 1}, optimiser step {bad + 1}; training stopped and "
                f"the last good state is {kept}. Try a smaller --lr or --clip."
            )

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training batches: the recipe's mean statistics."""
        r, d = self.recipe, self.recipe.dist
        self.model.train()
        steps = r.steps_per_epoch()
        show = r.args.progress and d.main
        bar = tqdm(
            total=steps, desc=f"epoch {epoch + 1}/{r.args.epochs}", leave=False, file=sys.stdout, disable=not show
        )
        sums, n = None, 0
        try:
            for batch in r.batches(self.gen):
                shard = tuple(distributed.shard(t, d) for t in batch)
                stats = r.train_batch(self.forward, self.update, *shard).detach()
                self.sched.step()
                r.after_batch(self.model, self.sched.last_epoch / max(self.total, 1))
                sums, n = (stats if sums is None else sums + stats), n + 1  # no device sync per step
                bar.update(1)
                if n % 50 == 0:
                    self.check_finite(epoch)
                    bar.set_postfix(dict(zip(r.stats, (f"{v:.4g}" for v in (sums / n).tolist()), strict=True)))
        finally:
            bar.close()
        self.check_finite(epoch)
        means = distributed.mean(sums / n, d).tolist() if n else [float("nan")] * len(r.stats)
        return dict(zip(r.stats, means, strict=True))

    def end_epoch(
        self, epoch: int, stats: dict[str, float], seconds: float, t0: float, others: list[Any] | None = None
    ) -> None:
        """Validate, log, and save best.pt and last.pt (rank 0 only; ``others``: the random states
        of every process after the epoch, by rank, under torchrun)."""
        r, a = self.recipe, self.recipe.args
        val = r.validate(self.model)
        self.wall += time.perf_counter() - t0
        improved = val[r.select] < self.best
        self.best = min(self.best, val[r.select])
        rate = r.steps_per_epoch() * a.batch_size / seconds
        record = dict(epoch=epoch + 1, **stats, **val, lr=self.sched.get_last_lr()[0], **r.record(self.model))
        self.log.write(**record, epoch_s=seconds, images_per_s=rate, wall_s=self.wall)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in {**stats, **val}.items())
        print(
            f"epoch {epoch + 1}: {shown}{' *' if improved else ''}  {rate:,.1f} img/s  wall {self.wall / 60:.1f} min",
            flush=True,
        )
        if improved:
            save_checkpoint(self.out / "best.pt", r.kind, self.model, epoch=epoch, **{r.select: val[r.select]})
        state = dict(optimizer=self.opt.state_dict(), scheduler=self.sched.state_dict(), epoch=epoch)
        state.update(best_val=self.best, wall=self.wall, rng=rng_state(self.gen), args=config_dict(a))
        if others is not None and len(others) > 1:  # rank 0's own state is taken after validating
            state["rng_ranks"] = [state["rng"], *others[1:]]
        save_checkpoint(self.out / "last.pt", r.kind, self.model, **state)

    def finish(self) -> dict[str, Any]:
        """The best model reads the test set once: ``results.json`` and ``model.pt``."""
        r, a = self.recipe, self.recipe.args
        best_ckpt = load_checkpoint(self.out / "best.pt", r.device)
        best = build_model(best_ckpt).to(r.device).eval()
        results = dict(best_epoch=best_ckpt["epoch"] + 1, epochs=a.epochs, train_wall_min=round(self.wall / 60, 2))
        results.update(r.test(best))
        results["args"] = config_dict(a)
        with atomic_path(self.out / "results.json") as tmp:
            tmp.write_text(json.dumps(results, indent=2))
        save_checkpoint(
            self.out / "model.pt", r.kind, best, best_epoch=results["best_epoch"], **r.checkpoint_entries(results)
        )
        return results


def main(recipe_cls: type[Recipe], args_cls: type[RunArgs], argv: list[str] | None, doc: str | None) -> dict | None:
    """Parse options, then train, validate and test a recipe's model; returns the results (rank 0)."""
    with user_errors(recipe_cls.script):
        a, given = parse_command_line(args_cls, argv, doc, f"python -m {recipe_cls.script}")
        d = distributed.start(a.device)
        a, ckpt = resume_or_start(a, given, recipe_cls.resumable)
        if a.threads:
            torch.set_num_threads(a.threads)
        # Trained weights and Adam's moments drift into denormal floats, which slow CPU arithmetic
        # (bench: 7,200-7,600 -> 10,100 images/s on a trained RAM model); flushing them is harmless.
        torch.set_flush_denormal(True)
        device = distributed.local_device(pick_device(a.device), d)
        seed_everything(a.seed + d.rank)  # sampling noise differs between processes; weights come from rank 0
        recipe = recipe_cls(a, device, d)
        recipe.load_data()
        model = recipe.build_model() if ckpt is None else build_model(ckpt)
        if ckpt is None and a.init_from is not None:
            init_weights(model, a.init_from, recipe.kind)
            recipe.after_init_from(model)
        model = model.to(device)
    trainer = Trainer(recipe, model, ckpt, torch.Generator().manual_seed(a.seed))
    try:
        return _run(trainer)
    finally:
        distributed.stop(d)


def init_weights(model: nn.Module, path: str, kind: str) -> None:
    """Load a trained model's weights into a new run's model (``--init-from``): same kind, same
    parameter shapes; the image size may differ where the architecture does not depend on it."""
    try:
        source = load_model(path, kind)
    except (CheckpointError, OSError) as err:
        raise UsageError(f"--init-from {path}: {err}") from None
    mine, theirs = model.state_dict(), source.state_dict()
    problems = [
        f"{k} {tuple(mine[k].shape)} here, {tuple(v.shape)} there"
        for k, v in theirs.items()
        if k in mine and mine[k].shape != v.shape
    ]
    problems += [f"{k} missing there" for k in sorted(set(mine) - set(theirs))]
    problems += [f"{k} not here" for k in sorted(set(theirs) - set(mine))]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        said = "; ".join(problems[:3]) + more
        raise UsageError(
            f"--init-from {path}: its model does not fit this run's ({said}); give the same architecture options"
        )
    model.load_state_dict(theirs)


def _rng_of_this_process(ckpt: dict[str, Any], d: distributed.Dist, seed: int) -> dict[str, Any]:
    """The random state this process resumes with: its own from ``last.pt`` when the run had as many
    processes (and was saved since every process's state is: 2026-12-01); otherwise rank 0's batch
    order and, for every other process, fresh streams of noise (CPU and GPU) that depend on its rank
    and the epoch, so that processes never draw the same noise. Only the first case is exact."""
    ranks = ckpt.get("rng_ranks")
    if ranks is not None and len(ranks) == d.world:
        return ranks[d.rank]
    if d.rank == 0:
        return ckpt["rng"]
    key = seed + d.rank + 7919 * (ckpt["epoch"] + 1)
    state = {"torch": torch.Generator().manual_seed(key).get_state(), "generators": ckpt["rng"]["generators"]}
    if torch.cuda.is_available():
        gpus = range(torch.cuda.device_count())
        state["cuda"] = [torch.Generator(f"cuda:{i}").manual_seed(key).get_state() for i in gpus]
    return state


def _launcher(d: distributed.Dist) -> str:
    return f"torchrun --nproc_per_node {d.world}" if d.active else "python"


def _run(t: Trainer) -> dict | None:
    r, a = t.recipe, t.recipe.args
    if r.dist.main:
        remove_stale_temporaries(t.out)
        t.log.keep_epochs(t.start)
        state = f"resuming at epoch {t.start + 1}/{a.epochs} (best {r.select} {t.best:.5g})" if t.start else "new run"
        print(f"{r.script} -> {t.out}: {state}; {r.describe(t.model)}; device {r.device}", flush=True)
    for epoch in range(t.start, a.epochs):
        t0 = time.perf_counter()
        try:
            stats = t.train_epoch(epoch)
            # each process's random state (its own REINFORCE noise), for last.pt; rank 0 sends none
            others = distributed.gather(None if r.dist.main else rng_state(t.gen), r.dist)
            if r.dist.main:
                t.end_epoch(epoch, stats, time.perf_counter() - t0, t0, others)
        except KeyboardInterrupt:
            saved = load_checkpoint(t.out / "last.pt")["epoch"] + 1 if (t.out / "last.pt").exists() else 0
            done = f"epoch {saved} is saved in {t.out / 'last.pt'}" if saved else "no epoch finished yet"
            raise SystemExit(
                f"interrupted during epoch {epoch + 1}; {done}. "
                f"Continue with: {_launcher(r.dist)} -m {r.script} --resume --out {a.out}"
            ) from None
        except Diverged as err:
            raise SystemExit(f"{r.script}: error: {err}") from None
    distributed.barrier(r.dist)
    if not r.dist.main:
        return None
    results = t.finish()
    print("results: " + json.dumps({k: v for k, v in results.items() if k != "args"}))
    return results
