"""RAM's hybrid loss: cross-entropy for the classifier, REINFORCE with a learned baseline for
the location policy, squared error for the baseline.

    R        = 1[argmax p(y | x) = y]                        reward, given once after step T
               (``reward="prob"``: p(y | x); ``"log_prob"``: log p(y | x), Ba et al. 2015)
    L_class  = −log p(y | x)
    L_policy = −Σ_t log π(l_t | h_{t−1}) · (R − b_t)          b_t detached: the advantage
    L_base   = Σ_t (b_t − R)² / T                              does not train the policy
    L        = L_class + λ · L_policy + L_base                 (means over the batch)

The rollout detaches each sampled l_t before it is fed back and before log π is taken, so
``L_class`` sends no gradient to the location head, and ``L_policy`` reaches the core only when
``RAMConfig.reinforce_core`` is set.
"""

from __future__ import annotations

import math
import typing
from typing import Literal, NamedTuple

import torch.nn.functional as F
from torch import Tensor

from glimpse.ram import Rollout


class RAMLoss(NamedTuple):
    total: Tensor  # scalar, what to backpropagate
    classification: Tensor  # scalar
    policy: Tensor  # scalar, the REINFORCE surrogate (unweighted)
    baseline: Tensor  # scalar
    reward: Tensor  # (B,) reward of each rollout
    correct: Tensor  # (B,) 1 where the final prediction is right, else 0


Reward = Literal["correct", "prob", "log_prob"]
REWARDS: tuple[str, ...] = typing.get_args(Reward)


def ram_loss(rollout: Rollout, labels: Tensor, reinforce_weight: float = 1.0, reward: Reward = "correct") -> RAMLoss:
    """The hybrid loss of a rollout taken with ``policy="sample"``.  labels: (B,) long

    ``reward``: "correct" is the paper's 0/1 reward; "prob" rewards p(y | x) in [0, 1], which keeps
    a learning signal once nearly every rollout is right; "log_prob" rewards log p(y | x) (the
    variational reward of Ba, Mnih and Kavukcuoglu 2015), floored at log 1e-3."""
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
    logits = rollout.logits[-1]  # (B, classes)
    classification = F.cross_entropy(logits, labels)
    log_p = logits.detach().log_softmax(-1).gather(1, labels[:, None]).squeeze(1)  # (B,)
    correct = (logits.detach().argmax(-1) == labels).to(logits.dtype)  # (B,)
    if reward == "correct":
        reward_t = correct
    elif reward == "prob":
        reward_t = log_p.exp()
    else:
        reward_t = log_p.clamp_min(math.log(1e-3))
    advantage = reward_t.unsqueeze(0) - rollout.baselines.detach()  # (T, B)
    policy = -(rollout.log_probs * advantage).sum(0).mean()
    baseline = F.mse_loss(rollout.baselines, reward_t.unsqueeze(0).expand_as(rollout.baselines))
    total = classification + reinforce_weight * policy + baseline
    return RAMLoss(total, classification, policy, baseline, reward_t, correct)
