"""RAM: rollout shapes, gradient routing of the hybrid loss, checkpoints, bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from glimpse.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from glimpse.losses import ram_loss
from glimpse.ram import RAM, RAMConfig


def small(**kw) -> RAMConfig:
    base = dict(
        height=12,
        width=16,
        channels=2,
        classes=3,
        glimpse_size=4,
        scales=2,
        glimpses=3,
        what_size=8,
        where_size=8,
        glimpse_out=16,
        hidden=16,
    )
    return RAMConfig(**{**base, **kw})


def batch(cfg: RAMConfig, b: int = 6):
    return torch.rand(b, cfg.channels, cfg.height, cfg.width), torch.randint(0, cfg.classes, (b,))


def grads(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, torch.Tensor | None]:
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    return {n: p.grad for n, p in model.named_parameters()}


def moved(g: torch.Tensor | None) -> bool:
    return g is not None and bool(g.abs().sum() > 0)


@pytest.mark.parametrize("core", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("policy", ["sample", "mean", "random"])
def test_rollout_shapes(core, policy):
    cfg = small(core=core, layers=2)
    x, _ = batch(cfg)
    r = RAM(cfg).rollout(x, policy)
    t, b = cfg.glimpses, x.shape[0]
    assert r.locations.shape == r.means.shape == (t, b, 2)
    assert r.log_probs.shape == r.baselines.shape == (t, b)
    assert r.logits.shape == r.class_probs.shape == (t, b, cfg.classes)
    assert r.hidden.shape == (t, b, cfg.hidden)
    assert r.locations.abs().max() <= 1 and not r.locations.requires_grad
    torch.testing.assert_close(r.class_probs.sum(-1), torch.ones(t, b))
    if policy == "mean":
        torch.testing.assert_close(r.locations, r.means.detach())


@pytest.mark.parametrize(("reinforce_core", "combine"), [(False, "sum"), (True, "sum"), (False, "product")])
def test_gradient_routing(reinforce_core, combine):
    cfg = small(reinforce_core=reinforce_core, learn_std=True, combine=combine)
    model = RAM(cfg)
    x, y = batch(cfg, 16)
    r = model.rollout(x, "sample")
    loss = ram_loss(r, y)
    policy_params = ("policy.mean.weight", "policy.mean.bias", "policy.log_std")

    ce = grads(model, loss.classification)
    assert not any(moved(ce[n]) for n in policy_params), "cross-entropy must not train the location head"
    assert moved(ce["classifier.weight"]) and moved(ce["core.cells.0.weight_hh"]) and moved(ce["glimpse.what.weight"])
    # The classifier's gradient does not reach the locations that were looked at.
    assert torch.autograd.grad(loss.classification, r.means, allow_unused=True, retain_graph=True)[0] is None

    rf = grads(model, loss.policy)
    assert all(moved(rf[n]) for n in policy_params), "REINFORCE must train the location head"
    assert not moved(rf["classifier.weight"]) and not moved(rf["baseline.weight"])
    assert moved(rf["core.cells.0.weight_ih"]) == reinforce_core

    bl = grads(model, loss.baseline)
    assert moved(bl["baseline.weight"])
    assert not any(moved(g) for n, g in bl.items() if not n.startswith("baseline.")), "baseline trains only itself"


def test_conv_what_pathway():
    """The convolutional 'what' pathway: same rollout record, its weights learn from the
    cross-entropy only, and the env bridge's features(retina) is the rollout's glimpse."""
    from glimpse.sensor import pad_images, retina

    for g in (4, 5, 8, 12):  # odd and even sides: the flattened size must match
        cfg = small(what_net="conv", glimpse_size=g, height=30, width=30)
        model = RAM(cfg)
        x, y = batch(cfg, 5)
        r = model.rollout(x, "sample")
        assert r.logits.shape == (cfg.glimpses, 5, cfg.classes)
    loss = ram_loss(r, y)
    ce, rf = grads(model, loss.classification), grads(model, loss.policy)
    assert moved(ce["glimpse.what.0.weight"]) and not moved(rf["glimpse.what.0.weight"])
    assert model.glimpse.what[0].in_channels == cfg.scales * cfg.channels
    loc = torch.rand(5, 2) * 2 - 1
    direct = model.glimpse(pad_images(x, cfg.glimpse_size, cfg.scales), loc)
    via_retina = model.glimpse.features(retina(x, loc, cfg.glimpse_size, cfg.scales), loc)
    torch.testing.assert_close(direct, via_retina)


def test_advantage_uses_detached_baseline_and_reward_is_correctness():
    cfg = small()
    model = RAM(cfg)
    x, y = batch(cfg, 32)
    r = model.rollout(x, "sample")
    loss = ram_loss(r, y, reinforce_weight=0.5)
    assert torch.equal(loss.reward, (r.logits[-1].argmax(-1) == y).float())
    advantage = loss.reward - r.baselines.detach()
    torch.testing.assert_close(loss.policy, -(r.log_probs * advantage).sum(0).mean())
    torch.testing.assert_close(loss.classification, F.cross_entropy(r.logits[-1], y))
    torch.testing.assert_close(loss.total, loss.classification + 0.5 * loss.policy + loss.baseline)


def test_graded_rewards_are_the_probability_of_the_label():
    cfg = small()
    model = RAM(cfg)
    x, y = batch(cfg, 32)
    r = model.rollout(x, "sample")
    p_label = r.logits[-1].softmax(-1).gather(1, y[:, None]).squeeze(1).detach()
    prob, log_prob = ram_loss(r, y, reward="prob"), ram_loss(r, y, reward="log_prob")
    torch.testing.assert_close(prob.reward, p_label)
    torch.testing.assert_close(log_prob.reward, p_label.log().clamp_min(math.log(1e-3)))
    assert torch.equal(prob.correct, (r.logits[-1].argmax(-1) == y).float())
    torch.testing.assert_close(prob.policy, -(r.log_probs * (prob.reward - r.baselines.detach())).sum(0).mean())
    with pytest.raises(ValueError, match="reward"):
        ram_loss(r, y, reward="accuracy")


def test_every_step_rewards_credit_each_location_with_the_later_read_outs():
    cfg = small(glimpses=4)
    model = RAM(cfg)
    x, y = batch(cfg, 32)
    r = model.rollout(x, "sample")
    T = cfg.glimpses
    log_p = r.logits.detach().log_softmax(-1).gather(2, y.expand(T, -1)[..., None]).squeeze(2)  # (T, B)
    rewards = log_p.clamp_min(math.log(1e-3))
    returns = torch.stack([rewards[t:].sum(0) for t in range(T)])  # G_t = r_t + ... + r_T
    loss = ram_loss(r, y, reward="log_prob", steps="all", reward_steps="all")
    torch.testing.assert_close(loss.policy, -(r.log_probs * (returns - r.baselines.detach())).sum(0).mean())
    torch.testing.assert_close(loss.baseline, F.mse_loss(r.baselines, returns))
    ce = torch.stack([F.cross_entropy(r.logits[t], y) for t in range(T)]).mean()
    torch.testing.assert_close(loss.classification, ce)
    torch.testing.assert_close(loss.reward, rewards[-1])
    # the first location is credited with every read-out, the last with the last one only
    assert not torch.allclose(returns[0], returns[-1])
    ce_grads = grads(model, ram_loss(r, y, steps="all").classification)
    assert not moved(ce_grads["policy.mean.weight"])  # still no cross-entropy in the location head
    last = ram_loss(r, y, reward="correct", reward_steps="all")
    torch.testing.assert_close(
        last.baseline, F.mse_loss(r.baselines, (r.logits.argmax(-1) == y).float().flip(0).cumsum(0).flip(0))
    )
    with pytest.raises(ValueError, match="reward_steps"):
        ram_loss(r, y, reward_steps="first")


def test_log_prob_is_the_gaussian_density_of_the_unclamped_draw():
    cfg = small(loc_std=0.8)  # wide: many draws fall outside [-1, 1]
    x = batch(cfg)[0]
    r = RAM(cfg).rollout(x, "sample", torch.Generator().manual_seed(3))
    replay = torch.Generator().manual_seed(3)  # the same noise, step by step
    noise = torch.stack([torch.randn(x.shape[0], 2, generator=replay) for _ in range(cfg.glimpses)])
    draws = r.means.detach() + 0.8 * noise
    assert (draws.abs() > 1).any()  # else clamping would not be tested
    torch.testing.assert_close(r.locations, draws.clamp(-1, 1))  # the sensor looks inside the box
    expected = torch.distributions.Normal(r.means, 0.8).log_prob(draws).sum(-1)
    torch.testing.assert_close(r.log_probs, expected)  # REINFORCE scores the draw itself


def test_random_control_ignores_the_policy():
    cfg = small(random_glimpses=True)
    r = RAM(cfg).rollout(batch(cfg)[0], "mean", torch.Generator().manual_seed(1))
    assert not torch.allclose(r.locations, r.means) and torch.all(r.log_probs == 0)


def test_given_locations_are_where_it_looks():
    cfg = small()
    model, x = RAM(cfg), batch(cfg)[0]
    where = torch.rand(cfg.glimpses, x.shape[0], 2) * 2.4 - 1.2  # some outside [-1, 1]: clamped
    r = model.rollout(x, "sample", locations=where)
    torch.testing.assert_close(r.locations, where.clamp(-1, 1))
    assert torch.all(r.log_probs == 0)  # REINFORCE learns nothing from a path it did not choose
    again = model.rollout(x, "mean", locations=where)
    torch.testing.assert_close(again.logits, r.logits)  # the policy argument no longer matters
    moved = where.clone()
    moved[-1] = -moved[-1]
    assert not torch.allclose(model.rollout(x, locations=moved).logits[-1], r.logits[-1])
    with pytest.raises(ValueError, match="locations must be"):
        model.rollout(x, locations=where[1:])


@pytest.mark.parametrize("what_net", ["linear", "conv"])
def test_checkpoint_round_trip(tmp_path, what_net):
    cfg = small(core="lstm", what_net=what_net)
    model = RAM(cfg)
    path = tmp_path / "ram.pt"
    save_checkpoint(path, "ram", model, epoch=3)
    loaded = load_model(path, kind="ram")
    assert loaded.cfg == cfg and load_checkpoint(path)["epoch"] == 3
    x, _ = batch(cfg)
    for policy in ("mean", "sample"):
        a = model.eval().rollout(x, policy, torch.Generator().manual_seed(5))
        b = loaded.rollout(x, policy, torch.Generator().manual_seed(5))
        for u, v in zip(a, b, strict=True):
            torch.testing.assert_close(u, v)


def test_bad_checkpoints_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    path = tmp_path / "ram.pt"
    save_checkpoint(path, "ram", RAM(small()))
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a glimpse checkpoint"):
        load_model(tmp_path / "other.pt")
    ckpt = load_checkpoint(path)
    ckpt["config"]["hidden"] = 32
    torch.save(ckpt, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="not 'draw'"):
        load_model(path, kind="draw")


def test_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ram.pt"
    save_checkpoint(path, "ram", RAM(small()), epoch=1)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, "ram", RAM(small()), epoch=2)
    assert load_checkpoint(path)["epoch"] == 1 and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.rand(2, 1, 12, 16), "channel"),
        (torch.rand(2, 2, 16, 16), "12×16"),
        (torch.rand(2, 12, 16), "shape"),
    ],
)
def test_bad_images_are_named(x, message):
    with pytest.raises(ValueError, match=message):
        RAM(small()).rollout(x)


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="glimpses"):
        RAMConfig(glimpses=0)
    with pytest.raises(ValueError, match="loc_std"):
        dataclasses.replace(RAMConfig(), loc_std=0.0)
    with pytest.raises(ValueError, match="what_net"):
        RAMConfig(what_net="mlp")


def test_locations_stay_float32_under_bfloat16_autocast():
    """--amp: the layers run in bfloat16, but where the glimpses go (and their log-probabilities)
    is float32, so a location is not rounded to bfloat16's 1/128 near the edge."""
    model = RAM(RAMConfig(height=60, width=60, glimpse_size=12, scales=3, glimpses=4, what_net="conv"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        r = model.rollout(torch.rand(8, 1, 60, 60), "sample")
    assert r.hidden.dtype == torch.bfloat16
    assert r.locations.dtype == r.means.dtype == r.log_probs.dtype == torch.float32
    ram_loss(r, torch.randint(0, 10, (8,))).total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 for g in grads)
