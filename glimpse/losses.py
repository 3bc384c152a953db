"""RAM's hybrid loss: cross-entropy for the classifier, REINFORCE with a learned baseline for
the location policy, squared error for the baseline.

    R        = 1[argmax p(y | x) = y]                        reward, given once after step T
    L_class  = −log p(y | x)
    L_policy = −Σ_t log π(l_t | h_{t−1}) · (R − b_t)          b_t detached: the advantage
    L_base   = Σ_t (b_t − R)² / T                              does not train the policy
    L        = L_class + λ · L_policy + L_base                 (means over the batch)

The rollout detaches each sampled l_t before it is fed back and before log π is taken, so
``L_class`` sends no gradient to the location head, and ``L_policy`` reaches the core only when
``RAMConfig.reinforce_core`` is set.
"""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor

from glimpse.ram import Rollout


class RAMLoss(NamedTuple):
    total: Tensor  # scalar, what to backpropagate
    classification: Tensor  # scalar
    policy: Tensor  # scalar, the REINFORCE surrogate (unweighted)
    baseline: Tensor  # scalar
    reward: Tensor  # (B,) 0/1 reward of each rollout


def ram_loss(rollout: Rollout, labels: Tensor, reinforce_weight: float = 1.0) -> RAMLoss:
    """The hybrid loss of a rollout taken with ``policy="sample"``.  labels: (B,) long"""
    logits = rollout.logits[-1]  # (B, classes)
    classification = F.cross_entropy(logits, labels)
    reward = (logits.detach().argmax(-1) == labels).to(logits.dtype)  # (B,)
    advantage = reward.unsqueeze(0) - rollout.baselines.detach()  # (T, B)
    policy = -(rollout.log_probs * advantage).sum(0).mean()
    baseline = F.mse_loss(rollout.baselines, reward.unsqueeze(0).expand_as(rollout.baselines))
    total = classification + reinforce_weight * policy + baseline
    return RAMLoss(total, classification, policy, baseline, reward)
