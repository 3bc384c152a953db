"""Issue 19's table: glimpse classifiers on MNIST, translated and cluttered digits, beside the papers.

Each row is one run of a training script on one task (``glimpse.data.TASKS``):

    ram     train.ram                      RAM, the task's retina and glimpse count, REINFORCE
    random  train.ram --random-glimpses    the random-glimpse control (the same network, no policy)
    soft    train.soft                     DRAW's filterbank read, trained by backprop
    cnn     train.cnn                      a small CNN on the whole image

    python -m bench.glimpse_tasks train cluttered60 ram --data-root ../shared/data -- --epochs 30 --threads 1
    python -m bench.glimpse_tasks table bench/results/tasks/*/ --out bench/results/tasks/table.md

``train`` runs the script into ``runs/tasks/TASK-MODEL`` (resumable as the script is), measures the
selected model's stochastic test error under 5 evaluation seeds (``seeds.json``: one stochastic
rollout's error moves by about ±0.1 point between seeds on 10,000 digits), and copies
``results.json``, ``metrics.jsonl`` and ``seeds.json`` to ``bench/results/tasks/TASK-MODEL/``.
``table`` writes the Markdown table: test error under each protocol (one stochastic rollout, the
policy mean, 10 rollouts averaged) and over the 5 seeds, glimpses, epochs, training time (and, for
a run started ``--init-from`` another row's model, that row: its time is not included), training
images per second, the machine and the command, beside the published numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

SCRIPTS = {
    "ram": ("train.ram", []),
    "random": ("train.ram", ["--random-glimpses"]),
    "soft": ("train.soft", []),
    "cnn": ("train.cnn", []),
}
SEEDS = range(5)
RESULTS = Path("bench/results/tasks")

# Published test errors (%), ../shared/reference/anchors.md: Mnih et al. 2014 (NIPS tables: RAM with
# this many glimpses, their convolutional baseline, 8 random glimpses) and Gregor et al. 2015 (DRAW's
# read attention, cluttered 100×100).
PUBLISHED: dict[str, dict[str, str]] = {
    "mnist": {"ram": "1.12 (6 glimpses)", "cnn": "1.21 (conv)"},
    "translated": {"ram": "1.20 (8 glimpses)", "cnn": "1.62 (conv)"},
    "cluttered60": {"ram": "4.04 (8 glimpses)", "cnn": "8.09 (conv)", "random": "14.4 (8 random glimpses)"},
    "cluttered100": {"ram": "8.11 (8 glimpses)", "cnn": "14.35 (conv)", "soft": "3.36 (DRAW read, 8 glimpses)"},
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def seed_errors(run: Path, data_root: str | None) -> dict[str, Any]:
    """The selected model's stochastic test error under each evaluation seed (one value for a
    deterministic model: its error does not depend on the seed)."""
    import torch

    from glimpse.checkpoint import load_model
    from glimpse.data import mnist_splits
    from glimpse.evaluate import error_rate, is_deterministic

    results = json.loads((run / "results.json").read_text())
    a = results["args"]
    model = load_model(run / "model.pt")
    test = mnist_splits(data_root or a["data_root"], a["dataset"], a["val_size"], a["seed"]).test
    torch.set_num_threads(a.get("threads") or torch.get_num_threads())
    seeds = [0] if is_deterministic(model) else list(SEEDS)
    errors = [error_rate(model, test, "stochastic", seed=s) for s in seeds]
    return {
        "seeds": seeds,
        "errors": errors,
        "mean": statistics.fmean(errors),
        "std": statistics.stdev(errors) if len(errors) > 1 else 0.0,
    }


def train(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="bench.glimpse_tasks train")
    p.add_argument("task")
    p.add_argument("model", choices=SCRIPTS)
    p.add_argument("--data-root", default=os.environ.get("GLIMPSE_DATA"))
    p.add_argument("--runs", type=Path, default=Path("runs/tasks"))
    p.add_argument("--results", type=Path, default=RESULTS, help="where results.json, metrics.jsonl, seeds.json go")
    p.add_argument("--variant", help="a name for a row's variant (runs/tasks/TASK-MODEL-VARIANT), e.g. conv")
    cut = argv.index("--") if "--" in argv else len(argv)
    a = p.parse_args(argv[:cut])
    extra = argv[cut + 1 :]  # after --: more flags for the training script
    script, flags = SCRIPTS[a.model]
    run = a.runs / "-".join([a.task, a.model] + ([a.variant] if a.variant else []))
    args = ["--dataset", a.task, "--out", str(run), *flags, *extra]
    if a.data_root:
        args += ["--data-root", a.data_root]
    module = __import__(script, fromlist=["main"])
    if (run / "last.pt").is_file() and "--resume" not in args:
        args.append("--resume")
    module.main(args)
    record = seed_errors(run, a.data_root)
    record["command"] = shlex.join(["python", "-m", script, *args])
    record["machine"] = machine()
    (run / "seeds.json").write_text(json.dumps(record, indent=1) + "\n")
    dest = a.results / run.name
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "metrics.jsonl", "seeds.json"):
        shutil.copy2(run / name, dest / name)
    print(f"{run.name}: stochastic test error over seeds {record['seeds']}: {record['mean']:.2%} ± {record['std']:.2%}")


def images_per_second(run: Path) -> float | None:
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").is_file() else []
    speeds = [json.loads(line).get("images_per_s") for line in lines]
    speeds = [s for s in speeds if s]
    return statistics.median(speeds) if speeds else None


def row(run: Path) -> tuple[list[str], dict[str, Any]]:
    r = json.loads((run / "results.json").read_text())
    s = json.loads((run / "seeds.json").read_text())
    a, test = r["args"], r["test"]
    task, model, *variant = run.name.split("-", 2)
    pct = lambda key: f"{test[key]:.2%}" if key in test else "—"  # noqa: E731
    glimpses = a.get("model", {}).get("glimpses", a.get("glimpses")) if model != "cnn" else None
    speed = images_per_second(run)
    threads = a.get("threads")
    start = f", from {Path(a['init_from']).parent.name}" if a.get("init_from") else ""  # a curriculum's earlier row
    cells = [
        task,
        model + "".join(f" ({v})" for v in variant),
        str(glimpses) if glimpses else "whole image",
        f"{r['epochs']} ({r['best_epoch']})",
        f"{r['train_wall_min']:.1f} min"
        + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else "")
        + (", bfloat16" if a.get("amp") else "")
        + start,
        f"{speed:,.0f}" if speed else "—",
        pct("stochastic"),
        pct("mean"),
        pct(next((k for k in test if k.startswith("average")), "average10")),
        f"{s['mean']:.2%} ± {s['std']:.2%} ({len(s['seeds'])})",
        "—" if variant else PUBLISHED.get(task, {}).get(model, "—"),
    ]
    return cells, s


def table(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="bench.glimpse_tasks table")
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    head = [
        "task",
        "model",
        "glimpses",
        "epochs (best)",
        "training",
        "images/s",
        "stochastic",
        "mean",
        "average10",
        "stochastic, seeds (n)",
        "published %",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    commands, machines = [], set()
    for run in sorted(r for r in a.runs if (r / "seeds.json").is_file()):
        cells, s = row(run)
        lines.append("| " + " | ".join(cells) + " |")
        commands.append(f"- `{run.name}`: `{s['command']}`")
        machines.add(s["machine"])
    text = "\n".join([*lines, "", f"Machine: {'; '.join(sorted(machines))}.", "", *commands]) + "\n"
    if a.out:
        a.out.write_text(text)
    print(text, end="")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    if not argv or argv[0] not in ("train", "table"):
        sys.exit(__doc__)
    (train if argv[0] == "train" else table)(argv[1:])


if __name__ == "__main__":
    main()
