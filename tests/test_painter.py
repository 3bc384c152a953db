"""The stroke painter and the per-image fitting reference."""

from __future__ import annotations

import pytest
import torch

from glimpse.canvas import blank, paint
from glimpse.checkpoint import load_model, save_checkpoint
from glimpse.fit import fit_strokes
from glimpse.painter import Painter, PainterConfig, mse_by_strokes, paint_loss, stroke_sequence


def small_painter(**kw) -> Painter:
    cfg = dict(size=16, channels=3, steps=3, strokes_per_step=2, hidden=32, width=8, colour="head")
    cfg.update(kw)
    return Painter(PainterConfig(**cfg))


def synthetic_targets(n: int, size: int, seed: int) -> torch.Tensor:
    """Pictures of two random broad strokes each: the painter's strokes can match them."""
    g = torch.Generator().manual_seed(seed)
    s = torch.rand(n, 2, 13, generator=g)
    s[..., 6:8] = 0.5 + 0.4 * s[..., 6:8]  # broad
    s[..., 8:10] = 1.0
    return paint(blank(n, 3, size, size), s)


def test_rollout_shapes_and_step_interface():
    torch.manual_seed(0)
    model = small_painter()
    x = torch.rand(4, 3, 16, 16)
    r = model.rollout(x)
    assert r.strokes.shape == (3, 4, 2, 13) and r.canvases.shape == (3, 4, 3, 16, 16)
    assert r.strokes.min() >= 0 and r.strokes.max() <= 1
    # the rollout is initial_state + step, painting as it goes
    state, canvas = model.initial_state(4), blank(4, 3, 16, 16)
    for t in range(3):
        strokes, state = model.step(x, canvas, torch.full((4,), t / 3), state)
        canvas = paint(canvas, strokes)
        assert torch.allclose(canvas, r.canvases[t], atol=1e-6)
    # strokes are resolution-free: a 32² target is painted at 32² with the same strokes
    big = model.rollout(torch.nn.functional.interpolate(x, scale_factor=2))
    assert big.canvases.shape[-1] == 32
    # per-stroke errors after n strokes agree with the canvases after whole steps
    errs = mse_by_strokes(stroke_sequence(r), x, [2, 6])
    assert torch.allclose(errs[6], (r.canvases[-1] - x).pow(2).mean(dim=(1, 2, 3)), atol=1e-6)
    assert torch.allclose(errs[2], (r.canvases[0] - x).pow(2).mean(dim=(1, 2, 3)), atol=1e-6)


def encoder_features(model: Painter, *targets: torch.Tensor) -> list[torch.Tensor]:
    """What the encoder makes of each target on a blank canvas at step 0."""
    seen = []
    hook = model.encoder.register_forward_hook(lambda m, i, o: seen.append(o))
    for x in targets:
        model.step(x, blank(*x.shape), torch.zeros(x.shape[0]), model.initial_state(x.shape[0]))
    hook.remove()
    return seen


def test_encoder_can_see_a_smaller_picture():
    torch.manual_seed(0)
    model = small_painter(size=32, encoder_size=16)
    x = torch.rand(2, 3, 32, 32)
    r = model.rollout(x)
    assert r.canvases.shape == (3, 2, 3, 32, 32)
    # a checkerboard with zero mean over each 2×2 block is invisible to an encoder at 16²...
    board = 0.05 * (torch.arange(32).view(-1, 1) + torch.arange(32)).remainder(2).mul(2).sub(1)
    plain, checked = encoder_features(model, x, x + board)
    assert torch.allclose(plain, checked, atol=1e-5)
    # ...but not to one at 32²
    plain, checked = encoder_features(small_painter(size=32, encoder_size=32), x, x + board)
    assert not torch.allclose(plain, checked, atol=1e-5)


@pytest.mark.parametrize("channels", [3, 1])
def test_solved_colours_are_in_the_strokes_and_beat_the_heads(channels):
    torch.manual_seed(0)
    head = small_painter(channels=channels)
    solved = small_painter(channels=channels, colour="solved")
    solved.load_state_dict(head.state_dict())
    x = torch.rand(4, channels, 16, 16)
    with torch.no_grad():
        r, h = solved.rollout(x), head.rollout(x)
    # the first step's geometry is the same (later steps see other canvases), its colours differ
    # (grey on one channel); painting the returned strokes again gives the rollout's canvas, so
    # rendering, evaluation and GIFs need no colour solver
    assert torch.equal(r.strokes[0, ..., :10], h.strokes[0, ..., :10])
    assert not torch.allclose(r.strokes[0, ..., 10:], h.strokes[0, ..., 10:])
    if channels == 1:
        assert torch.equal(r.strokes[..., 10], r.strokes[..., 12])
    canvas = paint(blank(4, channels, 16, 16), stroke_sequence(r))
    assert torch.allclose(canvas, r.canvases[-1], atol=1e-5)
    assert (r.canvases[-1] - x).pow(2).mean() < (h.canvases[-1] - x).pow(2).mean()


