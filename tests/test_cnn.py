"""The CNN baseline: shapes at every task's size, learning, bad configs, evaluation, checkpoints,
and its training entry point."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from glimpse.checkpoint import load_model, save_checkpoint
from glimpse.cnn import CNN, CNNConfig
from glimpse.evaluate import all_protocols, error_rate, predict

from .test_soft import squares


@pytest.mark.parametrize("side", [28, 60, 100])
@pytest.mark.parametrize(("widths", "pooling", "pool_size"), [("32,64,64", "max", 1), ("8,8,8,8,8,8", "avg", 2)])
def test_logits_for_every_task_size(side, widths, pooling, pool_size):
    cfg = CNNConfig(height=side, width=side, conv_channels=widths, pooling=pooling, pool_size=pool_size)
    model = CNN(cfg)
    assert model(torch.rand(3, 1, side, side)).shape == (3, 10)
    assert len([m for m in model.features if isinstance(m, torch.nn.Conv2d)]) == len(cfg.widths)


def test_bad_configs_and_inputs_are_named():
    with pytest.raises(ValueError, match="comma-separated integers"):
        CNNConfig(conv_channels="32,x")
    with pytest.raises(ValueError, match=">= 1"):
        CNNConfig(conv_channels="32,0")
    with pytest.raises(ValueError, match="odd"):
        CNNConfig(kernel_size=4)
    with pytest.raises(ValueError, match="pooling"):
        CNNConfig(pooling="sum")
    with pytest.raises(ValueError, match="dropout"):
        CNNConfig(dropout=1.0)
    with pytest.raises(ValueError, match="28×28"):
        CNN(CNNConfig())(torch.rand(2, 1, 60, 60))
    with pytest.raises(ValueError, match="channel"):
        CNN(CNNConfig())(torch.rand(2, 3, 28, 28))


def test_it_learns_a_small_task():
    torch.manual_seed(0)
    model = CNN(CNNConfig(height=16, width=16, classes=4, conv_channels="8,16", hidden=16))
    train, test = squares(512, 0), squares(256, 1)
    before = error_rate(model, test, "mean")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        for x, y in train.batches(32, shuffle=True, generator=gen):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    after = error_rate(model, test, "mean")
    assert after < 0.25 < before, (before, after)  # chance is 0.75


def test_evaluate_protocols_collapse_to_its_one_prediction():
    model, data = CNN(CNNConfig(height=16, width=16, classes=4, conv_channels="4,4", hidden=8)), squares(64, 2)
    model.train()
    results = all_protocols(model, data, rollouts=3, seed=1)
    assert model.training  # the mode comes back
    assert set(results) == {"stochastic", "mean"} and results["stochastic"] == results["mean"]
    x = data.images[:8]
    model.eval()
    expect = model(x).softmax(-1)
    for protocol in ("stochastic", "mean", "average"):
        torch.testing.assert_close(predict(model, x, protocol, 3), expect)
    with pytest.raises(ValueError, match="no glimpses"):
        predict(model, x, "random")


def test_checkpoint_round_trip(tmp_path):
    cfg = CNNConfig(height=60, width=60, conv_channels="4,8,8", pool_size=2, dropout=0.1)
    model = CNN(cfg).eval()
    save_checkpoint(tmp_path / "cnn.pt", "cnn", model)
    loaded = load_model(tmp_path / "cnn.pt", kind="cnn")
    x = torch.rand(3, 1, 60, 60)
    assert loaded.cfg == cfg
    torch.testing.assert_close(loaded(x), model(x))


def test_train_cnn_writes_results_and_a_model_that_loads_with_no_flags(mnist_data_root, tmp_path):
    from train import cnn as train_cnn

    out = tmp_path / "run"
    argv = ["--data-root", str(mnist_data_root), "--out", str(out), "--no-progress", "--threads", "1"]
    argv += ["--train-limit", "256", "--val-size", "256", "--epochs", "1", "--batch-size", "64"]
    argv += ["--conv-channels", "8,16", "--hidden", "16"]
    train_cnn.main(argv)
    results = json.loads((out / "results.json").read_text())
    assert set(results["test"]) == {"stochastic", "mean"}
    model = load_model(out / "model.pt")
    assert isinstance(model, CNN) and model.cfg.conv_channels == "8,16" and model.cfg.hidden == 16
