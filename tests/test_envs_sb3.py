"""Stable-Baselines3 on the environments, as a user would run it (skipped without SB3: the rl extra)."""

from __future__ import annotations

import gymnasium
import pytest
import torch

import envs  # noqa: F401  (registers the ids)
from tests.test_envs import small_digits, small_pictures

sb3 = pytest.importorskip("stable_baselines3")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("glimpse/ClutteredMNIST60-v0", {"images": small_digits()}),
        ("glimpse/MNIST-v0", {"images": small_digits(), "reward": "log_prob"}),
        ("glimpse/PaintMNIST-v0", {"pictures": small_pictures(channels=1), "size": 36, "strokes": 8}),
    ],
)
def test_ppo_multi_input_policy_trains(env_id, kwargs):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env as sb3_check_env
    from stable_baselines3.common.env_util import make_vec_env

    sb3_check_env(gymnasium.make(env_id, **kwargs).unwrapped)
    vec = make_vec_env(env_id, n_envs=2, seed=0, env_kwargs=kwargs)
    model = PPO("MultiInputPolicy", vec, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    if "Paint" in env_id:  # the target and the canvas go through CNNs
        assert type(model.policy.features_extractor.extractors["canvas"]).__name__ == "NatureCNN"
    obs = vec.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (2, *vec.action_space.shape)


def test_ppo_cnn_policy_on_the_canvas():
    """CnnPolicy takes one image: the canvas alone, picked out with a Gymnasium wrapper."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    def canvas_only() -> gymnasium.Env:
        env = gymnasium.make("glimpse/PaintFaces-v0", pictures=small_pictures(side=36), size=36, strokes=20)
        return gymnasium.wrappers.TransformObservation(env, lambda o: o["canvas"], env.observation_space["canvas"])

    model = PPO("CnnPolicy", make_vec_env(canvas_only, n_envs=1), n_steps=32, batch_size=32, n_epochs=1, seed=0)
    model.learn(total_timesteps=64)
    assert model.num_timesteps >= 64
