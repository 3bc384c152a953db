"""RL baseline: Stable-Baselines3 PPO on ``glimpse/MNIST-v0`` within a CPU-time budget.

    nice -n 19 python -m bench.ppo_mnist --data-root ../shared/data --cpu-minutes 30 \
        --deadline 06:12 --out bench/results/ppo-mnist     # the committed run; --deadline is optional

PPO (``MultiInputPolicy``, one thread) trains on the 55,000 training digits through 8 single
environments (SB3's ``DummyVecEnv``) until the process has used ``--cpu-minutes`` of CPU time or
the wall clock reaches ``--deadline`` (UTC, when given), whichever comes first. Every chunk it logs the CPU time
(``time.process_time``), the timesteps and the accuracy of the deterministic policy on the first
1,000 test digits; at the end it measures the final policy on all 10,000 test digits, with its own
locations and with uniformly random locations (its class head kept), through the batched
environment. Writes ``metrics.jsonl``, ``results.json`` and ``curve.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import torch

import envs  # noqa: F401  (registers the ids)
from envs.vector import GlimpseVectorEnv


def evaluate(model, data_root: str, reward: str, limit: int | None, random_locations: bool, seed: int = 0) -> float:
    """Accuracy of the deterministic policy on the test split (the first ``limit`` digits)."""
    n_total = 10_000 if limit is None else limit
    batch = min(1000, n_total)
    venv = GlimpseVectorEnv(num_envs=batch, dataset="mnist", split="test", data_root=data_root, reward=reward)
    rng = np.random.default_rng(seed)
    correct = 0
    for lo in range(0, n_total, batch):
        obs, _ = venv.reset(seed=seed, options={"index": np.arange(lo, lo + batch)})
        done = np.zeros(batch, bool)
        while not done.all():
            action, _ = model.predict(obs, deterministic=True)
            if random_locations:
                action[:, :2] = rng.uniform(-1, 1, (batch, 2))
            obs, _, term, _, info = venv.step(action)
            if term.any():
                correct += int(info["correct"][term].sum())
            done |= term
    return correct / n_total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default="bench/results/ppo-mnist")
    p.add_argument("--cpu-minutes", type=float, default=30.0)
    p.add_argument("--deadline", default=None, help="UTC HH:MM at which training stops (default: none)")
    p.add_argument("--reward", default="correct", choices=["correct", "log_prob"])
    p.add_argument("--chunk", type=int, default=8192, help="timesteps between evaluations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=10, help="PPO epochs per rollout")
    p.add_argument("--log-std-init", type=float, default=-1.0, help="initial log σ of the Gaussian actions")
    args = p.parse_args()

    torch.set_num_threads(1)
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    now, deadline = dt.datetime.now(dt.timezone.utc), None
    if args.deadline is not None:
        hh, mm = map(int, args.deadline.split(":"))
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if deadline <= now:
            deadline += dt.timedelta(days=1)
    kwargs = {"data_root": args.data_root, "reward": args.reward}
    vec = make_vec_env("glimpse/MNIST-v0", n_envs=8, seed=args.seed, env_kwargs=kwargs)
    policy_kwargs = {"net_arch": {"pi": [128, 128], "vf": [128, 128]}, "log_std_init": args.log_std_init}
    model = PPO(
        "MultiInputPolicy", vec, n_steps=128, batch_size=256, n_epochs=args.epochs, learning_rate=3e-4,
        gamma=0.99, policy_kwargs=policy_kwargs, seed=args.seed, verbose=0,
    )  # fmt: skip
    cpu0, wall0 = time.process_time(), time.time()
    budget = args.cpu_minutes * 60
    log = (out / "metrics.jsonl").open("w")
    stop = "budget"
    while True:
        model.learn(total_timesteps=args.chunk, reset_num_timesteps=False)
        rewards = [e["r"] for e in model.ep_info_buffer]
        acc = evaluate(model, args.data_root, args.reward, 1000, False)
        row = {
            "timesteps": int(model.num_timesteps),
            "cpu_min": (time.process_time() - cpu0) / 60,
            "wall_min": (time.time() - wall0) / 60,
            "episode_return": float(np.mean(rewards)) if rewards else None,
            "test1000_accuracy": acc,
            "utc": dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S"),
        }
        log.write(json.dumps(row) + "\n")
        log.flush()
        print(json.dumps(row), flush=True)
        if time.process_time() - cpu0 >= budget:
            break
        if deadline is not None and dt.datetime.now(dt.timezone.utc) >= deadline:
            stop = "deadline"
            break
    train_cpu = (time.process_time() - cpu0) / 60
    model.save(out / "model.zip")
    final = evaluate(model, args.data_root, args.reward, None, False)
    random_loc = evaluate(model, args.data_root, args.reward, None, True)
    results = {
        "env": "glimpse/MNIST-v0",
        "reward": args.reward,
        "algorithm": f"SB3 PPO MultiInputPolicy, 8 envs, n_steps 128, batch 256, {args.epochs} epochs, lr 3e-4, "
        f"pi/vf 128x128, initial log std {args.log_std_init}",
        "stopped_by": stop,
        "cpu_minutes_training": train_cpu,
        "cpu_minutes_total": (time.process_time() - cpu0) / 60,
        "wall_minutes": (time.time() - wall0) / 60,
        "timesteps": int(model.num_timesteps),
        "test_accuracy": final,
        "test_accuracy_random_locations": random_loc,
        "chance": 0.1,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2), flush=True)
    plot(out)


def plot(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    res = json.loads((out / "results.json").read_text())
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    x = [r["cpu_min"] for r in rows]
    ax[0].plot(x, [r["test1000_accuracy"] for r in rows], "o-", ms=3, label="PPO policy (1,000 test digits)")
    ax[0].axhline(res["test_accuracy_random_locations"], color="C1", ls="--", label="final, random locations")
    ax[0].axhline(0.1, color="grey", ls=":", label="chance")
    ax[0].set(xlabel="CPU minutes", ylabel="test accuracy", title="PPO on glimpse/MNIST-v0")
    ax[0].legend(fontsize=7)
    ax[1].plot([r["timesteps"] for r in rows], [r["episode_return"] for r in rows], "o-", ms=3)
    ax[1].set(xlabel="timesteps", ylabel=f"mean episode return ({res['reward']})")
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=110)


if __name__ == "__main__":
    main()
