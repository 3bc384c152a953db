"""The soft-attention classifier: its filterbank read against the paper's formulas, what a window
sees, gradients, shapes, bad configs, learning, checkpoints, frames and its training entry point."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from glimpse.checkpoint import load_checkpoint, load_model, save_checkpoint
from glimpse.data import ImageSet
from glimpse.evaluate import all_protocols, error_rate, predict
from glimpse.filterbank import Window
from glimpse.render import SCALE_COLOURS, soft_frames, write_gif
from glimpse.soft import SoftAttention, SoftAttentionConfig, SoftRollout, soft_loss


def small(**kw) -> SoftAttentionConfig:
    base = dict(
        height=12,
        width=16,
        channels=2,
        classes=3,
        read_n=4,
        glimpses=3,
        what_size=8,
        where_size=4,
        glimpse_out=16,
        hidden=16,
    )
    return SoftAttentionConfig(**{**base, **kw})


def params(gx: float, gy: float, sigma2: float, delta_tilde: float, gamma: float, b: int = 1) -> torch.Tensor:
    """The window head's five outputs for a window, (b, 5)."""
    p = torch.tensor([gx, gy, math.log(sigma2), math.log(delta_tilde), math.log(gamma)])
    return p.expand(b, 5)


def test_read_matches_a_per_pixel_computation():
    """γ Σ_a Σ_b F_Y[i, b] x[b, a] F_X[j, a], with F and the window from the paper's eqs. 19–24
    written out pixel by pixel in float64."""
    cfg = small(height=5, width=7, read_n=3, channels=2)
    model = SoftAttention(cfg).double()
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 2, 5, 7, generator=g, dtype=torch.float64)
    p = torch.tensor([[0.3, -0.4, math.log(0.7), math.log(0.8), math.log(1.3)], [-0.9, 0.6, 0.1, -0.2, -0.3]])
    patch, _ = model.read(x, p.double())
    n, big_a, big_b = 3, 7, 5  # N, A = width, B = height
    for k in range(2):
        gx_, gy_, log_s2, log_d, log_g = p[k].tolist()
        gx, gy = (big_a + 1) / 2 * (gx_ + 1), (big_b + 1) / 2 * (gy_ + 1)
        delta = (max(big_a, big_b) - 1) / (n - 1) * math.exp(log_d)
        s2, gamma = math.exp(log_s2), math.exp(log_g)
        mu_x = [gx + (i - n / 2 - 0.5) * delta for i in range(1, n + 1)]
        mu_y = [gy + (i - n / 2 - 0.5) * delta for i in range(1, n + 1)]
        fx = [[math.exp(-((a - m) ** 2) / (2 * s2)) for a in range(1, big_a + 1)] for m in mu_x]
        fy = [[math.exp(-((b - m) ** 2) / (2 * s2)) for b in range(1, big_b + 1)] for m in mu_y]
        fx = [[v / (sum(row) + 1e-8) for v in row] for row in fx]
        fy = [[v / (sum(row) + 1e-8) for v in row] for row in fy]
        for c in range(2):
            for i in range(n):
                for j in range(n):
                    expect = gamma * sum(
                        fy[i][b] * float(x[k, c, b, a]) * fx[j][a] for a in range(big_a) for b in range(big_b)
                    )
                    assert float(patch[k, c, i, j]) == pytest.approx(expect, rel=1e-9, abs=1e-12)


def test_a_centred_full_size_window_reproduces_the_image():
    side = 12
    model = SoftAttention(small(height=side, width=side, read_n=side))
    x = torch.rand(3, 2, side, side)
    # centre (A+1)/2, δ = (side−1)/(N−1) δ̃ = 1, σ² = 1e-3: filter i sits on pixel i alone
    patch, win = model.read(x, params(0.0, 0.0, 1e-3, 1.0, 1.0, 3))
    torch.testing.assert_close(win.delta, torch.ones(3))
    torch.testing.assert_close(patch, x)


