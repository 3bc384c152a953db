"""Gymnasium environments for glimpsing and painting, registered in this one place.

``import envs`` registers every id below with Gymnasium (namespace ``glimpse/``), or use
``gymnasium.make("envs:glimpse/MNIST-v0")``. Each id has a single environment (``entry_point``)
and a batched tensor environment (``vector_entry_point``, ``gymnasium.make_vec(id, num_envs=N,
vectorization_mode="vector_entry_point")``). Keyword arguments of ``make`` override the defaults
below (``data_root``, ``split``, ``glimpses``, ``size``, ``strokes`` ...).
"""

from __future__ import annotations

import gymnasium

from glimpse.data import TASKS

from .glimpse_env import GlimpseEnv
from .paint_env import PaintEnv
from .vector import GlimpseVectorEnv, PaintVectorEnv

__all__ = ["GLIMPSE_IDS", "IDS", "PAINT_IDS", "GlimpseEnv", "GlimpseVectorEnv", "PaintEnv", "PaintVectorEnv"]


def _glimpse_kwargs(name: str) -> dict:
    """An id's defaults from the task registry: the task's kind, canvas and the paper's retina."""
    t = TASKS[name]
    kwargs: dict = dict(dataset=t.kind)
    if t.kind != "mnist":
        kwargs["size"] = t.size
    if t.kind == "cluttered":
        kwargs["distractors"] = t.distractors
    return {**kwargs, "glimpses": t.glimpses, "glimpse_size": t.glimpse_size, "scales": t.scales}


# the paper's settings (Mnih et al. 2014): g × g glimpses at k scales, T glimpses (glimpse.data.TASKS)
GLIMPSE_IDS: dict[str, dict] = {
    "glimpse/MNIST-v0": _glimpse_kwargs("mnist"),
    "glimpse/TranslatedMNIST-v0": _glimpse_kwargs("translated"),
    "glimpse/ClutteredMNIST60-v0": _glimpse_kwargs("cluttered60"),
    "glimpse/ClutteredMNIST100-v0": _glimpse_kwargs("cluttered100"),
}
# the shipped painters' budgets: faces 20 steps × 10 strokes, digits 10 steps × 2 strokes
PAINT_IDS: dict[str, dict] = {
    "glimpse/PaintFaces-v0": dict(dataset="celeba", size=64, channels=3, strokes_per_step=10, strokes=200),
    "glimpse/PaintMNIST-v0": dict(dataset="mnist", size=64, channels=1, strokes_per_step=2, strokes=20),
    "glimpse/PaintFolder-v0": dict(dataset="folder", size=64, channels=3, strokes_per_step=10, strokes=200),
}
IDS = (*GLIMPSE_IDS, *PAINT_IDS)


def _register() -> None:
    for env_id, kwargs in GLIMPSE_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                env_id,
                entry_point="envs.glimpse_env:GlimpseEnv",
                vector_entry_point="envs.vector:GlimpseVectorEnv",
                kwargs=kwargs,
            )
    for env_id, kwargs in PAINT_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                env_id,
                entry_point="envs.paint_env:PaintEnv",
                vector_entry_point="envs.vector:PaintVectorEnv",
                kwargs=kwargs,
            )


_register()
