"""DRAW: the bound and its parts, gradients, sampling, bad input, checkpoints and a short real run."""

from __future__ import annotations

import json

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from glimpse.checkpoint import load_model, save_checkpoint
from glimpse.cores import make_core
from glimpse.draw import DRAW, DRAWConfig, gaussian_kl, run_sequence

SMALL = dict(height=12, width=10, steps=4, enc_size=16, dec_size=16, z_size=3, read_n=2, write_n=3)


def binary(b: int = 5, c: int = 1, h: int = 12, w: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.bernoulli(torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed)))


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, log_sigma = torch.randn(7, 5, 11, generator=g) * 2, torch.randn(7, 5, 11, generator=g)
    expect = kl_divergence(Normal(mu, log_sigma.exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, log_sigma), expect)


@pytest.mark.parametrize("attention", [True, False])
def test_bound_is_the_sum_of_its_parts_and_parts_are_right(attention):
    model = DRAW(DRAWConfig(**SMALL, attention=attention))
    x = binary()
    per = model.loss(x, generator=torch.Generator().manual_seed(1), reduce=False)
    torch.testing.assert_close(per.total, per.reconstruction + per.kl)
    mean = model.loss(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(mean.total, mean.reconstruction + mean.kl)
    torch.testing.assert_close(mean.total, per.total.mean())
    # the same noise through rollout(): reconstruction from the last canvas, KL from every step
    ro = model.rollout(x, generator=torch.Generator().manual_seed(1))
    rec = -torch.distributions.Bernoulli(logits=ro.canvases[-1]).log_prob(x).sum((1, 2, 3))
    kl = kl_divergence(Normal(ro.mu, ro.log_sigma.exp()), Normal(0.0, 1.0)).sum((0, 2))
    torch.testing.assert_close(per.reconstruction, rec)
    torch.testing.assert_close(per.kl, kl)
    assert (per.kl > 0).all() and (per.reconstruction > 0).all()


@pytest.mark.parametrize("core", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("attention", [True, False])
def test_gradients_reach_every_parameter(core, attention):
    model = DRAW(DRAWConfig(**SMALL, attention=attention, core=core, channels=2))
    model.loss(binary(c=2)).total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_rollout_records_every_step():
    cfg = DRAWConfig(**SMALL)
    model = DRAW(cfg)
    ro = model.rollout(binary(b=3))
    assert ro.canvases.shape == (cfg.steps, 3, 1, cfg.height, cfg.width)
    assert ro.z.shape == ro.mu.shape == (cfg.steps, 3, cfg.z_size)
    for win in (ro.writes, ro.reads):
        assert all(f.shape == (cfg.steps, 3) for f in win)
    assert ((ro.images >= 0) & (ro.images <= 1)).all()


@pytest.mark.parametrize("core", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("attention", [True, False])
def test_fused_rollout_equals_the_straightforward_loop(core, attention):
    """The folded heads, the projected encoder input and the batched KL compute the same bound
    (and gradients) as the step-by-step version, glimpse.draw_reference."""
    from glimpse.draw_reference import straight_loss

    cfg = DRAWConfig(**SMALL, attention=attention, core=core, channels=2)
    model = DRAW(cfg)
    x = binary(c=2)
    fast = model.loss(x, generator=torch.Generator().manual_seed(4))
    eps = torch.randn(cfg.steps, x.shape[0], cfg.z_size, generator=torch.Generator().manual_seed(4))
    slow = straight_loss(model, x, eps)
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b)
    grads = torch.autograd.grad(fast.total, list(model.parameters()))
    for g1, g2 in zip(grads, torch.autograd.grad(slow.total, list(model.parameters())), strict=True):
        torch.testing.assert_close(g1, g2, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("core", ["lstm", "gru", "rnn"])
def test_fused_sequence_equals_stepping_the_core(core):
    c = make_core(core, 5, 7)
    xs = torch.randn(6, 3, 5)
    state, outs = c.initial_state(3), []
    for x in xs:
        out, state = c.step(x, state)
        outs.append(out)
    torch.testing.assert_close(run_sequence(c, xs), torch.stack(outs))


@pytest.mark.parametrize("attention", [True, False])
def test_sampling_is_reproducible_and_matches_a_step_by_step_decoder(attention):
    cfg = DRAWConfig(**SMALL, attention=attention)
    model = DRAW(cfg)
    a = model.sample(4, generator=torch.Generator().manual_seed(5))
    b = model.sample(4, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a.canvases, b.canvases)
    assert a.canvases.shape == (cfg.steps, 4, 1, cfg.height, cfg.width)
    assert not torch.equal(a.canvases, model.sample(4, generator=torch.Generator().manual_seed(6)).canvases)
    # the batched path (fused decoder, all writes at once) equals the canvas built step by step
    state, canvas = model.decoder.initial_state(4), model.canvas0.expand(4, -1, -1, -1)
    w, bias = model.heads(encoder=False)
    with torch.no_grad():
        for t in range(cfg.steps):
            h, state = model.decoder.step(a.z[t], state)
            patch, params, _, _ = model.split_heads(torch.nn.functional.linear(h, w, bias))
            canvas = canvas + model.write_canvas(patch, params)[0]
            torch.testing.assert_close(a.canvases[t], canvas, atol=1e-5, rtol=1e-5)
    if attention:
        assert all(f.shape == (cfg.steps, 4) for f in a.writes)
    else:
        assert a.writes is None


def test_iwae_bound_is_a_log_weight_average():
    model = DRAW(DRAWConfig(**SMALL))
    x = binary(b=3)
    one = model.iwae_bound(x, 1, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ro = model.rollout(x, generator=torch.Generator().manual_seed(2))
        log_px = torch.distributions.Bernoulli(logits=ro.canvases[-1]).log_prob(x).sum((1, 2, 3))
        log_q = Normal(ro.mu, ro.log_sigma.exp()).log_prob(ro.z).sum((0, 2))
        log_p = Normal(0.0, 1.0).log_prob(ro.z).sum((0, 2))
    torch.testing.assert_close(one, -(log_px + log_p - log_q))
    many = model.iwae_bound(x, 64, generator=torch.Generator().manual_seed(3))
    single = torch.stack([model.iwae_bound(x, 1, generator=torch.Generator().manual_seed(s)) for s in range(64)])
    assert (many <= single.mean(0) + 1e-3).all()  # log of a mean ≥ mean of logs (Jensen)


def test_bad_input_fails_with_a_clear_message():
    with pytest.raises(ValueError, match="steps"):
        DRAWConfig(steps=0)
    with pytest.raises(ValueError, match="read_n=29 is larger than the 28×28 image"):
        DRAWConfig(read_n=29)
    with pytest.raises(ValueError, match="write_n=11 is larger"):
        DRAWConfig(height=10, width=20, write_n=11)
    with pytest.raises(ValueError, match="unknown core 'transformer'"):
        DRAWConfig(core="transformer")
    model = DRAW(DRAWConfig(**SMALL))
    with pytest.raises(ValueError, match="binary targets"):
        model.loss(torch.rand(2, 1, 12, 10))
    with pytest.raises(ValueError, match=r"shape \(B, 1, 12, 10\)"):
        model.loss(binary(h=28, w=28))
    with pytest.raises(ValueError, match=r"shape \(B, 1, 12, 10\)"):
        model.loss(binary()[0])
    with pytest.raises(ValueError, match="n must be >= 1"):
        model.sample(0)


def test_checkpoint_round_trip(tmp_path):
    model = DRAW(DRAWConfig(**SMALL, core="gru"))
    save_checkpoint(tmp_path / "d.pt", "draw", model)
    loaded = load_model(tmp_path / "d.pt", kind="draw")
    assert loaded.cfg == model.cfg
    g = torch.Generator
    torch.testing.assert_close(
        loaded.sample(2, generator=g().manual_seed(0)).canvases, model.sample(2, generator=g().manual_seed(0)).canvases
    )


def test_nan_stops_training_naming_the_step_and_keeps_the_last_checkpoint(tmp_path, mnist_data_root, monkeypatch):
    from train import draw as train_draw

    argv = ["--out", str(tmp_path), "--data-root", str(mnist_data_root), "--no-progress", "--val-size", "200"]
    argv += ["--train-limit", "256", "--epochs", "2", "--steps", "2", "--enc-size", "8", "--dec-size", "8"]
    argv += ["--z-size", "2", "--batch-size", "64", "--threads", "1"]
    calls = {"n": 0}
    real = train_draw.DrawRecipe.objective

    def poisoned(self, model, x):
        calls["n"] += 1
        out = real(self, model, x)
        return out._replace(total=out.total * float("nan")) if calls["n"] == 6 else out  # epoch 2, step 2

    monkeypatch.setattr(train_draw.DrawRecipe, "objective", poisoned)
    with pytest.raises(SystemExit, match="non-finite at epoch 2, optimiser step 6"):
        train_draw.main(argv)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 0 and all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_short_training_on_real_mnist_lowers_the_bound(tmp_path, mnist_data_root):
    from train.draw import main

    argv = ["--out", str(tmp_path), "--data-root", str(mnist_data_root), "--no-progress", "--val-size", "500"]
    argv += ["--train-limit", "4096", "--epochs", "3", "--steps", "6", "--enc-size", "64", "--dec-size", "64"]
    argv += ["--z-size", "10", "--read-n", "3", "--write-n", "4", "--batch-size", "32", "--lr", "3e-3"]
    argv += ["--threads", "1", "--iwae", "4", "--iwae-limit", "50"]
    results = main(argv)
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    start = 784 * torch.log(torch.tensor(2.0)).item()  # 543 nats: every pixel a coin flip
    assert results["test"]["bound"] < 0.5 * start, results
    assert lines[-1]["val_bound"] < lines[0]["val_bound"]
    assert results["test_iwae"]["bound"] < results["test"]["bound"] + 5
    assert load_model(tmp_path / "model.pt", kind="draw").cfg.steps == 6


def test_window_boxes_cover_the_filter_centres_and_a_stride():
    from glimpse.render import window_boxes

    box = window_boxes(torch.tensor([14.5]), torch.tensor([10.0]), torch.tensor([2.0]), 5)
    torch.testing.assert_close(box, torch.tensor([[9.0, 4.5, 19.0, 14.5]]))


def test_glimpse_draw_writes_a_gif_and_refuses_bad_options(tmp_path, capsys):
    from glimpse.cli import main

    ckpt = tmp_path / "d.pt"
    save_checkpoint(ckpt, "draw", DRAW(DRAWConfig(**{**SMALL, "height": 28, "width": 28})))
    out = tmp_path / "s.gif"
    assert main(["draw", "--checkpoint", str(ckpt), "--out", str(out), "--samples", "3"]) == 0
    assert out.stat().st_size > 0
    assert main(["draw", "--checkpoint", str(ckpt), "--out", str(out)]) == 2  # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert main(["draw", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.gif"), "--samples", "0"]) == 2
    assert main(["draw", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.gif").exists()


def test_glimpse_draw_reconstructs_test_digits(mnist_data_root, tmp_path):
    from PIL import Image

    from glimpse.cli import main

    ckpt = tmp_path / "d.pt"
    save_checkpoint(ckpt, "draw", DRAW(DRAWConfig(**{**SMALL, "height": 28, "width": 28})))
    out = tmp_path / "r.gif"
    argv = ["draw", "--checkpoint", str(ckpt), "--reconstruct", "--samples", "2", "--out", str(out)]
    assert main([*argv, "--data-root", str(mnist_data_root)]) == 0
    assert Image.open(out).n_frames >= SMALL["steps"]  # one frame per step at least
    small = DRAW(DRAWConfig(**{**SMALL, "height": 20, "width": 20}))
    save_checkpoint(tmp_path / "s.pt", "draw", small)
    argv = ["draw", "--checkpoint", str(tmp_path / "s.pt"), "--reconstruct", "--out", str(tmp_path / "x.gif")]
    assert main([*argv, "--data-root", str(mnist_data_root)]) == 2  # not a model of 28×28 digits


def test_float64_images_are_cast_to_the_models_dtype():
    model = DRAW(DRAWConfig(**SMALL))
    c = model.cfg
    x = (torch.rand(3, c.channels, c.height, c.width) > 0.5).double()
    g = torch.Generator().manual_seed(0)
    loss = model.loss(x, torch.Generator().manual_seed(0)).total
    assert loss.dtype == torch.float32
    assert torch.equal(loss, model.loss(x.float(), torch.Generator().manual_seed(0)).total)
    assert model.iwae_bound(x, 2, g).dtype == torch.float32
    with pytest.raises(ValueError, match="floating-point"):
        model.rollout(x.to(torch.uint8))