def test_a_smaller_window_reads_an_area_averaged_image():
    """N = 6 filters a stride δ = 24/6 = 4 apart, centred, read the 24×24 image at 6×6.

    The filters sit on the centres of the 4×4 blocks that avg_pool2d averages, with σ² = 1.25, the
    variance of a 4-pixel box (offsets ±0.5, ±1.5). Two normalised weightings symmetric about the
    same centre with the same variance differ only in fourth-order terms: for this smooth image
    (wavelength 24 px, amplitude 0.25) that is ~1e-4, so the inner 4×4 blocks agree to 1e-3. At
    the border the Gaussian is cut off on one side, which moves its mean inward by about a tenth
    of a pixel; times the image's largest slope (0.25·2π/24 ≈ 0.065 per pixel) that is < 0.01.
    A grid misplaced by one pixel misses by more than 0.05, so the check places the grid."""
    side, n = 24, 6
    delta = side / n
    model = SoftAttention(small(height=side, width=side, read_n=n, channels=1))
    a = torch.arange(side) + 0.5
    x = 0.5 + 0.25 * torch.sin(2 * math.pi * a[None, :] / side + 0.7) * torch.cos(2 * math.pi * a[:, None] / side + 2)
    x = x[None, None]
    expect = F.avg_pool2d(x, int(delta))
    patch, win = model.read(x, params(0.0, 0.0, 1.25, delta * (n - 1) / (side - 1), 1.0))
    torch.testing.assert_close(win.delta, torch.tensor([delta]))
    torch.testing.assert_close(patch, expect, atol=0.01, rtol=0)
    torch.testing.assert_close(patch[..., 1:-1, 1:-1], expect[..., 1:-1, 1:-1], atol=1e-3, rtol=0)
    shifted, _ = model.read(x, params(2 / (side + 1), 0.0, 1.25, delta * (n - 1) / (side - 1), 1.0))  # gx + 1 px
    assert (shifted - expect).abs().max() > 0.05


def test_each_further_scale_reads_with_twice_the_stride_and_filter_width():
    """scales = 3 stacks, finest first, the single-scale reads of the same centre with stride
    2^s δ and variance 4^s σ² (γ unchanged); the glimpse network takes all of them."""
    one = SoftAttention(small(height=20, width=24, read_n=4, channels=2))
    three = SoftAttention(small(height=20, width=24, read_n=4, channels=2, scales=3))
    x = torch.rand(3, 2, 20, 24)
    gx, gy, s2, d, gamma = 0.2, -0.3, 0.9, 0.4, 1.3
    patches, win = three.read(x, params(gx, gy, s2, d, gamma, 3))
    assert patches.shape == (3, 6, 4, 4)
    for s in range(3):
        expect, w_s = one.read(x, params(gx, gy, s2 * 4**s, d * 2**s, gamma, 3))
        torch.testing.assert_close(patches[:, 2 * s : 2 * s + 2], expect)
        torch.testing.assert_close(w_s.delta, win.delta * 2**s)
    r = three.rollout(x)
    assert r.patches.shape == (three.cfg.glimpses, 3, 6, 4, 4) and r.logits.shape[:2] == (three.cfg.glimpses, 3)


def test_the_first_window_covers_the_whole_image():
    cfg = small(height=20, width=20, read_n=5)
    r = SoftAttention(cfg).rollout(torch.rand(2, 2, 20, 20))
    w = Window(*(f[0] for f in r.windows))
    torch.testing.assert_close(w.gx, torch.full((2,), 10.5))  # the centre, 1-indexed
    torch.testing.assert_close(w.delta, torch.full((2,), 19 / 4))  # the grid spans the image
    torch.testing.assert_close(w.sigma2, (w.delta / 2) ** 2)  # half a stride wide
    torch.testing.assert_close(w.gamma, torch.ones(2))
    three = SoftAttention(small(height=20, width=20, read_n=5, scales=3))
    w3 = Window(*(f[0] for f in three.rollout(torch.rand(2, 2, 20, 20)).windows))
    torch.testing.assert_close(w3.delta * 4, torch.full((2,), 19 / 4))  # with 3 scales, the coarsest spans it
    torch.testing.assert_close(w3.sigma2, (w3.delta / 2) ** 2)


