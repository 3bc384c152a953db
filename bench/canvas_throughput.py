"""Canvas throughput: strokes rendered per second, beside a Learning-to-Paint-shaped neural renderer.

    python -m bench.canvas_throughput [--threads 2] [--strokes 256] [--compile] [--device cpu]
        [--out bench/results/canvas.json]

Every renderer turns the same random strokes (13 numbers in [0, 1]) into per-stroke coverage maps
(N, S, S), forward only and forward + backward (the gradient of a random linear function of the
maps with respect to the stroke numbers). The neural renderer is Learning to Paint's stack (4 fully
connected layers 10→512→1024→2048→4096, then convolutions and pixel shuffles 16²→128²) with random
weights; at 64² its last pixel shuffle is dropped. Reported: median of 5 timed repeats after 2
warm-up runs, strokes per second. ``--compile`` adds the fast canvas with its torch.compile'd
per-pixel kernels (:func:`glimpse.canvas.compile_canvas`) and the neural renderer under
torch.compile, so that each side gets the same help; compilation happens in the warm-up runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from glimpse.canvas import compile_canvas, stroke_alpha
from glimpse.strokes import SHAPE, STROKE_SIZE


class NeuralRenderer(nn.Module):
    """Learning to Paint's renderer shape: stroke (10 shape numbers) -> coverage (S, S), S = 64 or 128."""

    def __init__(self, size: int = 128) -> None:
        super().__init__()
        if size not in (64, 128):
            raise ValueError("the neural renderer draws 64² or 128²")
        self.size = size
        self.fc = nn.ModuleList([nn.Linear(a, b) for a, b in ((10, 512), (512, 1024), (1024, 2048), (2048, 4096))])
        self.conv1, self.conv2 = nn.Conv2d(16, 32, 3, 1, 1), nn.Conv2d(32, 32, 3, 1, 1)
        self.conv3, self.conv4 = nn.Conv2d(8, 16, 3, 1, 1), nn.Conv2d(16, 16, 3, 1, 1)
        self.conv5 = nn.Conv2d(4, 8, 3, 1, 1)
        self.conv6 = nn.Conv2d(8, 4 if size == 128 else 1, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fc in self.fc:
            x = F.relu(fc(x))
        x = x.view(-1, 16, 16, 16)
        x = self.shuffle(self.conv2(F.relu(self.conv1(x))))
        x = self.shuffle(self.conv4(F.relu(self.conv3(x))))
        x = self.conv6(F.relu(self.conv5(x)))
        if self.size == 128:
            x = self.shuffle(x)
        return 1 - torch.sigmoid(x).view(-1, self.size, self.size)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int = 5, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compiled_canvas(style: str, size: int):
    """The fast canvas with compiled kernels (switched on only while it renders)."""

    def render(s: torch.Tensor) -> torch.Tensor:
        before = compile_canvas(True)
        try:
            return stroke_alpha(s, size, size, "fast", style)
        finally:
            compile_canvas(before)

    return render


def measure(render, strokes: torch.Tensor, size: int) -> dict[str, float]:
    n = strokes.shape[0]
    weights = torch.rand(n, size, size, device=strokes.device)

    def forward():
        with torch.no_grad():
            render(strokes)

    def backward():
        s = strokes.clone().requires_grad_(True)
        (render(s) * weights).sum().backward()

    return {"forward": n / timed(forward, strokes.device), "forward_backward": n / timed(backward, strokes.device)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--strokes", type=int, default=256, help="strokes per call")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compile", action="store_true", help="also measure both sides under torch.compile")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--out", default=None, help="also write the results as JSON")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(a.seed)
    strokes = torch.rand(a.strokes, STROKE_SIZE).to(device)  # Learning to Paint's distribution: every number uniform
    rows = []
    for size in a.sizes:
        net = NeuralRenderer(size).to(device)
        renderers = {
            "fast": lambda s, size=size: stroke_alpha(s, size, size, "fast"),
            "fast-oil": lambda s, size=size: stroke_alpha(s, size, size, "fast", "oil"),
            "crisp": lambda s, size=size: stroke_alpha(s, size, size, "crisp"),
            "neural (LtP shape)": lambda s, net=net: net(s[:, SHAPE]),
        }
        if a.compile:
            renderers["fast, compiled"] = compiled_canvas("flat", size)
            renderers["fast-oil, compiled"] = compiled_canvas("oil", size)
            compiled_net = torch.compile(net)
            renderers["neural (LtP shape), compiled"] = lambda s, net=compiled_net: net(s[:, SHAPE])
        for name, fn in renderers.items():
            r = measure(fn, strokes, size)
            rows.append({"size": size, "renderer": name, **r})
            fwd, both = r["forward"], r["forward_backward"]
            print(f"{size:4d}²  {name:20s} forward {fwd:>10,.0f}/s   forward+backward {both:>9,.0f}/s")
        here = {r["renderer"]: r["forward_backward"] for r in rows if r["size"] == size}
        neural = max(v for k, v in here.items() if k.startswith("neural"))  # the faster neural renderer
        for name in ("fast", "fast, compiled"):
            if name in here:
                print(f"      {name} / fastest neural, forward+backward: {here[name] / neural:.1f}×")
    if a.out:
        meta = {
            "threads": a.threads,
            "strokes_per_call": a.strokes,
            "compile": a.compile,
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        }
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
