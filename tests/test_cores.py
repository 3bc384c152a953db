"""The three cores behind one interface."""

from __future__ import annotations

import pytest
import torch

from glimpse.cores import GRUCore, LSTMCore, RNNCore, make_core


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 3])
def test_interface_shapes_and_carry(kind, layers):
    core = make_core(kind, 5, 7, layers)
    state = core.initial_state(4)
    assert all(s.shape == (layers, 4, 7) and not s.any() for s in state)
    assert len(state) == (2 if kind == "lstm" else 1)
    x = torch.randn(4, 5)
    out, state1 = core.step(x, state)
    assert out.shape == (4, 7)
    torch.testing.assert_close(out, state1[0][-1])  # the output is the top layer's h
    out2, _ = core.step(x, state1)
    assert not torch.allclose(out, out2)  # the state is carried


def test_rnn_is_the_relu_elman_update():
    core = RNNCore(3, 4)
    cell = core.cells[0]
    x, h = torch.randn(2, 3), torch.randn(1, 2, 4)
    out, _ = core.step(x, (h,))
    expected = torch.relu(x @ cell.weight_ih.T + cell.bias_ih + h[0] @ cell.weight_hh.T + cell.bias_hh)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(("cls", "torch_cls"), [(LSTMCore, torch.nn.LSTM), (GRUCore, torch.nn.GRU)])
def test_stacked_cores_match_torch_multilayer_modules(cls, torch_cls):
    core = cls(3, 4, layers=2)
    ref = torch_cls(3, 4, num_layers=2)
    with torch.no_grad():
        for i, cell in enumerate(core.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l{i}").copy_(getattr(cell, name))
    xs = torch.randn(5, 2, 3)
    state = core.initial_state(2)
    outs = []
    for x in xs:
        out, state = core.step(x, state)
        outs.append(out)
    ref_out, _ = ref(xs)
    torch.testing.assert_close(torch.stack(outs), ref_out)


def test_lstm_forget_bias_starts_at_one():
    cell = LSTMCore(3, 4).cells[0]
    assert torch.all(cell.bias_ih[4:8] + cell.bias_hh[4:8] == 1)


def test_unknown_core_is_named():
    with pytest.raises(ValueError, match="unknown core 'transformer'"):
        make_core("transformer", 3, 4)
