"""Training speed with and without ``--amp`` (bfloat16 autocast), through the training scripts.

    python -m bench.amp_speed --data-root ../shared/data --out bench/results/amp_speed.json

Each model is trained twice for ``--epochs`` short epochs on one thread (the same command, then
with ``--amp``), one run at a time; the figure is the training images (or pictures) per second of
the last epoch, as the script logs it, without the validation and test passes. bfloat16 is fast
where the processor has bfloat16 instructions (AVX512-BF16, AMX); elsewhere it can be slower.
The validation figure of each pair is printed beside it, as a check that the two runs learned alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

WIDE = ["--what-net", "conv", "--what-size", "256", "--glimpse-out", "512", "--hidden", "512"]
SMALL = ["--val-size", "1000", "--train-limit"]
RUNS: dict[str, tuple[str, list[str]]] = {
    "ram (MNIST, the paper's network)": ("train.ram", [*SMALL, "12000"]),
    "ram conv-wide (cluttered 60²)": ("train.ram", ["--dataset", "cluttered60", *WIDE, *SMALL, "6000"]),
    "soft, 3 scales (cluttered 60²)": ("train.soft", ["--dataset", "cluttered60", "--scales", "3", *SMALL, "6000"]),
    "cnn (cluttered 60²)": ("train.cnn", ["--dataset", "cluttered60", *SMALL, "2000"]),
    "draw, T = 16, 5×5": ("train.draw", ["--steps", "16", "--read-n", "5", "--write-n", "5", *SMALL, "3000"]),
    "painter (CelebA 64², 20 × 10)": (
        "train.paint",
        ["--dataset", "celeba", "--train-limit", "96", "--val-size", "32", "--eval-limit", "32"],
    ),
}


def last_epoch(folder: Path) -> dict:
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=os.environ.get("GLIMPSE_DATA"))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--only", default="", help="run only the models whose name contains this string")
    p.add_argument("--out", default="bench/results/amp_speed.json")
    args = p.parse_args()
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    results = {"machine": machine, "threads": 1, "rows": {}}
    for name, (module, extra) in RUNS.items():
        if args.only not in name:
            continue
        row = {"command": f"python -m {module} {' '.join(extra)} --epochs {args.epochs} --threads 1 [--amp]"}
        for amp in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", module, *extra, "--epochs", str(args.epochs), "--threads", "1"]
                cmd += ["--no-progress", "--out", tmp, *(["--amp"] if amp else [])]
                if args.data_root:
                    cmd += ["--data-root", args.data_root]
                subprocess.run(cmd, check=True, capture_output=True)
                m = last_epoch(Path(tmp))
            key = "amp" if amp else "float32"
            row[key] = {"per_s": m["images_per_s"], **{k: v for k, v in m.items() if k.startswith("val_")}}
        row["speed-up"] = row["amp"]["per_s"] / row["float32"]["per_s"]
        results["rows"][name] = row
        f32, amp = row["float32"]["per_s"], row["amp"]["per_s"]
        print(f"{name}: {f32:,.0f} -> {amp:,.0f} per s ({row['speed-up']:.2f}x)", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
