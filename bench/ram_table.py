"""Print the README's RAM results table from the runs' ``results.json`` files.

python -m bench.ram_table bench/results/*/results.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PROTOCOLS = ("stochastic", "mean", "average10", "random_locations")


def describe(args: dict) -> str:
    if args.get("random_glimpses"):
        what = "random-glimpse control"
    else:
        std = "learned σ" if args.get("learn_std") else f"σ = {args['loc_std']}"
        if args.get("loc_std_final") is not None and not args.get("learn_std"):
            std = f"σ {args['loc_std']} → {args['loc_std_final']}"
            if args.get("anneal_from", 0.0) > 0:
                std += f" after {args['anneal_from']:.0%} of training"
        what = f"RAM, {args['core'].upper()} core, {std}"
    extra = ""
    if args.get("reward", "correct") != "correct":
        extra += f", reward {args['reward']}"
    if args.get("batch_size", 128) != 128 or args.get("lr", 1e-3) != 1e-3:
        extra += f", batch {args['batch_size']}, lr {args['lr']:g}"
    if args.get("compile"):
        extra += ", compiled"
    return f"{what}, shift ±{args.get('augment_shift', 0)} px{extra}"


def row(path: Path) -> str | None:
    r = json.loads(path.read_text())
    if r.get("dataset") != "mnist" or "stochastic" not in r.get("test", {}):
        return None  # not a RAM run (e.g. a painter's results.json)
    a = r["args"]
    shown = [p for p in PROTOCOLS if not (a.get("random_glimpses") and p == "mean")]  # no policy mean
    cells = [f"{r['test'][p]:.2%}" if p in r["test"] and p in shown else "—" for p in PROTOCOLS]
    minutes = f"{r['train_wall_min']:.1f} min, {a['threads']} thread{'s' if a['threads'] != 1 else ''}"
    head = f"| {path.parent.name} | {describe(a)} | {r['epochs']} ({r['best_epoch']}) | {minutes} | "
    return head + " | ".join(cells) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", type=Path)
    a = p.parse_args()
    print("| run | model | epochs (best) | training time | stochastic | mean | average10 | random locations |")
    print("|---|---|---|---|---|---|---|---|")
    for line in map(row, a.results):
        if line is not None:
            print(line)


if __name__ == "__main__":
    main()
