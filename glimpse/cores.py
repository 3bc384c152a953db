"""Recurrent cores behind one interface: vanilla (Elman) RNN, LSTM and GRU, with layers.

Every core exposes

    state = core.initial_state(batch)        # zeros, on the core's device and dtype
    out, state = core.step(x, state)         # x: (B, input_size) -> out: (B, hidden_size)

``out`` is the top layer's hidden output. ``state`` is a tuple of tensors, one ``(L, B, H)`` tensor
per kind of state (``(h,)`` for RNN and GRU, ``(h, c)`` for LSTM), so models can carry, detach
and store it without knowing which core they hold.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]
CoreKind = Literal["rnn", "lstm", "gru"]


class Core(nn.Module):
    """Base class: a stack of ``layers`` cells of width ``hidden_size``."""

    n_states = 1

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1 or layers < 1:
            raise ValueError(
                f"input_size, hidden_size and layers must be >= 1, got {input_size}, {hidden_size}, {layers}"
            )
        self.input_size, self.hidden_size, self.layers = input_size, hidden_size, layers
        self.cells = nn.ModuleList(
            self.make_cell(input_size if i == 0 else hidden_size, hidden_size) for i in range(layers)
        )

    def make_cell(self, input_size: int, hidden_size: int) -> nn.Module:
        raise NotImplementedError

    def initial_state(self, batch: int) -> State:
        p = next(self.parameters())
        shape = (self.layers, batch, self.hidden_size)
        return tuple(p.new_zeros(shape) for _ in range(self.n_states))

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        if self.layers == 1:  # views only (squeeze/unsqueeze), so backward stays cheap
            x, layer_state = self.cell_step(self.cells[0], x, tuple(s.squeeze(0) for s in state))
            return x, tuple(s.unsqueeze(0) for s in layer_state)
        layer_states = []
        for i, cell in enumerate(self.cells):
            x, layer_state = self.cell_step(cell, x, tuple(s[i] for s in state))
            layer_states.append(layer_state)
        return x, tuple(torch.stack(s) for s in zip(*layer_states, strict=True))

    def cell_step(self, cell: nn.Module, x: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        h = cell(x, h)
        return h, (h,)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.step(x, state)


class RNNCore(Core):
    """Elman RNN, ``h' = act(W_i x + W_h h + b)``; ReLU as in RAM's classification core."""

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1, nonlinearity: str = "relu") -> None:
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, layers)

    def make_cell(self, input_size: int, hidden_size: int) -> nn.Module:
        return nn.RNNCell(input_size, hidden_size, nonlinearity=self.nonlinearity)


class LSTMCore(Core):
    """LSTM with forget-gate bias 1 (Jozefowicz et al. 2015); state ``(h, c)``."""

    n_states = 2

    def make_cell(self, input_size: int, hidden_size: int) -> nn.Module:
        cell = nn.LSTMCell(input_size, hidden_size)
        with torch.no_grad():
            cell.bias_ih[hidden_size : 2 * hidden_size].fill_(1.0)
            cell.bias_hh[hidden_size : 2 * hidden_size].zero_()
        return cell

    def cell_step(self, cell: nn.Module, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = cell(x, state)
        return h, (h, c)


class GRUCore(Core):
    """Gated recurrent unit (Cho et al. 2014)."""

    def make_cell(self, input_size: int, hidden_size: int) -> nn.Module:
        return nn.GRUCell(input_size, hidden_size)


CORES: dict[str, type[Core]] = {"rnn": RNNCore, "lstm": LSTMCore, "gru": GRUCore}


def make_core(kind: str, input_size: int, hidden_size: int, layers: int = 1) -> Core:
    """Build a core by name: ``"rnn"`` (ReLU Elman), ``"lstm"`` or ``"gru"``."""
    if kind not in CORES:
        raise ValueError(f"unknown core {kind!r}; choose one of {sorted(CORES)}")
    return CORES[kind](input_size, hidden_size, layers)
