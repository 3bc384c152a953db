"""Counter-based episode randomness, shared by the single and the batched environments.

Every random choice of an episode (which image, where the digit and its distractors lie, a random
first glimpse) is a pure function of the environment's 62-bit *key* and the episode's number:
``episode_uniforms(key, episode, n)`` hashes them with SplitMix64 into ``n`` uniforms in [0, 1),
one tensor operation for a whole batch, on any device.

- A single environment draws its key from ``self.np_random`` when it is seeded (so all of its
  randomness comes from ``self.np_random``), and numbers its episodes from 0.
- A batched environment seeded ``s`` gives its environment ``i`` the key a single environment
  seeded ``s + i`` draws (:func:`key_for_seed`), Gymnasium's ``SyncVectorEnv`` convention. The two
  therefore play the same episodes, step for step, for any number of environments.
- ``reset(options=...)`` may choose instead (an image's index, a first location): the options are
  read and checked here (:func:`reset_options`, :func:`option_tensor`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium.utils import seeding
from torch import Tensor

from glimpse.errors import UsageError

KEY_BITS = 62
_M1 = 0xBF58476D1CE4E5B9 - 2**64  # SplitMix64's constants as signed 64-bit integers
_M2 = 0x94D049BB133111EB - 2**64
_GOLDEN = 0x9E3779B97F4A7C15 - 2**64


def key_from(rng: np.random.Generator) -> int:
    """A fresh 62-bit key drawn from a NumPy generator (a single environment's ``np_random``)."""
    return int(rng.integers(0, 2**KEY_BITS))


def key_for_seed(seed: int) -> int:
    """The key a single environment draws after ``reset(seed=seed)``."""
    rng, _ = seeding.np_random(seed)
    return key_from(rng)


def _shift_right(x: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 values (torch's ``>>`` is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _mix(x: Tensor) -> Tensor:
    """SplitMix64's finaliser on int64 tensors (multiplication wraps modulo 2^64)."""
    x = x ^ _shift_right(x, 30)
    x = x * _M1
    x = x ^ _shift_right(x, 27)
    x = x * _M2
    return x ^ _shift_right(x, 31)


def episode_uniforms(keys: Tensor, episodes: Tensor, count: int) -> Tensor:
    """Uniforms in [0, 1) for episodes of environments.

    keys, episodes: (B,) int64 (any device);  returns: (B, count) float64 on the same device
    """
    base = _mix(keys ^ _mix(episodes * _GOLDEN + 1))
    j = torch.arange(1, count + 1, device=keys.device, dtype=torch.int64) * _GOLDEN
    bits = _mix(base[:, None] + j)
    return _shift_right(bits, 11).double() * 2.0**-53


def uniform_ints(u: Tensor, n: int) -> Tensor:
    """Uniforms in [0, 1) -> integers in [0, n) (long, same shape)."""
    return (u * n).long().clamp_(0, n - 1)


def reset_options(options: Mapping[str, Any] | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    """``reset``'s options as a dict, refusing a name not in ``allowed`` (a misspelt option would
    otherwise be ignored without a word)."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UsageError(f"unknown reset option {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}")
    return options


def option_tensor(
    options: Mapping[str, Any], name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str
) -> Tensor | None:
    """The option ``name`` as a tensor of ``shape`` and ``dtype`` on ``device`` (None when absent);
    a wrong shape, or a fractional number where an integer (an index) is wanted, is refused."""
    value = options.get(name)
    if value is None:
        return None
    t = torch.as_tensor(np.asarray(value.cpu() if isinstance(value, Tensor) else value))
    if tuple(t.shape) != shape:
        raise ValueError(f"options[{name!r}] must have shape {shape}, got {tuple(t.shape)}")
    if (
        not dtype.is_floating_point
        and dtype != torch.bool
        and t.is_floating_point()
        and not bool((t == t.round()).all())
    ):
        raise ValueError(f"options[{name!r}] must hold whole numbers, got {value!r}")
    return t.to(device=device, dtype=dtype)
