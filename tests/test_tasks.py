"""The glimpse tasks: the registry, the image generators' invariants, the fixed sets, train.ram's
per-task defaults, the torchvision-style datasets, bad input, and short runs of every task."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glimpse.data
import glimpse.datasets
from glimpse.data import (
    ALIASES,
    CHUNK,
    DATASETS,
    TASKS,
    ImageSet,
    Task,
    materialise,
    materialise_chunk,
    mnist_splits,
    task,
)
from glimpse.datasets import ClutteredMNIST, GlimpseMNIST, TranslatedMNIST
from glimpse.errors import UsageError
from glimpse.losses import ram_loss
from glimpse.ram import RAM, RAMConfig
from glimpse.sensor import densest_window
from glimpse.variants import add_at, clutter, jitter, place, translate
from train import ram as train_ram
from train.common import build, parse_command_line

TRAIN_VALUE, TEST_VALUE = 50, 101  # grey levels of the synthetic training and test digits: sums never collide


def glyphs(labels: torch.Tensor, value: int) -> torch.Tensor:
    """Synthetic uint8 digits (N, 1, 28, 28): class c lights the quadrants of the central 20×20
    box at the set bits of c + 1, all of grey level ``value``; a 4-pixel blank border, like MNIST."""
    n = len(labels)
    x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    bits = ((labels[:, None] + 1) >> torch.arange(4)) & 1  # (N, 4)
    for b in range(4):
        top, left = 4 + 10 * (b // 2), 4 + 10 * (b % 2)
        x[:, :, top : top + 10, left : left + 10] = (bits[:, b] * value).to(torch.uint8).view(n, 1, 1, 1)
    return x


def fake_mnist(train_n: int = 1200, test_n: int = 300, train_value: int = TRAIN_VALUE, test_value: int = TEST_VALUE):
    """A stand-in for glimpse.data.load_mnist: synthetic training and test digits, by default of
    different grey levels, so every pixel says which split it came from."""

    def load(root=None, train=True, download=True) -> ImageSet:
        n, value = (train_n, train_value) if train else (test_n, test_value)
        labels = torch.arange(n) % 10
        return ImageSet(glyphs(labels, value), labels)

    return load


@pytest.fixture
def fake(monkeypatch):
    load = fake_mnist()
    monkeypatch.setattr(glimpse.data, "load_mnist", load)
    monkeypatch.setattr(glimpse.datasets, "load_mnist", load)
    return load


def sums(levels: int, value: int) -> set[int]:
    """Grey levels a pixel can have after adding up to ``levels`` pixels of ``value`` and clipping."""
    return {min(k * value, 255) for k in range(levels + 1)}


# -- the registry ----------------------------------------------------------------------------------
def test_the_registry_holds_the_papers_settings():
    got = {n: (t.kind, t.size, t.distractors, t.glimpse_size, t.scales, t.glimpses) for n, t in TASKS.items()}
    assert got == {
        "mnist": ("mnist", 28, 0, 8, 1, 6),
        "translated": ("translated", 60, 0, 12, 3, 8),
        "cluttered60": ("cluttered", 60, 4, 12, 3, 8),
        "cluttered100": ("cluttered", 100, 8, 12, 4, 8),
    }
    assert all(t.patch == 8 for t in TASKS.values())
    assert task("cluttered") is TASKS["cluttered60"] and ALIASES == {"cluttered": "cluttered60"}
    assert set(DATASETS) == {*TASKS, "cluttered"}
    assert task("translated", size=80).size == 80 and task("translated", size=None) is TASKS["translated"]


def test_unknown_task_lists_the_choices():
    with pytest.raises(UsageError, match="unknown task 'cluttered80'") as err:
        task("cluttered80")
    for name in TASKS:
        assert name in str(err.value)
    with pytest.raises(UsageError, match="choose one of"):
        mnist_splits("nowhere", "svhn")


# -- the generators --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["translated", "cluttered60", "cluttered100"])
def test_generated_images_shape_range_and_dtype(name):
    t = task(name)
    digits = ImageSet(glyphs(torch.arange(40) % 10, 255), torch.arange(40) % 10)
    x = t.variant(digits)(digits.float_images(slice(None)), torch.Generator().manual_seed(0))
    assert x.shape == (40, 1, t.size, t.size) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    fixed = materialise(digits, t.variant(digits), seed=3)
    assert fixed.images.dtype == torch.uint8 and fixed.images.shape == (40, 1, t.size, t.size)
    assert torch.equal(fixed.labels, digits.labels)


def test_a_translated_digit_lies_wholly_inside_the_canvas():
    digits = torch.rand(200, 1, 28, 28)
    digits[:, :, [0, -1], :] = 1  # ink up to the frame's edges
    digits[:, :, :, [0, -1]] = 1
    out = translate(digits, 60, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out.sum((1, 2, 3)), digits.sum((1, 2, 3)))  # no ink lost at the edges
    # uint8 sets keep the ink exactly
    data = ImageSet((digits * 255).round().to(torch.uint8), torch.zeros(200, dtype=torch.long))
    fixed = materialise(data, task("translated").variant(), seed=0)
    assert torch.equal(fixed.images.long().sum((1, 2, 3)), data.images.long().sum((1, 2, 3)))


@pytest.mark.parametrize("name", ["cluttered60", "cluttered100"])
def test_a_cluttered_digit_lies_wholly_inside_the_canvas(name):
    t = task(name)
    ones = torch.ones(64, 1, 28, 28)
    out = clutter(ones, torch.ones(10, 1, 28, 28), t.size, t.distractors, t.patch, torch.Generator().manual_seed(2))
    # Some 28×28 window is all ones: the digit, whole (the distractors cover at most 8 × 64 < 784 pixels).
    assert F.avg_pool2d(out, 28, stride=1).flatten(1).max(1).values.min() == 1.0
    assert torch.all((out > 0).sum((1, 2, 3)) >= 28 * 28)


def test_distractors_are_patches_of_the_pool():
    pool = torch.arange(1, 51, dtype=torch.uint8).view(50, 1, 1, 1).expand(50, 1, 28, 28).contiguous()
    blank = torch.zeros(300, 1, 28, 28)
    out = clutter(blank, pool, 60, distractors=1, patch=8, generator=torch.Generator().manual_seed(3))
    levels = (out * 255).round().long()
    lit = levels > 0
    assert torch.all(lit.sum((1, 2, 3)) == 64)  # one whole 8×8 patch per image
    values = {v for img in levels for v in img[img > 0].unique().tolist()}
    assert len(values) > 20 and values <= set(range(1, 51))  # each patch one pool image's value
    assert all(len(img[img > 0].unique()) == 1 for img in levels)  # (a crop cut partly outside its
    # digit, or pasted partly outside the canvas, would have fewer than 64 lit pixels)


def test_add_at_matches_place_inside_the_canvas():
    pieces = torch.rand(6, 2, 5, 7)
    offsets = torch.tensor([[0, 0], [4, 13], [2, 5], [0, 13], [4, 0], [1, 1]])
    torch.testing.assert_close(add_at(torch.zeros(6, 2, 9, 20), pieces, offsets), place(pieces, 9, 20, offsets))
    empty = ImageSet(torch.zeros(0, 1, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long))
    pool = ImageSet(torch.ones(5, 1, 28, 28, dtype=torch.uint8), torch.zeros(5, dtype=torch.long))
    assert materialise(empty, task("cluttered100").variant(pool), 0).images.shape == (0, 1, 100, 100)


def test_jitter_rotates_and_scales_each_image_about_its_centre():
    x = torch.rand(64, 2, 10, 10)
    assert jitter(x, 0, 0) is x
    a, b = (jitter(x, 30, 0.2, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    # rotation moves an off-centre spot along a circle about the image centre (13.5, 13.5)
    spot = torch.zeros(500, 1, 28, 28)
    spot[:, :, 12:16, 20:24] = 1  # centre (13.5, 21.5): 8 px right of the middle
    turned = jitter(spot, 90, 0, torch.Generator().manual_seed(1))[:, 0]
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    w = turned.sum((1, 2))
    dy, dx = (turned * rows).sum((1, 2)) / w - 13.5, (turned * cols).sum((1, 2)) / w - 13.5
    torch.testing.assert_close(torch.hypot(dx, dy), torch.full((500,), 8.0), atol=0.3, rtol=0)
    angles = torch.rad2deg(torch.atan2(dy, dx))  # image rows point down: the sign is the turn's sense
    assert angles.abs().max() < 90.5 and angles.min() < -80 and angles.max() > 80
    # scaling up by up to 20 % keeps a centred blob's mass growing with the area: (1 ± 0.2)² bounds it
    blob = torch.zeros(500, 1, 28, 28)
    blob[:, :, 10:18, 10:18] = 1
    mass = jitter(blob, 0, 0.2, torch.Generator().manual_seed(0)).sum((1, 2, 3)) / 64
    assert 0.8**2 - 0.05 < mass.min() < 0.75 and 1.3 < mass.max() < 1.2**2 + 0.05
    rotated = jitter(blob, 45, 0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(rotated.sum((1, 2, 3)), torch.full((500,), 64.0), atol=2.0, rtol=0)  # area kept
    with pytest.raises(ValueError, match="scale in"):
        jitter(x, 10, 1.0)


def test_fixed_sets_are_made_chunk_by_chunk_and_reproducibly():
    n = 2 * CHUNK + 300
    digits = ImageSet(glyphs(torch.arange(n) % 10, 200), torch.arange(n) % 10)
    variant = task("cluttered60").variant(digits)
    a, b = materialise(digits, variant, seed=5), materialise(digits, variant, seed=5)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, materialise(digits, variant, seed=6).images)
    assert torch.equal(materialise_chunk(digits, variant, 5, 2), a.images[2 * CHUNK :])  # a chunk on its own
    assert torch.equal(materialise_chunk(digits, variant, 5, 1), a.images[CHUNK : 2 * CHUNK])


def test_splits_keep_training_and_test_digits_apart(fake):
    s = mnist_splits(None, "cluttered100", val_size=200, seed=0)
    assert (len(s.train), len(s.val), len(s.test)) == (1000, 200, 300)
    assert s.val.images.shape[1:] == s.test.images.shape[1:] == (1, 100, 100)
    # Every pixel of a validation image is made of training digits, of a test image of test digits.
    assert set(s.val.images.unique().tolist()) <= sums(9, TRAIN_VALUE)
    assert set(s.test.images.unique().tolist()) <= sums(9, TEST_VALUE)
    assert TEST_VALUE in s.test.images and TRAIN_VALUE in s.val.images
    x = s.variant(s.train.float_images(slice(0, 64)), torch.Generator().manual_seed(0))
    assert set((x * 255).round().unique().long().tolist()) <= sums(9, TRAIN_VALUE)
    # the same seed, the same sets; another seed, other sets (labels follow their digits)
    again, other = mnist_splits(None, "cluttered100", 200, seed=0), mnist_splits(None, "cluttered100", 200, seed=1)
    assert torch.equal(again.test.images, s.test.images) and torch.equal(again.val.images, s.val.images)
    assert not torch.equal(other.test.images, s.test.images) and torch.equal(other.test.labels, s.test.labels)


# -- train.ram's options -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*TASKS, "cluttered"])
def test_train_ram_takes_the_tasks_retina_unless_told(name):
    t = task(name)
    a, given = parse_command_line(train_ram.Args, ["--dataset", name])
    assert (a.model.glimpse_size, a.model.scales, a.model.glimpses) == (t.glimpse_size, t.scales, t.glimpses)
    assert a.dataset == t.name and given == {"dataset"}
    assert a.augment_shift == (1 if t.kind == "mnist" else 0)
    argv = ["--dataset", name, "--glimpse-size", "6", "--scales", "2", "--glimpses", "3", "--augment-shift", "2"]
    b, given = parse_command_line(train_ram.Args, argv)
    assert (b.model.glimpse_size, b.model.scales, b.model.glimpses, b.augment_shift) == (6, 2, 3, 2)
    assert given == {"dataset", "glimpse_size", "scales", "glimpses", "augment_shift"}
    c, _ = parse_command_line(train_ram.Args, ["--glimpses", "4", "--dataset", name])  # order does not matter
    assert (c.model.glimpses, c.model.glimpse_size) == (4, t.glimpse_size)


def test_options_saved_as_cluttered_still_build():
    a = build(train_ram.Args, {"dataset": "cluttered", "glimpse_size": 12, "scales": 3, "glimpses": 8})
    assert a.dataset == "cluttered60" and a.model.glimpse_size == 12


def run_ram(tmp_path, name: str, *extra: str, out=None, train_limit: int | None = 128) -> dict:
    """A short train.ram run on the synthetic digits; ``extra`` options win over these."""
    out = out or tmp_path / name
    argv = ["--dataset", name, "--out", str(out), "--epochs", "1", "--batch-size", "64", "--device", "cpu"]
    argv += ["--val-size", "200", "--eval-rollouts", "2", "--hidden", "32", "--what-size", "16", "--where-size", "16"]
    argv += ["--glimpse-out", "32", "--threads", "1", "--no-progress", *extra]
    if train_limit is not None:
        argv += ["--train-limit", str(train_limit)]
    train_ram.main(argv)
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("name", ["translated", "cluttered60", "cluttered100"])
def test_a_short_run_of_each_task(fake, tmp_path, name):
    results = run_ram(tmp_path, name)
    t = task(name)
    assert results["dataset"] == name and results["args"]["dataset"] == name
    model = results["args"]["model"]
    assert (model["glimpse_size"], model["scales"], model["glimpses"]) == (t.glimpse_size, t.scales, t.glimpses)
    for protocol in ("stochastic", "mean", "average2", "random_locations"):
        assert 0 <= results["test"][protocol] <= 1
    cfg = torch.load(tmp_path / name / "model.pt", weights_only=True)["config"]
    assert (cfg["height"], cfg["width"]) == (t.size, t.size)


def test_training_digits_are_jittered_before_they_are_placed(fake, tmp_path, monkeypatch):
    seen = []

    def spy(images, degrees, scale, generator=None):
        seen.append((tuple(images.shape), degrees, scale))
        return jitter(images, degrees, scale, generator)

    monkeypatch.setattr(train_ram, "jitter", spy)
    results = run_ram(tmp_path, "translated", "--augment-rotate", "12", "--augment-scale", "0.1")
    assert seen and set(seen) == {((64, 1, 28, 28), 12.0, 0.1)}  # every batch, the 28×28 digits
    assert results["args"]["augment_rotate"] == 12.0 and results["args"]["augment_scale"] == 0.1


def test_every_step_loss_and_rewards_reach_the_hybrid_loss(fake, tmp_path, monkeypatch):
    calls = []

    def spy(rollout, labels, reinforce_weight, reward, steps, reward_steps):
        calls.append((steps, reward_steps))
        return ram_loss(rollout, labels, reinforce_weight, reward, steps, reward_steps)

    monkeypatch.setattr(train_ram, "ram_loss", spy)
    results = run_ram(tmp_path, "translated", "--loss", "all", "--reward-steps", "all")
    assert calls and set(calls) == {("all", "all")}
    assert (results["args"]["loss"], results["args"]["reward_steps"]) == ("all", "all")


def test_oracle_glimpses_look_at_the_digit(fake, tmp_path, monkeypatch):
    paths = []

    def spy(model, x, y, locations=None):
        paths.append((x, y, locations))
        return train_ram.ram_loss(model.rollout(x, "sample", locations=locations), y)

    monkeypatch.setattr(train_ram, "loss_function", lambda a: spy)
    results = run_ram(tmp_path, "translated", "--oracle-glimpses", "0")
    assert paths and 0 <= results["val"]["oracle"] <= 1
    for x, y, locations in paths:
        assert locations.shape == (8, 64, 2) and torch.all(locations[0] == 0)
        assert torch.equal(locations[1], locations[-1])  # σ = 0: every later glimpse at the digit's centre
        corners = ((locations[1].flip(-1) + 1) * 30 - 14).round().long()  # (top, left) of each digit
        torch.testing.assert_close(x, place(glyphs(y, TRAIN_VALUE).float() / 255, 60, 60, corners))


def test_ink_glimpses_look_at_the_densest_ink(fake, tmp_path, monkeypatch):
    paths = []

    def spy(model, x, y, locations=None):
        paths.append((x, locations))
        return train_ram.ram_loss(model.rollout(x, "sample", locations=locations), y)

    monkeypatch.setattr(train_ram, "loss_function", lambda a: spy)
    results = run_ram(tmp_path, "cluttered60", "--ink-glimpses", "0")
    assert paths and 0 <= results["val"]["ink"] <= 1 and "oracle" not in results["val"]
    for x, locations in paths:
        assert locations.shape == (8, 64, 2) and torch.all(locations[0] == 0)
        for t in range(1, 8):  # σ = 0: every later glimpse at the centre of the densest 16×16 window
            torch.testing.assert_close(locations[t], densest_window(x, train_ram.INK_WINDOW))


def test_imitation_pulls_the_policy_to_the_teachers_places():
    """--imitate adds the squared distance of the policy's means (from the live states h_0..h_{T-1})
    to the teacher's places (the first: the image centre), and minimising it moves the means
    there; without it the loss is the plain hybrid loss, whose REINFORCE term is zero at given
    places."""
    torch.manual_seed(0)
    model = RAM(RAMConfig(height=28, width=28, glimpse_size=8, scales=2, glimpses=4, hidden=32))
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    places = torch.cat([torch.zeros(1, 16, 2), torch.rand(3, 16, 2) - 0.5])  # (T, B, 2)
    args = dict(reinforce_weight=1.0, reward="correct", loss="last", reward_steps="last", compile=False)
    plain = train_ram.loss_function(SimpleNamespace(**args, imitate=False))(model, x, y, places)
    imitating = train_ram.loss_function(SimpleNamespace(**args, imitate=True))
    losses = imitating(model, x, y, places)
    rollout = model.rollout(x, locations=places)
    states = torch.cat([torch.zeros(1, 16, 32), rollout.hidden[:-1]])  # h_0 = 0
    expected = (model.policy(states) - places).square().sum(-1).mean()
    assert plain.policy.item() == 0.0
    torch.testing.assert_close(losses.policy, expected)
    torch.testing.assert_close(losses.total, plain.total + expected)
    before = losses.policy.item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        opt.zero_grad()
        imitating(model, x, y, places).policy.backward()
        opt.step()
    assert imitating(model, x, y, places).policy.item() < 0.1 * before


def test_teacher_glimpses_need_a_task_whose_digits_move(tmp_path, capsys):
    for argv, message in (
        (["--oracle-glimpses", "0.1"], "needs a task whose digits move"),
        (["--ink-glimpses", "0.1"], "needs a task whose digits move"),
        (["--dataset", "translated", "--oracle-glimpses", "-1"], "finite σ >= 0"),
        (["--dataset", "translated", "--oracle-glimpses", "0.1", "--random-glimpses"], "give one"),
        (["--dataset", "translated", "--oracle-glimpses", "0.1", "--ink-glimpses", "0.1"], "give one"),
        (["--dataset", "translated", "--imitate"], "add --oracle-glimpses or --ink-glimpses"),
    ):
        with pytest.raises(SystemExit) as exit_:
            train_ram.main([*argv, "--out", str(tmp_path / "o")])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "epochs"), [("translated", 3), ("cluttered60", 4), ("cluttered100", 6)])
def test_each_task_learns_above_chance(monkeypatch, tmp_path, name, epochs):
    """A small RAM learns the synthetic glyphs (the same grey level in both splits) on every
    task's canvas in a few seconds: labels travel with their images through every generator.
    (On real MNIST a few seconds are not enough for cluttered100 to leave chance.)"""
    monkeypatch.setattr(glimpse.data, "load_mnist", fake_mnist(1200, 300, 255, 255))
    argv = ["--epochs", str(epochs), "--batch-size", "32", "--lr", "3e-3", "--hidden", "64", "--glimpse-out", "64"]
    argv += ["--what-size", "32", "--where-size", "32", "--device", "cpu"]
    results = run_ram(tmp_path, name, *argv, train_limit=None)
    assert results["test"]["mean"] < 0.85, results["test"]  # chance: 0.9; one standard error on 300 digits: 0.017


def test_a_run_saved_as_cluttered_resumes(fake, tmp_path):
    run_ram(tmp_path, "cluttered60")
    last = tmp_path / "cluttered60" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    ckpt["args"]["dataset"] = "cluttered"  # what runs before cluttered100 saved
    torch.save(ckpt, last)
    results = run_ram(tmp_path, "cluttered", "--resume", "--epochs", "2", out=tmp_path / "cluttered60")
    assert results["epochs"] == 2 and results["dataset"] == "cluttered60"


def test_bad_task_options_exit_with_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        train_ram.main(["--dataset", "cluttered80", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "cluttered100" in err and "cluttered60" in err
    with pytest.raises(SystemExit) as exit_:
        train_ram.main(["--glimpse-size", "29", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "pass --glimpse-size 28 or less" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_:
        train_ram.main(["--dataset", "cluttered100", "--glimpse-size", "101", "--out", str(tmp_path / "c")])
    assert exit_.value.code == 2 and "--glimpse-size 100 or less" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
    for flag, value, message in (
        ("--augment-rotate", "200", "must lie in [0, 180]"),
        ("--augment-scale", "1", "[0, 1)"),
    ):
        with pytest.raises(SystemExit) as exit_:
            train_ram.main([flag, value, "--out", str(tmp_path / "d")])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


# -- bad tasks -------------------------------------------------------------------------------------
def test_bad_tasks_say_what_to_change():
    with pytest.raises(UsageError, match="smaller than the 28×28 digits: use a size of at least 28"):
        task("translated", size=20).check_digits(28)
    with pytest.raises(UsageError, match="larger than the 28×28 digits they are cut from: use a patch of at most 28"):
        task("cluttered60", patch=30).check_digits(28)
    with pytest.raises(UsageError, match="larger than the 24×24 canvas: use a patch of at most 24"):
        task("cluttered60", size=24, patch=25, glimpse_size=8)
    with pytest.raises(UsageError, match="glimpses of 64×64 are larger than its 60×60 images"):
        task("translated", glimpse_size=64)
    with pytest.raises(UsageError, match="plain MNIST keeps the 28×28 digits"):
        task("mnist", size=60).check_digits(28)
    with pytest.raises(UsageError, match="distractors must be >= 0"):
        Task("x", "cluttered", 60, distractors=-1)
    with pytest.raises(UsageError, match="4 distractors need a cluttered task, not 'translated'"):
        task("translated", distractors=4)  # would be ignored without a word
    with pytest.raises(UsageError, match="unknown kind 'rotated'"):
        Task("x", "rotated", 60)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="smaller than the 28×28 digits"):
        mnist_splits("nowhere", "translated", size=27)


def test_environments_name_a_fixed_task_given_another_canvas():
    import envs  # noqa: F401  (registers the ids)
    from envs.glimpse_env import GlimpseEnv

    digits = ImageSet(glyphs(torch.arange(20) % 10, 200), torch.arange(20) % 10)
    with pytest.raises(UsageError, match="pass size=100, distractors=8"):
        GlimpseEnv(dataset="cluttered100", images=digits)
    env = GlimpseEnv(dataset="cluttered100", size=100, distractors=8, glimpse_size=12, scales=4, images=digits)
    assert env.task.side == 100 and env.task.source.distractors == 8
    assert GlimpseEnv(dataset="cluttered", size=80, images=digits).task.side == 80  # the kind: any canvas


# -- torchvision-style datasets --------------------------------------------------------------------
def test_datasets_are_fixed_by_their_seed(fake):
    a = ClutteredMNIST(train=True, size=100, distractors=8)
    b = ClutteredMNIST(train=True, size=100, distractors=8, cache=1)
    assert len(a) == 1200 and a.task is TASKS["cluttered100"] and "cluttered100" in repr(a)
    image, label = a[1100]
    assert image.mode == "L" and image.size == (100, 100) and label == 1100 % 10
    assert torch.equal(torch.from_numpy(np.array(image)), a.images(1100, 1101)[0, 0])
    for i in (1100, 3, 999, 1000, -1):  # any order, any cache: the same image
        assert np.array_equal(np.asarray(b[i][0]), np.asarray(a[i][0]))
    assert len(b._chunks) == 1
    assert torch.equal(a.images(), torch.cat([b.images(0, 1000), b.images(1000)]))
    assert not torch.equal(ClutteredMNIST(seed=1, size=100, distractors=8).images(0, 50), a.images(0, 50))
    assert ClutteredMNIST(size=100, distractors=4).task.scales == 4  # a 100² canvas gets the 100² retina
    # distractors come from the split's own digits
    assert set(a.images().unique().tolist()) <= sums(9, TRAIN_VALUE)
    assert set(ClutteredMNIST(train=False).images().unique().tolist()) <= sums(5, TEST_VALUE)


def test_dataset_transforms_and_the_test_set_train_ram_reports(fake):
    from torchvision.transforms import ToTensor

    test = TranslatedMNIST(train=False, transform=ToTensor(), target_transform=lambda y: y + 100)
    x, y = test[7]
    assert x.shape == (1, 60, 60) and x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1 and y == 107
    assert torch.equal((x * 255).round().to(torch.uint8), test.images(7, 8)[0])
    assert torch.equal(test.targets, torch.arange(300) % 10)
    for seed in (0, 3):
        splits = mnist_splits(None, "translated", val_size=200, seed=seed)
        assert torch.equal(TranslatedMNIST(train=False, seed=seed).images(), splits.test.images)
    plain = GlimpseMNIST(task_name="mnist")
    assert plain[0][0].size == (28, 28) and torch.equal(plain.images(0, 5), glyphs(torch.arange(5), TRAIN_VALUE))
    with pytest.raises(IndexError):
        test[300]


def test_real_mnist_datasets_match_the_fixed_test_sets(mnist_data_root):
    test = ClutteredMNIST(mnist_data_root, train=False, size=100, distractors=8)
    splits = mnist_splits(mnist_data_root, "cluttered100", val_size=100)
    assert len(test) == 10_000 and torch.equal(test.images(0, 2500), splits.test.images[:2500])
    assert torch.equal(test.targets, splits.test.labels)
    # MNIST's digits are whole inside the translated canvas: the ink of every digit is kept
    translated = TranslatedMNIST(mnist_data_root, train=False)
    assert torch.equal(
        translated.images(0, 1000).long().sum((1, 2, 3)), translated.digits.images[:1000].long().sum((1, 2, 3))
    )
