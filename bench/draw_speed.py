"""DRAW training and sampling speed: glimpse.draw beside the same model written the straightforward way.

    python -m bench.draw_speed                       # the paper's MNIST model (T=64, 256/256, z=100, 2×2 / 5×5)
    python -m bench.draw_speed --no-attention --threads 1

The straightforward version (:mod:`glimpse.draw_reference`) shares the model's parameters (so
both compute the same numbers; checked before timing) and is written as a typical port would be:
one Python step at a time, the image and the error image read separately, the encoder input
concatenated, each head its own linear layer, the KL accumulated per step, and sampling running the
decoder and writing one step at a time. ``glimpse.draw`` instead folds the heads and the encoder's
share of h^dec into one product, reads both images in one, precomputes the no-attention encoder's
image share once, sums the KL after the loop, and samples with one fused decoder call and all
writes batched.

Training images/s: forward, backward and an Adam step on binarised digits (random ones: the speed
does not depend on the data). Sampling images/s: prior samples with every canvas kept.
Writes ``bench/results/draw_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch import Tensor

from glimpse.draw import DRAW, DRAWConfig
from glimpse.draw_reference import straight_loss, straight_sample

RESULTS = Path(__file__).parent / "results" / "draw_speed.json"


# --- timing -----------------------------------------------------------------------------------
def time_training(m: DRAW, loss_fn, x: Tensor, iters: int, warmup: int = 2) -> float:
    """Training images per second: forward, backward and an Adam step."""
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)
    for i in range(warmup + iters):
        if i == warmup:
            t0 = time.perf_counter()
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.total.backward()
        opt.step()
    return iters * x.shape[0] / (time.perf_counter() - t0)


def time_sampling(fn, n: int, iters: int, warmup: int = 1) -> float:
    for i in range(warmup + iters):
        if i == warmup:
            t0 = time.perf_counter()
        fn()
    return iters * n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--attention", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--samples", type=int, default=64, help="images per sampling call")
    p.add_argument("--iters", type=int, default=5, help="timed training steps per version")
    p.add_argument("--rounds", type=int, default=2, help="alternate the versions this many times; best kept")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    cfg = DRAWConfig(steps=a.steps, attention=a.attention)
    m = DRAW(cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.rand(a.batch_size, 1, 28, 28, generator=g))
    eps = torch.randn(cfg.steps, a.batch_size, cfg.z_size, generator=g)

    # same numbers first: the loss with the same noise, and the samples from the same latents
    fast = m.loss(x, generator=torch.Generator().manual_seed(1))
    slow = straight_loss(
        m, x, torch.randn(cfg.steps, a.batch_size, cfg.z_size, generator=torch.Generator().manual_seed(1))
    )
    torch.testing.assert_close(fast.total, slow.total, rtol=1e-4, atol=1e-3)
    s = m.sample(a.samples, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(s.canvases, straight_sample(m, s.z), rtol=1e-4, atol=1e-3)

    train = {"glimpse": 0.0, "straightforward": 0.0}
    sample = {"glimpse": 0.0, "straightforward": 0.0}
    z = torch.randn(cfg.steps, a.samples, cfg.z_size, generator=g)
    for _ in range(a.rounds):  # alternate, keep each version's best round
        train["straightforward"] = max(
            train["straightforward"], time_training(m, lambda v: straight_loss(m, v, eps), x, a.iters)
        )
        train["glimpse"] = max(train["glimpse"], time_training(m, m.loss, x, a.iters))
        sample["straightforward"] = max(
            sample["straightforward"], time_sampling(lambda: straight_sample(m, z), a.samples, 3)
        )
        sample["glimpse"] = max(sample["glimpse"], time_sampling(lambda: m.sample(a.samples), a.samples, 3))
    result = {
        "config": {**vars(cfg), "batch_size": a.batch_size, "samples_per_call": a.samples},
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "train_images_per_s": {k: round(v, 1) for k, v in train.items()},
        "sample_images_per_s": {k: round(v, 1) for k, v in sample.items()},
        "train_speedup": round(train["glimpse"] / train["straightforward"], 2),
        "sample_speedup": round(sample["glimpse"] / sample["straightforward"], 2),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
