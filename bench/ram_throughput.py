"""Training throughput of RAM (images per second through forward, backward and an Adam step).

    python -m bench.ram_throughput                       # paper's RNN core and the LSTM core
    python -m bench.ram_throughput --batch 256 --cores rnn --steps 100
    python -m bench.ram_throughput --compile              # rollout + loss as one compiled graph

Times whole optimisation steps on synthetic 28×28 inputs (data loading is an in-memory index and
is measured separately by the training script's own epoch times). Reports the median of
``--repeats`` timed runs after a warm-up; prints one Markdown row per configuration.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch

from glimpse.ram import RAM, RAMConfig
from train.ram import Args, loss_function


def images_per_second(cfg: RAMConfig, batch: int, steps: int, repeats: int, device: str, compile: bool) -> float:
    torch.manual_seed(0)
    model = RAM(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    x = torch.rand(batch, cfg.channels, cfg.height, cfg.width, device=device)
    y = torch.randint(0, cfg.classes, (batch,), device=device)

    loss_fn = functools.partial(loss_function(Args(compile=compile)), model)  # the training script's own loss

    def run(n: int) -> None:
        for _ in range(n):
            loss = loss_fn(x, y)
            opt.zero_grad(set_to_none=True)
            loss.total.backward()
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    run(max(3, steps // 5))
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        run(steps)
        rates.append(batch * steps / (time.perf_counter() - t))
    return statistics.median(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--cores", nargs="+", default=["rnn", "lstm"])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--compile", action="store_true", help="torch.compile the rollout and loss (as train.ram --compile)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # as the training scripts do
    mode = "compiled" if a.compile else "eager"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}, {mode}")
    print("| core | batch | images/s |\n|---|---|---|")
    for core in a.cores:
        for batch in a.batch:
            rate = images_per_second(RAMConfig(core=core), batch, a.steps, a.repeats, a.device, a.compile)
            print(f"| {core} | {batch} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
