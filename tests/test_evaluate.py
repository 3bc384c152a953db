"""Evaluation protocols and training schedules on synthetic data (no MNIST needed)."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch

from glimpse.cnn import CNN, CNNConfig
from glimpse.data import ImageSet, Splits
from glimpse.evaluate import all_protocols, error_rate, predict
from glimpse.ram import RAM, RAMConfig
from glimpse.soft import SoftAttention, SoftAttentionConfig
from train import loop, ram


def small_ram(**kw) -> RAM:
    cfg = dict(hidden=24, what_size=8, where_size=8, glimpse_out=16, glimpses=3, height=16, width=16)
    return RAM(RAMConfig(**{**cfg, **kw}))


def synthetic(n: int, seed: int) -> ImageSet:
    """Bright squares whose position is the class (4 classes): learnable by looking around."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = torch.zeros(n, 1, 16, 16)
    for c in range(4):
        r, col = divmod(c, 2)
        images[labels == c, :, 8 * r : 8 * r + 8, 8 * col : 8 * col + 8] = 1.0
    return ImageSet(images * 0.9 + 0.1 * torch.rand(n, 1, 16, 16, generator=g), labels)


def test_a_protocol_gives_the_same_number_for_the_same_seed():
    model, data = small_ram(classes=4), synthetic(200, 0)
    for protocol in ("stochastic", "average", "random"):
        a = error_rate(model, data, protocol, rollouts=3, seed=7, batch_size=64)
        assert a == error_rate(model, data, protocol, rollouts=3, seed=7, batch_size=64)
    assert error_rate(model, data, "mean") == error_rate(model, data, "mean", seed=99)  # no sampling


def test_the_random_glimpse_controls_protocols_ignore_the_global_random_state():
    # the control looks at random places whatever the protocol: its draws come from the seed
    model, data = small_ram(classes=4, random_glimpses=True), synthetic(200, 0)
    measured = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        measured.append(all_protocols(model, data, rollouts=2, seed=7))
        probs = predict(model, data.images, "mean", generator=torch.Generator().manual_seed(7))
        measured[-1]["probs"] = probs
    assert torch.equal(measured[0].pop("probs"), measured[1].pop("probs"))
    assert measured[0] == measured[1]


def test_average_is_the_mean_of_its_rollouts():
    model, x = small_ram(classes=4).eval(), synthetic(32, 1).images
    averaged = predict(model, x, "average", 4, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    each = torch.stack([predict(model, x, "stochastic", generator=g) for _ in range(4)])
    torch.testing.assert_close(averaged, each.mean(0))


def test_error_rate_restores_the_mode():
    model, data = small_ram(classes=4), synthetic(40, 2)
    model.train()
    error_rate(model, data, "stochastic")
    assert model.training
    model.eval()
    error_rate(model, data, "stochastic")
    assert not model.training
    names = set(all_protocols(model, data, rollouts=2))
    assert names == {"stochastic", "mean", "average2", "random_locations"}


def test_protocols_follow_what_a_model_samples():
    """RAM samples; the soft-attention classifier samples nothing but can be sent to random places;
    the CNN has no glimpses: the protocols each reports, and which of them coincide."""
    data = synthetic(64, 4)
    soft = SoftAttention(SoftAttentionConfig(height=16, width=16, classes=4, read_n=4, glimpses=2, hidden=8))
    cnn = CNN(CNNConfig(height=16, width=16, classes=4, conv_channels="4", hidden=8))
    keys = {
        name: set(all_protocols(m, data, rollouts=2))
        for name, m in (("ram", small_ram(classes=4)), ("soft", soft), ("cnn", cnn))
    }
    assert keys["ram"] == keys["soft"] == {"stochastic", "mean", "average2", "random_locations"}
    assert keys["cnn"] == {"stochastic", "mean"}
    for model in (soft, cnn):
        assert error_rate(model, data, "stochastic", seed=1) == error_rate(model, data, "mean")
    assert error_rate(soft, data, "random", seed=3) == error_rate(soft, data, "random", seed=3)
    with pytest.raises(ValueError, match="unknown protocol"):
        error_rate(soft, data, "greedy")


def test_the_baseline_reads_the_state_before_each_glimpse():
    model = small_ram(classes=4)
    r = model.rollout(synthetic(8, 3).images)
    h0 = torch.zeros(8, 24)
    before = torch.cat([h0[None], r.hidden[:-1]])  # h_0 .. h_{T-1}
    torch.testing.assert_close(r.baselines, model.baseline(before).squeeze(-1))
    assert not torch.allclose(r.baselines, model.baseline(r.hidden).squeeze(-1))  # not h_t


class SyntheticRAM(ram.RAMRecipe):
    """train.ram's recipe on the synthetic squares; it records σ at every training rollout."""

    seen: ClassVar[list[float]] = []

    def load_data(self) -> None:
        self.splits = Splits(synthetic(256, 0), synthetic(64, 1), synthetic(64, 2), None)
        self.train, self.loss = self.splits.train, ram.loss_function(self.args)

    def build_model(self) -> RAM:
        return small_ram(classes=4, loc_std=self.args.model.loc_std)

    def objective(self, model, x, y):
        self.seen.append(model.policy.std.item())
        return super().objective(model, x, y)


def test_the_sigma_schedule_is_what_the_optimiser_steps_use(tmp_path):
    SyntheticRAM.seen = []
    argv = ["--out", str(tmp_path / "run"), "--epochs", "4", "--batch-size", "32", "--no-progress", "--threads", "1"]
    argv += ["--loc-std", "0.2", "--loc-std-final", "0.02", "--anneal-from", "0.5", "--augment-shift", "0"]
    results = loop.main(SyntheticRAM, ram.Args, argv, None)
    total = 4 * 256 // 32
    expected = [0.2] + [ram.annealed_std(k / total, 0.2, 0.02, 0.5) for k in range(1, total)]
    assert SyntheticRAM.seen == pytest.approx(expected, rel=1e-5)  # step k samples with σ after k updates
    assert results["test"]["stochastic"] <= 1.0 and "average10" in results["test"]