@pytest.mark.parametrize("core", ["rnn", "lstm", "gru"])
def test_step_and_rollout_shapes(core):
    cfg = small(core=core, layers=2)
    model = SoftAttention(cfg)
    x = torch.rand(5, 2, 12, 16)
    t, b, n = cfg.glimpses, 5, cfg.read_n
    r = model.rollout(x)
    assert isinstance(r, SoftRollout)
    assert r.params.shape == (t, b, 5) and all(f.shape == (t, b) for f in r.windows)
    assert r.patches.shape == (t, b, 2, n, n)
    assert r.logits.shape == r.class_probs.shape == (t, b, cfg.classes)
    assert r.hidden.shape == (t, b, cfg.hidden)
    torch.testing.assert_close(r.class_probs.sum(-1), torch.ones(t, b))
    state = model.initial_state(b)
    assert all(s.shape == (2, b, cfg.hidden) and not s.any() for s in state)
    out, state = model.step(x, state)
    torch.testing.assert_close(out.logits, r.logits[0])
    torch.testing.assert_close(out.params, r.params[0])
    out, state = model.step(x, state)
    torch.testing.assert_close(out.hidden, r.hidden[1])
    torch.testing.assert_close(model(x), r.logits[-1])


def test_policies_sample_and_mean_agree_and_random_moves_only_the_centre():
    model = SoftAttention(small()).eval()
    x = torch.rand(6, 2, 12, 16)
    mean, sample = model.rollout(x, "mean"), model.rollout(x, "sample", torch.Generator().manual_seed(1))
    for u, v in zip(mean, sample, strict=True):
        torch.testing.assert_close(u, v)
    a = model.rollout(x, "random", torch.Generator().manual_seed(2))
    b = model.rollout(x, "random", torch.Generator().manual_seed(2))
    torch.testing.assert_close(a.logits, b.logits)
    centres = a.params[..., :2]
    assert centres.abs().max() <= 1 and not torch.allclose(centres, mean.params[..., :2])
    torch.testing.assert_close(a.params[0, :, 2:], mean.params[0, :, 2:])  # the same h_0: the same δ, σ², γ


@pytest.mark.parametrize(("steps", "what_net"), [("last", "linear"), ("all", "linear"), ("all", "conv")])
def test_gradients_reach_every_parameter(steps, what_net):
    cfg = small(layers=2, what_net=what_net, scales=2)
    model = SoftAttention(cfg)
    x, y = torch.rand(8, 2, 12, 16), torch.randint(0, 3, (8,))
    loss = soft_loss(model.rollout(x), y, steps)
    loss.total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    r = model.rollout(x)
    if steps == "last":
        torch.testing.assert_close(loss.total, F.cross_entropy(r.logits[-1], y))
    else:
        each = torch.stack([F.cross_entropy(r.logits[t], y) for t in range(cfg.glimpses)])
        torch.testing.assert_close(loss.total, each.mean())
    assert torch.equal(loss.correct, (r.logits[-1].argmax(-1) == y).float())


def test_the_conv_what_net_takes_every_scale_and_channel_as_a_conv_channel():
    cfg = small(what_net="conv", scales=3, read_n=5)
    model = SoftAttention(cfg)
    first = model.glimpse.what[0]
    assert isinstance(first, torch.nn.Conv2d) and first.in_channels == 3 * 2  # S·C
    x = torch.rand(4, 2, 12, 16)
    r = model.rollout(x)
    assert r.patches.shape == (3, 4, 6, 5, 5) and r.logits.shape == (3, 4, 3)
    g = model.glimpse(r.patches[0], r.params[0])
    assert g.shape == (4, cfg.glimpse_out)
    torch.testing.assert_close(
        g,
        F.relu(
            model.glimpse.what_out(F.relu(model.glimpse.what(r.patches[0])))
            + model.glimpse.where_out(F.relu(model.glimpse.where(r.params[0])))
        ),
    )


