"""Environment steps per second: the batched tensor environments against Gymnasium's
``SyncVectorEnv`` of the single environment, at the same number of environments.

    python -m bench.env_speed --data-root ../shared/data --out bench/results/env_speed.json
    python -m bench.env_speed --compile --only Paint --out bench/results/env_speed_paint_compiled.json

``--compile`` makes both sides of the painting ids paint with ``compile=True`` (on the CPU the C
kernel of :mod:`envs.paint_kernel`, on a GPU torch.compile); without it, ``compile=False`` (eager);
``--threads`` sets torch's threads for both sides; ``--only`` keeps the ids that contain a string.
``--device cuda`` steps the batched environments on a GPU (the ``SyncVectorEnv`` of single ones
stays on the CPU, where single environments belong); ``--torch-obs`` keeps their outputs as tensors
on the device and hands them the actions as device tensors, as a GPU agent would; ``--no-sync``
times the batched side alone (for large ``--num-envs``).

Both sides get the same pre-drawn random actions (uniform over the action space) and run on one
thread; each figure is the best of ``--repeats`` timed runs of ``--steps`` steps after a warm-up
(autoresets included), in environment steps per second (N × steps / seconds). Glimpse ids use real
MNIST when the data root holds it (else random digits); painting uses random pictures (the cost
does not depend on what is painted).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import gymnasium
import torch

import envs  # noqa: F401  (registers the ids)
from glimpse.data import ImageSet


def wait(device: torch.device) -> None:
    """Wait for the device's queued work, so that the clock measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps_per_second(venv: gymnasium.vector.VectorEnv, actions: list, repeats: int, device: torch.device) -> float:
    venv.reset(seed=0)
    for a in actions[:3]:  # warm-up
        venv.step(a)
    best = float("inf")
    for _ in range(repeats):
        wait(device)
        t = time.perf_counter()
        for a in actions:
            venv.step(a)
        wait(device)
        best = min(best, time.perf_counter() - t)
    return venv.num_envs * len(actions) / best


def measure(env_id: str, n: int, steps: int, repeats: int, device: str, torch_obs: bool, sync: bool, **kwargs) -> dict:
    dev = torch.device(device)
    batched = gymnasium.make_vec(
        env_id, num_envs=n, vectorization_mode="vector_entry_point", device=dev, torch_obs=torch_obs, **kwargs
    )
    batched.action_space.seed(0)
    actions = [batched.action_space.sample() for _ in range(steps)]
    given = [torch.as_tensor(a, device=dev) for a in actions] if torch_obs else actions
    row = {"num_envs": n, "steps": steps, "batched_steps_per_s": steps_per_second(batched, given, repeats, dev)}
    batched.close()
    if sync:
        single = gymnasium.make_vec(env_id, num_envs=n, vectorization_mode="sync", **kwargs)
        row["sync_steps_per_s"] = steps_per_second(single, actions, repeats, torch.device("cpu"))
        row["ratio"] = row["batched_steps_per_s"] / row["sync_steps_per_s"]
        single.close()
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=os.environ.get("GLIMPSE_DATA"))
    p.add_argument("--num-envs", type=int, default=256)
    p.add_argument("--steps", type=int, default=24, help="timed steps per run (glimpse; painting: a third)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="bench/results/env_speed.json")
    p.add_argument("--compile", action="store_true", help="painting ids: compile=True on both sides (else False)")
    p.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    p.add_argument("--only", default="", help="measure only the ids containing this string")
    p.add_argument("--device", default="cpu", help="the batched environments' device (cpu, cuda)")
    p.add_argument("--torch-obs", action="store_true", help="batched outputs and actions as tensors on the device")
    p.add_argument("--no-sync", action="store_true", help="time the batched environments alone")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    root = args.data_root
    have_mnist = root is not None and (Path(root) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()
    digits = {"data_root": root} if have_mnist else {
        "images": ImageSet((torch.rand(1000, 1, 28, 28) * 255).to(torch.uint8), torch.randint(0, 10, (1000,)))
    }  # fmt: skip
    pictures = torch.rand(64, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "batched_device": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else args.device,
        "torch_obs": args.torch_obs,
        "torch": torch.__version__,
        "torch_threads": args.threads,
        "painting_compiled": args.compile,
        "load_average": os.getloadavg(),
        "mnist": "real" if have_mnist else "random digits",
        "actions": "uniform over the action space, the same for both sides",
        "ids": {},
    }
    n, s, r = args.num_envs, args.steps, args.repeats
    paint = {"compile": args.compile}  # stated either way: the envs' default (None) depends on the machine
    for env_id, kwargs, steps in (
        ("glimpse/MNIST-v0", digits, s),
        ("glimpse/TranslatedMNIST-v0", digits, s),
        ("glimpse/ClutteredMNIST60-v0", digits, s),
        ("glimpse/ClutteredMNIST100-v0", digits, s),
        ("glimpse/PaintFaces-v0", {"pictures": pictures, **paint}, max(2, s // 3)),
        ("glimpse/PaintMNIST-v0", {"pictures": pictures[:, :1], **paint}, max(2, s // 3)),
    ):
        if args.only not in env_id:
            continue
        row = measure(env_id, n, steps, r, args.device, args.torch_obs, not args.no_sync, **kwargs)
        results["ids"][env_id] = row
        print(env_id, json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
