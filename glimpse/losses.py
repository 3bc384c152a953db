"""RAM's hybrid loss: cross-entropy for the classifier, REINFORCE with a learned baseline for
the location policy, squared error for the baseline.

    r_t      = 1[argmax p_t(y | x) = y]                      reward of the classifier read out
               (``reward="prob"``: p_t(y | x);                 after glimpse t
               ``"log_prob"``: log p_t(y | x), Ba et al. 2015)
    G_t      = r_T                                           return of l_t (``reward_steps="last"``:
               (``reward_steps="all"``: Σ_{s≥t} r_s)           the paper's one reward after step T)
    L_class  = −log p_T(y | x)                               (``steps="all"``: mean over t of −log p_t)
    L_policy = −Σ_t log π(l_t | h_{t−1}) · (G_t − b_t)        b_t detached: the advantage
    L_base   = Σ_t (b_t − G_t)² / T                            does not train the policy
    L        = L_class + λ · L_policy + L_base                 (means over the batch)

With ``reward_steps="all"`` every glimpse's read-out is rewarded, so the policy gains by finding
the digit early; l_t is credited only with the rewards of glimpses t..T, which it can change.

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
from glimpse.soft import LossSteps


class RAMLoss(NamedTuple):
    total: Tensor  # scalar, what to backpropagate
    classification: Tensor  # scalar
    policy: Tensor  # scalar, the REINFORCE surrogate (unweighted)
    baseline: Tensor  # scalar
    reward: Tensor  # (B,) reward of each rollout
    correct: Tensor  # (B,) 1 where the final prediction is right, else 0


Reward = Literal["correct", "prob", "log_prob"]
REWARDS: tuple[str, ...] = typing.get_args(Reward)


def step_rewards(logits: Tensor, labels: Tensor, reward: Reward) -> Tensor:
    """Reward of each read-out.  logits: (..., B, classes), labels: (B,) long -> (..., B), no grad."""
    logits = logits.detach()
    if reward == "correct":
        return (logits.argmax(-1) == labels).to(logits.dtype)
    index = labels.expand(logits.shape[:-1]).unsqueeze(-1)  # (..., B, 1)
    log_p = logits.log_softmax(-1).gather(-1, index).squeeze(-1)  # (..., B)
    return log_p.exp() if reward == "prob" else log_p.clamp_min(math.log(1e-3))


def ram_loss(
    rollout: Rollout,
    labels: Tensor,
    reinforce_weight: float = 1.0,
    reward: Reward = "correct",
    steps: LossSteps = "last",
    reward_steps: LossSteps = "last",
) -> RAMLoss:
    """The hybrid loss of a rollout taken with ``policy="sample"``.  labels: (B,) long

    ``reward``: "correct" is the paper's 0/1 reward; "prob" rewards p(y | x) in [0, 1], which keeps
    a learning signal once nearly every rollout is right; "log_prob" rewards log p(y | x) (the
    variational reward of Ba, Mnih and Kavukcuoglu 2015), floored at log 1e-3.  ``steps`` and
    ``reward_steps``: the cross-entropy and the reward of the last glimpse only (the paper), or of
    every glimpse (see the module docstring).  ``RAMLoss.reward`` is the last glimpse's reward."""
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
    for name, value in (("steps", steps), ("reward_steps", reward_steps)):
        if value not in ("last", "all"):
            raise ValueError(f"{name} must be 'last' or 'all', got {value!r}")
    logits = rollout.logits  # (T, B, classes)
    T = logits.shape[0]
    if steps == "last":
        classification = F.cross_entropy(logits[-1], labels)
    else:  # (T·B, classes) against the labels repeated T times, t-major like the flattened logits
        classification = F.cross_entropy(logits.flatten(0, 1), labels.repeat(T))
    correct = step_rewards(logits[-1], labels, "correct")  # (B,)
    if reward_steps == "last":
        reward_t = step_rewards(logits[-1], labels, reward)  # (B,)
        returns = reward_t.unsqueeze(0).expand(T, -1)  # (T, B)
    else:
        rewards = step_rewards(logits, labels, reward)  # (T, B)
        reward_t = rewards[-1]
        returns = rewards.flip(0).cumsum(0).flip(0)  # (T, B) G_t = Σ_{s≥t} r_s
    advantage = returns - rollout.baselines.detach()  # (T, B)
    policy = -(rollout.log_probs * advantage).sum(0).mean()
    baseline = F.mse_loss(rollout.baselines, returns)
    total = classification + reinforce_weight * policy + baseline
    return RAMLoss(total, classification, policy, baseline, reward_t, correct)


def imitation_loss(means: Tensor, places: Tensor) -> Tensor:
    """Squared distance of location-policy means to a teacher's places, summed over (x, y) and
    averaged over steps and the batch.  means, places: (T, B, 2) -> ()"""
    return (means - places.to(means.dtype)).square().sum(-1).mean()