def test_relative_loss_is_the_mean_loss_rescaled_by_its_own_value():
    torch.manual_seed(0)
    model = small_painter()
    x = torch.rand(4, 3, 16, 16)
    grads = []
    for relative in (False, True):
        model.zero_grad()
        loss, per_step = paint_loss(model.rollout(x), x, relative=relative)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    mean = per_step.mean()
    assert torch.allclose(loss, torch.tensor(0.01))  # the value is the scale; the gradient is what counts
    assert torch.allclose(grads[1], grads[0] * 0.01 / mean, rtol=1e-4, atol=1e-9)


def test_short_training_run_beats_the_blank_canvas():
    torch.manual_seed(0)
    model = small_painter()
    train = synthetic_targets(64, 16, seed=1)
    test = synthetic_targets(32, 16, seed=2)
    blank_loss = test.pow(2).mean().item()
    with torch.no_grad():
        before = paint_loss(model.rollout(test), test)[1][-1].item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        x = train[torch.randint(0, 64, (16,))]
        loss, _ = paint_loss(model.rollout(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = paint_loss(model.rollout(test), test)[1][-1].item()
    assert after < 0.6 * blank_loss, (blank_loss, before, after)  # about 0.5 after 150 steps
    assert after < 0.6 * before


def test_fit_recovers_a_known_stroke():
    known = torch.tensor([[[0.2, 0.3, 0.6, 0.2, 0.8, 0.7, 0.3, 0.15, 0.9, 0.8, 0.9, 0.3, 0.1]]])
    target = paint(blank(1, 3, 32, 32), known)
    g = torch.Generator().manual_seed(0)
    init = (known + 0.08 * torch.randn(known.shape, generator=g)).clamp(0.02, 0.98)
    fit = fit_strokes(target, 1, iters=200, lr=0.02, init=init)
    assert fit.mse.item() < 1e-3 * target.pow(2).mean().item()
    assert (fit.strokes - known)[..., [0, 1, 4, 5, 10, 11, 12]].abs().max() < 0.01  # ends and colour
    assert fit.history[-1] < fit.history[0]


def test_fit_from_its_own_start_lowers_the_error():
    target = synthetic_targets(2, 24, seed=3)
    fit = fit_strokes(target, 8, iters=60, lr=0.05, generator=torch.Generator().manual_seed(0))
    assert fit.strokes.shape == (2, 8, 13)
    assert fit.mse.mean() < 0.3 * target.pow(2).mean()


def test_painter_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = small_painter(core="gru", style="oil")
    save_checkpoint(tmp_path / "p.pt", "painter", model)
    loaded = load_model(tmp_path / "p.pt", kind="painter")
    assert loaded.cfg == model.cfg
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model.rollout(x).strokes, loaded.rollout(x).strokes)


def test_error_peaks_are_deterministic_and_spread():
    from glimpse.painter import error_peaks

    target = torch.zeros(1, 1, 32, 32)
    target[..., 4:8, 4:8] = 1.0  # two bright squares: the peaks of the error lie on them
    target[..., 20:28, 22:30] = 1.0
    peaks = error_peaks(target, torch.zeros_like(target), 2, sigma=2.0)
    px = (peaks[0] * 32).tolist()
    assert any(20 <= x <= 30 and 18 <= y <= 28 for x, y in px) and any(3 <= x <= 9 and 3 <= y <= 9 for x, y in px)
    flat = torch.full((2, 3, 16, 16), 0.5)  # no error anywhere: ties, broken the same way every call
    tied = error_peaks(flat, flat.clone(), 4, sigma=1.0)
    assert torch.equal(tied, error_peaks(flat, flat.clone(), 4, sigma=1.0))
    assert torch.equal(tied[0], tied[1])  # the tie-break does not depend on the batch
    assert len({tuple(p) for p in tied[0].tolist()}) == 4  # k distinct points, not one repeated


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_painter_on_gpu_matches_cpu():
    torch.manual_seed(0)
    model = small_painter().eval()
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        cpu = model.rollout(x).canvases[-1]
        gpu = model.cuda().rollout(x.cuda()).canvases[-1].cpu()
    assert torch.allclose(gpu, cpu, atol=1e-3)


def test_fitting_a_float64_target():
    target = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    fit = fit_strokes(target, 4, iters=3, generator=torch.Generator().manual_seed(0))
    assert fit.strokes.dtype == torch.float64 and fit.canvas.dtype == torch.float64
