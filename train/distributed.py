"""Data-parallel training under ``torchrun``: one process per device, each on its shard of every batch.

    torchrun --nproc_per_node 2 -m train.ram --device cpu     # gloo on the CPU
    torchrun --nproc_per_node 8 -m train.ram --device cuda    # NCCL, one GPU per process

Every process draws the same global batch (the batch generator has the same seed everywhere), takes
its contiguous shard, and PyTorch's ``DistributedDataParallel`` averages the gradients, so the
update is the single-process update of the whole batch for any loss that is a mean over the batch.
Rank 0 alone writes checkpoints, logs and results; ``last.pt`` keeps every process's random state,
so that ``--resume`` under torchrun (with as many processes, from a ``last.pt`` written since
2026-12-01) continues exactly. Without ``torchrun`` (no ``WORLD_SIZE``) nothing here does anything,
and a run is exactly a single-process run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from glimpse.errors import UsageError


@dataclass(frozen=True)
class Dist:
    """Where this process stands: its rank among ``world`` processes and its local rank."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes files and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def start(device: str) -> Dist:
    """Join the process group ``torchrun`` set up (gloo for the CPU, NCCL for CUDA), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(d.local_rank)
    if device == "mps":
        raise UsageError("--device mps: torchrun's data-parallel training runs on cpu or cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return d


def local_device(device: torch.device, d: Dist) -> torch.device:
    """One GPU per process: ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun."""
    if d.active and device.type == "cuda":
        return torch.device("cuda", d.local_rank)
    return device


def shard(x: Tensor, d: Dist) -> Tensor:
    """This process's contiguous share of a global batch (the first axis)."""
    if not d.active:
        return x
    if x.shape[0] % d.world:
        raise UsageError(f"--batch-size must be divisible by the {d.world} processes, got a batch of {x.shape[0]}")
    return x.chunk(d.world)[d.rank]


def mean(x: Tensor, d: Dist) -> Tensor:
    """The mean of ``x`` over all processes (``x`` itself in a single process)."""
    if not d.active:
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x / d.world


def wrap(module: nn.Module, d: Dist, device: torch.device, unused: bool = False) -> nn.Module:
    """``module`` under DistributedDataParallel when several processes train (its parameters are
    broadcast from rank 0 first, so every process starts from the same weights). ``unused``: some
    parameters get no gradient in a step (DDP must then look for them, at some cost)."""
    if not d.active:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=unused)


def gather(obj: object, d: Dist) -> list[object]:
    """Every process's ``obj``, by rank (``[obj]`` in a single process); all processes must call it."""
    if not d.active:
        return [obj]
    out: list[object] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def barrier(d: Dist) -> None:
    if d.active:
        dist.barrier()


def stop(d: Dist) -> None:
    if d.active and dist.is_initialized():
        dist.destroy_process_group()
