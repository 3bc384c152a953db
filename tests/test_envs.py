"""The Gymnasium environments (envs/): checker, seeding, actions, rewards, batched agreement,
autoreset, rendering, GIFs, bridges to the shipped models, and bad input."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import envs
from envs.glimpse_env import GlimpseEnv
from envs.paint_env import PaintEnv
from envs.vector import GlimpseVectorEnv, PaintVectorEnv
from glimpse.canvas import stroke_alpha
from glimpse.data import ImageSet
from glimpse.errors import UsageError
from glimpse.sensor import retina


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: the environments step small tensors, and the machine may be busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_digits(n: int = 40) -> ImageSet:
    g = torch.Generator().manual_seed(1)
    return ImageSet((torch.rand(n, 1, 28, 28, generator=g) * 255).to(torch.uint8), torch.arange(n) % 10)


def small_pictures(n: int = 6, channels: int = 3, side: int = 40) -> torch.Tensor:
    return torch.rand(n, channels, side, side, generator=torch.Generator().manual_seed(2))


def small_kwargs(env_id: str) -> dict:
    """Keyword arguments that make an id run on small synthetic data."""
    if env_id in envs.GLIMPSE_IDS:
        return {"images": small_digits()}
    channels = envs.PAINT_IDS[env_id]["channels"]
    return {"pictures": small_pictures(channels=channels), "size": 40, "strokes": 4, "strokes_per_step": 2}


def play(env, actions, seed=None, options=None):
    """Observations and rewards of an episode played with fixed actions."""
    obs, _ = env.reset(seed=seed, options=options)
    out, rewards = [obs], []
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        out.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return out, rewards


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


# -- the checker, registration -------------------------------------------------------------------
@pytest.mark.parametrize("env_id", envs.IDS)
def test_check_env_every_id(env_id):
    env = gymnasium.make(env_id, render_mode="rgb_array", **small_kwargs(env_id))
    check_env(env.unwrapped, skip_render_check=False)
    assert env.metadata["render_modes"] == ["rgb_array"] and env.metadata["render_fps"] > 0
    assert env.unwrapped.__doc__.count("## ") >= 4  # Observation, Action, Reward, Episode end, Arguments


@pytest.mark.parametrize("env_id", list(envs.GLIMPSE_IDS))
def test_check_env_real_mnist(env_id, mnist_data_root):
    check_env(gymnasium.make(env_id, data_root=mnist_data_root).unwrapped)


def test_check_env_real_digits_to_paint(mnist_data_root):
    check_env(gymnasium.make("glimpse/PaintMNIST-v0", data_root=mnist_data_root, split="test", limit=20).unwrapped)


def test_check_env_real_faces(celeba_data_root):
    faces = gymnasium.make("glimpse/PaintFaces-v0", data_root=celeba_data_root, split="test", limit=8)
    check_env(faces.unwrapped)
    assert faces.observation_space["canvas"].shape == (3, 64, 64)


def test_paint_folder(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((50, 70, 3), 80 * i, np.uint8)).save(tmp_path / f"p{i}.png")
    env = gymnasium.make("glimpse/PaintFolder-v0", folder=tmp_path, split="all", size=36)
    check_env(env.unwrapped)
    obs, _ = env.reset(options={"index": 2})
    assert obs["target"].shape == (3, 36, 36) and obs["target"].min() == 160
    with pytest.raises(UsageError, match="needs folder=DIR"):
        gymnasium.make("glimpse/PaintFolder-v0")


def test_folder_splits_are_disjoint_and_hold_out_train_paints_test_set(tmp_path):
    from PIL import Image

    from envs.sources import folder_splits
    from glimpse.pictures import picture_splits

    for n in (1, 2, 3, 15, 40):
        files = [tmp_path / f"{i:03d}.png" for i in range(n)]
        splits = folder_splits(files)
        assert sorted(f for part in splits.values() for f in part) == files  # every picture in exactly one split
        assert len(splits["test"]) == (max(1, n // 10) if n > 1 else 0)
    for i in range(15):
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(tmp_path / f"{i:03d}.png")
    _, _, library_test = picture_splits("folder", 36, folder=tmp_path, val_size=1, progress=False)
    env_test = gymnasium.make("glimpse/PaintFolder-v0", folder=tmp_path, split="test", size=36).unwrapped.task.targets
    assert torch.equal(env_test.cpu(), library_test.images)
    values = {}
    for split in ("train", "val", "test"):
        env = gymnasium.make("glimpse/PaintFolder-v0", folder=tmp_path, split=split, size=36)
        values[split] = set(env.unwrapped.task.targets[:, 0, 0, 0].tolist())
    assert not values["train"] & values["val"] and not values["val"] & values["test"] and len(values["train"]) == 13


@pytest.mark.parametrize(
    ("env_id", "name"),
    [
        ("glimpse/MNIST-v0", "mnist"),
        ("glimpse/TranslatedMNIST-v0", "translated"),
        ("glimpse/ClutteredMNIST60-v0", "cluttered60"),
        ("glimpse/ClutteredMNIST100-v0", "cluttered100"),
    ],
)
def test_each_glimpse_id_has_its_papers_retina(env_id, name):
    from glimpse.data import TASKS

    t, env = TASKS[name], gymnasium.make(env_id, images=small_digits()).unwrapped
    assert (env.task.dataset, env.task.glimpses, env.task.glimpse_size, env.task.scales) == (
        t.kind,
        t.glimpses,
        t.glimpse_size,
        t.scales,
    )
    assert env.observation_space["glimpse"].shape == (t.scales, 1, t.glimpse_size, t.glimpse_size)
    assert envs.GLIMPSE_IDS[env_id].get("size", 28) == t.size


def test_make_by_module_string_and_make_vec():
    env = gymnasium.make("envs:glimpse/MNIST-v0", images=small_digits())
    assert isinstance(env.unwrapped, GlimpseEnv)
    venv = gymnasium.make_vec(
        "glimpse/PaintFaces-v0", num_envs=3, vectorization_mode="vector_entry_point", pictures=small_pictures()
    )
    assert isinstance(venv, PaintVectorEnv) and venv.num_envs == 3
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP


# -- seeding ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ["glimpse/ClutteredMNIST60-v0", "glimpse/PaintMNIST-v0"])
def test_same_seed_same_episode(env_id):
    a, b = gymnasium.make(env_id, **small_kwargs(env_id)), gymnasium.make(env_id, **small_kwargs(env_id))
    a.action_space.seed(0)
    actions = [a.action_space.sample() for _ in range(10)]
    for seed in (0, 7):
        (oa, ra), (ob, rb) = play(a, actions, seed), play(b, actions, seed)
        assert all(same(x, y) for x, y in zip(oa, ob, strict=True)) and ra == rb
        (oa, ra), (ob, rb) = play(a, actions), play(b, actions)  # the next, unseeded episodes too
        assert all(same(x, y) for x, y in zip(oa, ob, strict=True)) and ra == rb
    first = [play(a, actions, seed)[0][0] for seed in range(6)]
    assert any(not same(first[0], f) for f in first[1:])  # other seeds, other episodes


def test_retina_matches_the_library_everywhere():
    task = envs.glimpse_env.GlimpseTask(images=small_digits(), dataset="cluttered", size=100, scales=4, glimpse_size=12)
    frames, _, _ = task.new_episodes(torch.arange(8), torch.zeros(8, dtype=torch.int64))
    pictures = task.picture(frames)
    loc = torch.rand(8, 2, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2  # edges and beyond (clipped)
    loc = loc.clamp(-1, 1)
    got, expect = task.look(frames, loc), retina(pictures, loc, 12, 4)
    torch.testing.assert_close(got[:, 0], expect[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(got, expect, rtol=0, atol=1e-6)


# -- actions ---------------------------------------------------------------------------------------
def test_glimpse_actions_outside_the_box_are_clipped():
    env = GlimpseEnv(images=small_digits())
    wild = np.array([5.0, -3.0, *([2.0] * 10)], np.float32)
    (_, clipped), r1 = play(env, [np.clip(wild, -1, 1)], seed=0)
    (_, raw), r2 = play(env, [wild], seed=0)
    assert same(clipped, raw) and r1 == r2
    assert raw["location"].tolist() == [1.0, -1.0]


def test_paint_actions_outside_the_box_are_clipped():
    env = PaintEnv(pictures=small_pictures(), size=40, strokes=4, strokes_per_step=2)
    wild = np.full((2, 13), 0.5, np.float32)
    wild[0, 6:10] = [3.0, -1.0, 7.0, 2.0]
    (_, raw), r1 = play(env, [wild], seed=0)
    (_, clipped), r2 = play(env, [np.clip(wild, 0, 1)], seed=0)
    assert same(raw, clipped) and r1 == r2


def test_dict_actions():
    env = GlimpseEnv(images=small_digits(), action_type="dict")
    check_env(env)
    env.reset(seed=0)
    obs, *_ = env.step({"location": np.array([0.5, -0.5], np.float32), "prediction": np.zeros(10, np.float32)})
    assert obs["location"].tolist() == [0.5, -0.5]
    with pytest.raises(ValueError, match="'location' and 'prediction'"):
        env.step({"location": np.zeros(2, np.float32)})


# -- observations and rewards by hand --------------------------------------------------------------
def test_glimpse_observation_is_the_retina_and_rewards_by_hand():
    data = small_digits()
    scores = np.linspace(-1, 1, 10).astype(np.float32)  # the top score is class 9
    env = GlimpseEnv(images=data, glimpses=3, reward="log_prob", glimpse_size=6, scales=2)
    obs, _ = env.reset(seed=0, options={"index": 19, "start": (0.25, -0.5)})  # label 19 % 10 = 9
    image = data.images[19:20].float() / 255
    expect = retina(image, torch.tensor([[0.25, -0.5]]), 6, 2)[0].numpy()
    np.testing.assert_array_equal(obs["glimpse"][0], expect[0])  # the finest scale: the same pixels
    np.testing.assert_allclose(obs["glimpse"], expect, rtol=0, atol=1e-6)  # block means: rounding
    logits = 5.0 * scores.astype(np.float64)
    hand = logits[9] - math.log(np.exp(logits).sum())
    for t in range(3):
        obs, r, term, trunc, info = env.step(np.array([0.1, 0.2, *scores], np.float32))
        assert r == pytest.approx(hand, abs=1e-9) and isinstance(r, float)
        assert term is (t == 2) and trunc is False
        assert obs["step"].tolist() == [t + 1]
    assert info == {"label": 9, "prediction": 9, "correct": True}
    env = GlimpseEnv(images=data, glimpses=2)  # reward="correct": 1 at the last step only
    for index, expected in ((19, 1.0), (18, 0.0)):
        _, rewards = play(env, [np.array([0, 0, *scores], np.float32)] * 2, options={"index": index})
        assert rewards == [0.0, expected]


def test_paint_reward_by_hand():
    g = 128 / 255  # pictures are held as uint8
    env = PaintEnv(pictures=torch.full((1, 3, 40, 40), g), size=40, strokes=2, strokes_per_step=1)
    obs, info = env.reset(seed=0)
    assert info["error"] == pytest.approx(g * g) and obs["canvas"].max() == 0 and obs["target"].min() == 128
    stroke = np.array([[0.2, 0.3, 0.5, 0.5, 0.8, 0.6, 0.3, 0.5, 1.0, 0.6, 0.9, 0.1, 0.4]], np.float32)
    invisible = stroke.copy()
    invisible[0, 8:10] = 0.0  # opacity 0: the canvas does not change
    _, r, *_ = env.step(invisible)
    assert r == 0.0
    _, r, term, _, info = env.step(stroke)
    alpha = stroke_alpha(torch.from_numpy(stroke), 40, 40).numpy()[0]  # (40, 40)
    colour = stroke[0, 10:13]
    canvas = alpha[None] * colour[:, None, None]
    hand = g * g - ((canvas.astype(np.float64) - g) ** 2).mean()
    assert r == pytest.approx(hand, rel=1e-5) and term is True
    assert info["error"] == pytest.approx(g * g - hand, rel=1e-5)


# -- batched environments --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "env_id",
    ["glimpse/MNIST-v0", "glimpse/ClutteredMNIST100-v0", "glimpse/TranslatedMNIST-v0", "glimpse/PaintFaces-v0"],
)
def test_batched_agrees_with_sync_vector_env(env_id):
    kwargs = small_kwargs(env_id)
    sync = gymnasium.make_vec(env_id, num_envs=5, vectorization_mode="sync", **kwargs)
    batched = gymnasium.make_vec(env_id, num_envs=5, vectorization_mode="vector_entry_point", **kwargs)
    sync.action_space.seed(1)
    for seed in (3, None):  # seeded, then the unseeded next episodes
        o1, _ = sync.reset(seed=seed)
        o2, _ = batched.reset(seed=seed)
        for _ in range(2 * batched.horizon + 3):  # across two autoresets
            assert same(o1, o2)
            a = sync.action_space.sample()
            o1, r1, t1, u1, _ = sync.step(a)
            o2, r2, t2, u2, _ = batched.step(a)
            np.testing.assert_allclose(r2, r1, rtol=1e-6, atol=1e-9)
            assert r2.dtype == np.float64 and t2.dtype == u2.dtype == np.bool_
            np.testing.assert_array_equal(t1, t2)
            np.testing.assert_array_equal(u1, u2)


@pytest.mark.parametrize("env_id", list(envs.PAINT_IDS))
def test_compiled_painting_matches_eager(env_id):
    """compile=True paints through one fused kernel (the C kernel on the CPU): the same rewards and
    errors as eager painting, canvases within one uint8 level, across an autoreset; single and
    batched identical."""
    kwargs = small_kwargs(env_id)
    eager = gymnasium.make_vec(env_id, num_envs=5, vectorization_mode="vector_entry_point", compile=False, **kwargs)
    fused = gymnasium.make_vec(env_id, num_envs=5, vectorization_mode="vector_entry_point", compile=True, **kwargs)
    single = gymnasium.make(env_id, compile=True, **kwargs)
    assert fused.unwrapped.task.fused and not eager.unwrapped.task.fused
    eager.action_space.seed(2)
    o1, _ = eager.reset(seed=4)
    o2, _ = fused.reset(seed=4)
    o3, _ = single.reset(seed=4)
    for i in range(eager.horizon + 2):
        a = eager.action_space.sample()
        o1, r1, t1, _, i1 = eager.step(a)
        o2, r2, t2, _, i2 = fused.step(a)
        np.testing.assert_allclose(r2, r1, atol=1e-6)
        np.testing.assert_allclose(i2["error"], i1["error"], atol=1e-6)
        np.testing.assert_array_equal(t1, t2)
        assert np.abs(o1["canvas"].astype(int) - o2["canvas"].astype(int)).max() <= 1
        if i < eager.horizon:  # the single env seeded 4 plays the batched env's first episode, exactly
            o3, r3, *_ = single.step(a[0])
            assert r3 == float(r2[0])
            np.testing.assert_array_equal(o3["canvas"], o2["canvas"][0])


def batched_on(device: str, env_id: str, **extra) -> gymnasium.vector.VectorEnv:
    return gymnasium.make_vec(
        env_id, num_envs=5, vectorization_mode="vector_entry_point", device=device, **small_kwargs(env_id), **extra
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize(
    ("env_id", "compiled"), [(i, False) for i in envs.IDS] + [(i, True) for i in envs.PAINT_IDS]
)  # compile=True is a painting option
def test_batched_on_the_gpu_matches_the_cpu(env_id, compiled):
    """The same episodes on a GPU (outputs kept there with torch_obs), across an autoreset:
    glimpses and rewards within float tolerance, canvases within one uint8 level."""
    extra = {"compile": True} if compiled else {}
    cpu = batched_on("cpu", env_id)
    gpu = batched_on("cuda", env_id, torch_obs=True, **extra)
    cpu.action_space.seed(5)
    o1, _ = cpu.reset(seed=7)
    o2, _ = gpu.reset(seed=7)
    for _ in range(cpu.horizon + 2):
        assert all(v.is_cuda for v in o2.values())
        for k in o1:
            diff = np.abs(o1[k].astype(np.float64) - o2[k].cpu().numpy().astype(np.float64)).max()
            assert diff <= (1 if o1[k].dtype == np.uint8 else 1e-5), (k, diff)
        a = cpu.action_space.sample()
        o1, r1, t1, _, _ = cpu.step(a)
        o2, r2, t2, _, _ = gpu.step(torch.as_tensor(a, device="cuda"))
        np.testing.assert_allclose(r2.cpu().numpy(), r1, atol=1e-5)
        np.testing.assert_array_equal(t2.cpu().numpy(), t1)


def test_batched_torch_outputs_match_numpy():
    a = GlimpseVectorEnv(num_envs=4, images=small_digits())
    b = GlimpseVectorEnv(num_envs=4, images=small_digits(), torch_obs=True)
    oa, _ = a.reset(seed=0)
    ob, _ = b.reset(seed=0)
    actions = torch.rand(4, 12) * 2 - 1
    for _ in range(3):
        assert all(isinstance(v, torch.Tensor) for v in ob.values()) and same(oa, {k: v.numpy() for k, v in ob.items()})
        oa, ra, *_ = a.step(actions.numpy())
        ob, rb, tb, *_ = b.step(actions)
        assert isinstance(rb, torch.Tensor) and isinstance(tb, torch.Tensor)
        np.testing.assert_array_equal(ra, rb.numpy())


def test_autoreset_next_step():
    venv = PaintVectorEnv(num_envs=3, pictures=small_pictures(), size=40, strokes=2, strokes_per_step=1)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, _ = venv.reset(seed=0)
    first = obs["target"].copy()
    action = np.full((3, 1, 13), 0.5, np.float32)
    for t in (1, 2):
        obs, rewards, term, trunc, _ = venv.step(action)
        assert obs["step"][:, 0].tolist() == [t] * 3 and term.tolist() == [t == 2] * 3 and not trunc.any()
    ended = obs["canvas"].copy()
    obs, rewards, term, trunc, _ = venv.step(action)  # the next step resets: action ignored, reward 0
    assert rewards.tolist() == [0.0] * 3 and not term.any() and not trunc.any()
    assert obs["step"][:, 0].tolist() == [0] * 3 and obs["canvas"].max() == 0 and ended.max() > 0
    assert not np.array_equal(obs["target"], first)  # the next episodes' pictures
    obs, _, _, _, _ = venv.step(action)
    assert obs["step"][:, 0].tolist() == [1] * 3


def test_reset_mask_resets_only_some():
    venv = GlimpseVectorEnv(num_envs=3, images=small_digits())
    venv.reset(seed=0)
    venv.step(np.zeros((3, 12), np.float32))
    obs, _ = venv.reset(options={"reset_mask": np.array([True, False, True])})
    assert obs["step"][:, 0].tolist() == [0, 1, 0]


def test_the_drawn_path_survives_a_partial_reset():
    venv = GlimpseVectorEnv(num_envs=2, images=small_digits(), render_mode="rgb_array")
    venv.reset(seed=0)
    for x in (0.3, 0.6):
        venv.step(np.array([[x, x] + [0] * 10] * 2, np.float32))
    venv.reset(options={"reset_mask": np.array([False, True])})
    kept = torch.stack([p[0] for p in venv._paths[-3:]])  # environment 0, still at step 2
    torch.testing.assert_close(kept, torch.tensor([[0.0, 0.0], [0.3, 0.3], [0.6, 0.6]]))
    assert venv._paths[-1][1].tolist() != [0.6, 0.6]  # environment 1 starts afresh


# -- rendering and GIFs ----------------------------------------------------------------------------
def test_render_rgb_arrays(tmp_path):
    from envs.record import record_batch, record_episode

    for env in (
        GlimpseEnv(images=small_digits(), dataset="cluttered", size=60, scales=3, render_mode="rgb_array"),
        PaintEnv(pictures=small_pictures(), size=40, strokes=4, strokes_per_step=2, render_mode="rgb_array"),
        GlimpseVectorEnv(num_envs=5, images=small_digits(), render_mode="rgb_array"),
        PaintVectorEnv(num_envs=2, pictures=small_pictures(), size=40, strokes=2, strokes_per_step=1,
                       render_mode="rgb_array"),
    ):  # fmt: skip
        env.reset(seed=0)
        env.step(env.action_space.sample())
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and frame.max() > 0
    path = record_episode(GlimpseEnv(images=small_digits(), render_mode="rgb_array"), tmp_path / "one.gif", seed=0)
    assert path.stat().st_size > 0
    venv = GlimpseVectorEnv(num_envs=4, images=small_digits(), render_mode="rgb_array")
    assert record_batch(venv, tmp_path / "batch.gif", seed=0).stat().st_size > 0
    sync = gymnasium.make_vec(
        "glimpse/MNIST-v0", num_envs=3, vectorization_mode="sync", render_mode="rgb_array", images=small_digits()
    )  # Gymnasium's own vector env renders a frame per environment: tiled the same way
    from PIL import Image

    with Image.open(record_batch(sync, tmp_path / "sync.gif", seed=0)) as gif:
        assert gif.n_frames == 7 and gif.size[0] > 2 * gif.size[1]  # T + 1 frames, 3 tiles side by side
    with pytest.raises(UsageError, match="render_mode='rgb_array'"):
        record_episode(GlimpseEnv(images=small_digits()), tmp_path / "x.gif")


# -- bridges ---------------------------------------------------------------------------------------
def test_ram_bridge_matches_its_own_evaluation(mnist_data_root):
    from envs.bridges import ram_test_error
    from glimpse.data import load_mnist
    from glimpse.evaluate import error_rate
    from glimpse.shipped import load_shipped

    ram = load_shipped("ram")
    test = load_mnist(mnist_data_root, train=False)
    for policy, protocol in (("mean", "mean"), ("sample", "stochastic")):
        through_env = ram_test_error(ram, mnist_data_root, policy)
        own = error_rate(ram, test, protocol)
        assert abs(through_env - own) < 0.002, (protocol, through_env, own)
        assert through_env == pytest.approx(own, abs=1e-9)  # in fact the same rollouts


def test_painter_bridge_matches_glimpse_paint(celeba_data_root):
    from envs.bridges import painter_errors
    from glimpse.painting import paint_pictures
    from glimpse.pictures import celeba_files, load_pictures
    from glimpse.shipped import load_shipped

    painter = load_shipped("painter")
    faces = load_pictures(celeba_files(celeba_data_root)[1][:12], 64, progress=False).float() / 255
    through_env = painter_errors(painter, faces).mean()
    own = (paint_pictures(painter, faces, 200).canvas - faces).pow(2).mean().item()
    assert abs(through_env / own - 1) < 0.02, (through_env, own)


def test_single_env_bridges_act(mnist_data_root):
    from envs.bridges import PainterAgent, RAMAgent
    from glimpse.shipped import load_shipped

    agent = RAMAgent(load_shipped("ram"))
    env = gymnasium.make("glimpse/MNIST-v0", data_root=mnist_data_root, split="test")
    correct = 0
    for i in range(20):
        obs, _ = env.reset(options={"index": i, "start": agent.start()})
        done = False
        while not done:
            obs, r, done, _, _ = env.step(agent.act(obs))
        correct += r
    assert correct >= 18
    painter = PainterAgent(load_shipped("painter-30"))
    env = PaintEnv(pictures=small_pictures(1, side=64), size=64, strokes=30, strokes_per_step=5)
    obs, info = env.reset(seed=0)
    painter.reset()
    for _ in range(6):
        obs, r, done, _, info2 = env.step(painter.act(obs))
    assert done and info2["error"] < info["error"]


# -- bad input -------------------------------------------------------------------------------------
def test_unknown_ids_and_names():
    with pytest.raises(gymnasium.error.Error, match="MNSIT"):
        gymnasium.make("glimpse/MNSIT-v0")
    with pytest.raises(UsageError, match="'fashion'"):
        GlimpseEnv(dataset="fashion", images=small_digits())
    with pytest.raises(UsageError, match="'cifar'"):
        PaintEnv(dataset="cifar", pictures=small_pictures())
    with pytest.raises(UsageError, match="'accuracy'"):
        GlimpseEnv(reward="accuracy", images=small_digits())
    with pytest.raises(UsageError, match="'holdout'"):
        GlimpseEnv(split="holdout", data_root="/nonexistent")
    with pytest.raises(UsageError, match="index 40 is outside the 40 images"):
        GlimpseEnv(images=small_digits()).reset(options={"index": 40})


@pytest.mark.parametrize(
    "make",
    [
        lambda: GlimpseEnv(images=small_digits()),
        lambda: PaintEnv(pictures=small_pictures(), size=40),
        lambda: GlimpseVectorEnv(2, images=small_digits()),
        lambda: PaintVectorEnv(2, pictures=small_pictures(), size=40),
    ],
)
def test_bad_reset_options_are_named(make):
    env = make()
    batch = getattr(env, "num_envs", None)
    index = (lambda *i: np.array(i[:batch])) if batch else (lambda *i: i[0])
    with pytest.raises(UsageError, match="unknown reset option 'indx'"):
        env.reset(options={"indx": 3})  # misspelt: never silently ignored
    with pytest.raises(ValueError, match=r"options\['index'\] must hold whole numbers"):
        env.reset(options={"index": index(2.7, 1.0)})
    with pytest.raises(ValueError, match=r"options\['index'\] must have shape"):
        env.reset(options={"index": [[1, 2, 3]]})
    if isinstance(env, (GlimpseEnv, GlimpseVectorEnv)):
        with pytest.raises(ValueError, match=r"options\['start'\] must have shape"):
            env.reset(options={"start": (1, 2, 3)})
    obs, _ = env.reset(options={"index": index(2.0, 1.0)})  # a whole float is an index
    first = obs["target"] if "target" in obs else obs["glimpse"]
    again, _ = env.reset(options={"index": index(2, 1)})
    assert np.array_equal(first, again["target"] if "target" in again else again["glimpse"])


@pytest.mark.parametrize(
    "make",
    [
        lambda: GlimpseEnv(images=small_digits()),
        lambda: PaintEnv(pictures=small_pictures(), size=40, strokes=2, strokes_per_step=1),
    ],
)
def test_bad_actions_and_order(make):
    env = make()
    with pytest.raises(ResetNeeded, match="reset"):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    shape = env.action_space.shape
    bad = np.zeros(shape, np.float32)
    bad.flat[3] = np.nan
    with pytest.raises(ValueError, match=r"non-finite number: action\[.*\] = .*nan"):
        env.step(bad)
    with pytest.raises(ValueError, match=rf"must have shape {re_shape(shape)}.*, got \(3,\)"):
        env.step(np.zeros(3, np.float32))
    done = False
    while not done:
        _, _, done, _, _ = env.step(env.action_space.sample())
    with pytest.raises(ResetNeeded, match="call reset"):
        env.step(env.action_space.sample())


def re_shape(shape: tuple[int, ...]) -> str:
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_batched_bad_actions():
    venv = GlimpseVectorEnv(num_envs=3, images=small_digits())
    with pytest.raises(ResetNeeded):
        venv.step(np.zeros((3, 12), np.float32))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"must have shape \(3, 12\), got \(12,\)"):
        venv.step(np.zeros(12, np.float32))
    bad = np.zeros((3, 12), np.float32)
    bad[1, 4] = np.inf
    with pytest.raises(ValueError, match=r"action\[\(1, 4\)\] = .*inf"):
        venv.step(bad)


def test_data_root_without_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        GlimpseEnv(data_root=tmp_path, download=False)
    with pytest.raises(FileNotFoundError, match="CelebA not found"):
        PaintEnv(data_root=tmp_path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        PaintEnv(dataset="folder", folder=tmp_path / "nope")
    with pytest.raises(UsageError, match="at least 36"):
        PaintEnv(pictures=small_pictures(), size=32)


FORKED_WORKERS = """
import gymnasium, torch, envs
torch.set_num_threads(2)
torch.rand(1000, 1000).sum()  # the parent's OpenMP threads are running
venv = gymnasium.make_vec("glimpse/PaintFaces-v0", num_envs=2, vectorization_mode="async",
                          vector_kwargs={"context": "fork"}, pictures=torch.rand(8, 3, 64, 64), compile=True)
venv.reset(seed=0)
_, reward, *_ = venv.step(venv.action_space.sample())
venv.close()
print("rewards", reward.shape)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_async_workers_do_not_hang():
    """gymnasium's AsyncVectorEnv forks workers on Linux; after the parent ran OpenMP threads, the
    workers' first parallel operation used to wait forever (envs.sources.one_thread_if_forked)."""
    run = subprocess.Popen([sys.executable, "-c", FORKED_WORKERS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)  # the hung workers too
        run.communicate()
        pytest.fail("the forked workers hung")
    assert run.returncode == 0, err[-2000:]
    assert "rewards (2,)" in out