def test_bad_configs_and_inputs_are_named():
    with pytest.raises(ValueError, match="what_net must be 'linear' or 'conv', got 'mlp'"):
        small(what_net="mlp")
    with pytest.raises(ValueError, match=r"read_n=13 is larger than the 12×16 image"):
        small(read_n=13)
    with pytest.raises(ValueError, match="glimpses must be >= 1"):
        small(glimpses=0)
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        small(hidden=0)
    with pytest.raises(ValueError, match="unknown core 'transformer'"):
        small(core="transformer")
    model = SoftAttention(small())
    with pytest.raises(ValueError, match="12×16"):
        model.rollout(torch.rand(2, 2, 16, 16))
    with pytest.raises(ValueError, match="channel"):
        model.rollout(torch.rand(2, 1, 12, 16))
    with pytest.raises(ValueError, match="policy"):
        model.rollout(torch.rand(2, 2, 12, 16), "greedy")
    with pytest.raises(ValueError, match="steps"):
        soft_loss(model.rollout(torch.rand(2, 2, 12, 16)), torch.zeros(2, dtype=torch.long), "first")


def squares(n: int, seed: int, side: int = 16) -> ImageSet:
    """A bright 4×4 square in one of the four quadrants on faint noise: the quadrant is the class."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = 0.2 * torch.rand(n, 1, side, side, generator=g)
    half = side // 2
    offsets = torch.randint(0, half - 4, (n, 2), generator=g)
    for k in range(n):
        r, c = divmod(int(labels[k]), 2)
        y, x = r * half + int(offsets[k, 0]), c * half + int(offsets[k, 1])
        images[k, :, y : y + 4, x : x + 4] = 1.0
    return ImageSet(images, labels)


def test_backprop_learns_a_small_task():
    torch.manual_seed(0)
    cfg = SoftAttentionConfig(
        height=16, width=16, classes=4, read_n=4, glimpses=2, what_size=32, where_size=8, glimpse_out=32, hidden=32
    )
    model = SoftAttention(cfg)
    train, test = squares(512, 0), squares(256, 1)
    before = error_rate(model, test, "mean")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        for x, y in train.batches(32, shuffle=True, generator=gen):
            loss = soft_loss(model.rollout(x), y, "all")
            opt.zero_grad()
            loss.total.backward()
            opt.step()
    after = error_rate(model, test, "mean")
    assert after < 0.25 < before, (before, after)  # chance is 0.75


def test_evaluate_protocols_collapse_to_the_one_rollout():
    model, data = SoftAttention(small(channels=1, classes=4, height=16, width=16)), squares(64, 2)
    model.train()
    results = all_protocols(model, data, rollouts=3, seed=1)
    assert model.training
    assert set(results) == {"stochastic", "mean", "average3", "random_locations"}
    assert results["stochastic"] == results["mean"] == results["average3"] == error_rate(model, data, "mean")
    assert results["random_locations"] == error_rate(model, data, "random", seed=1)
    x = data.images[:8]
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(predict(model.eval(), x, "average", 4, g), predict(model, x, "mean"))


def test_checkpoint_round_trip(tmp_path):
    cfg = small(core="gru")
    model = SoftAttention(cfg).eval()
    save_checkpoint(tmp_path / "soft.pt", "soft", model, epoch=2)
    loaded = load_model(tmp_path / "soft.pt", kind="soft")
    assert loaded.cfg == cfg and load_checkpoint(tmp_path / "soft.pt")["epoch"] == 2
    x = torch.rand(4, 2, 12, 16)
    torch.testing.assert_close(loaded.rollout(x).logits, model.rollout(x).logits)


def test_frames_show_the_window_box_where_the_window_is(tmp_path):
    cfg = small(height=20, width=30, channels=1, read_n=4, glimpses=3)
    images = torch.zeros(2, 1, 20, 30)
    r = SoftAttention(cfg).rollout(images)
    # place every window by hand: centre (10.5, 8.5) in the paper's 1-indexed pixels, stride 1, so
    # the 4×4 grid covers x in [8, 12], y in [6, 10]; the second image's window moves right each step
    gx = torch.tensor([[10.5, 5.5], [10.5, 15.5], [10.5, 25.5]])
    ones = torch.ones(3, 2)
    r = r._replace(windows=Window(gx, torch.full((3, 2), 8.5), ones, ones, ones))
    scale, pad = 5, 4
    frames = soft_frames(images, r, torch.zeros(2, dtype=torch.long), scale=scale, cols=2)
    assert len(frames) == 3
    assert all(f.shape == frames[0].shape and f.dtype == np.uint8 for f in frames)
    red = np.array(SCALE_COLOURS[0])
    for t, frame in enumerate(frames):
        tile = frame[pad:, pad:]  # the first image's tile: black but for the box, trail and caption
        assert (tile[6 * scale, 8 * scale] == red).all() and (tile[10 * scale - 1, 12 * scale - 1] == red).all()
        assert (tile[7 * scale, 9 * scale] == 0).all()  # inside the box (its centre holds the trail's dot)
        assert (tile[2 * scale, 2 * scale] == 0).all() and (tile[6 * scale, 20 * scale] == 0).all()  # outside
        second = frame[pad:, pad + (frames[0].shape[1] - 3 * pad) // 2 + pad :]  # the second image's tile
        left = int((gx[t, 1] - 0.5 - 2) * scale)
        assert (second[6 * scale, left] == red).all() and (second[6 * scale, left + 4 * scale - 1] == red).all()
    # two scales: the second box, twice as wide (x in [6, 14], y in [4, 12]), in the second colour
    r2 = r._replace(patches=r.patches.repeat(1, 1, 2, 1, 1))
    tile = soft_frames(images, r2, scale=scale, cols=2)[0][pad:, pad:]
    orange = np.array(SCALE_COLOURS[1])
    assert (tile[4 * scale, 6 * scale] == orange).all() and (tile[12 * scale - 1, 14 * scale - 1] == orange).all()
    assert (tile[6 * scale, 8 * scale] == red).all()
    # the trail joins the second image's centres (x 5, 15 in pixels) along y = 8 from the second step
    assert (frames[1][pad + 8 * scale, pad + (frames[0].shape[1] - 3 * pad) // 2 + pad + 10 * scale] != 0).any()
    path = write_gif(frames, tmp_path / "soft.gif")
    assert path.stat().st_size > 0


def test_train_soft_writes_results_and_a_model_that_loads_with_no_flags(mnist_data_root, tmp_path):
    from train import soft as train_soft

    out = tmp_path / "run"
    argv = ["--data-root", str(mnist_data_root), "--out", str(out), "--no-progress", "--threads", "1"]
    argv += ["--train-limit", "256", "--val-size", "256", "--epochs", "1", "--batch-size", "64"]
    argv += ["--read-n", "6", "--glimpses", "3", "--hidden", "32", "--what-size", "32", "--glimpse-out", "32"]
    train_soft.main(argv)
    results = json.loads((out / "results.json").read_text())
    test = results["test"]
    assert test["stochastic"] == test["mean"] == test["average10"] and "random_locations" in test
    model = load_model(out / "model.pt")
    assert isinstance(model, SoftAttention) and model.cfg.read_n == 6 and model.cfg.hidden == 32
    assert results["args"]["loss"] == "all" and results["args"]["lr"] == 3e-4  # the defaults that learn cluttered 60²
    # ram-gif animates it: one frame per glimpse (and held last frames), windows drawn
    from glimpse.cli import main as glimpse_main

    gif = tmp_path / "soft.gif"
    cmd = ["ram-gif", "--checkpoint", str(out / "model.pt"), "--data-root", str(mnist_data_root)]
    assert glimpse_main([*cmd, "--out", str(gif), "--digits", "2"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames >= 3


def test_windows_stay_float32_under_bfloat16_autocast():
    """--amp: the window geometry (centres, stride, σ²) is float32 although the head runs in bfloat16."""
    model = SoftAttention(small(scales=2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        r = model.rollout(torch.rand(4, 2, 12, 16))
    assert r.params.dtype == torch.bfloat16  # the head ran under autocast
    assert all(f.dtype == torch.float32 for f in r.windows)
    soft_loss(r, torch.randint(0, 3, (4,))).total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 for g in grads)
