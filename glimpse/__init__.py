"""glimpse: recurrent agents that look at and make images one step at a time.

Read in this order: ``sensor`` (the retina) → ``cores`` (RNN, LSTM, GRU) → ``ram`` (the Recurrent
Attention Model) → ``losses`` (its hybrid loss) → ``evaluate`` (named protocols). Around them:
``data`` and ``variants`` (MNIST and its translated and cluttered forms), ``checkpoint``,
``render`` (GIFs) and ``cli`` (the ``glimpse`` command). The painter: ``canvas`` (strokes and the
differentiable canvas) → ``painter`` (encoder, core, stroke heads) → ``painting`` (any size, coarse
to fine); ``fit`` (the per-image reference) and ``pictures`` (files, folders, CelebA). The
generator: ``filterbank`` (Gaussian read and write attention) → ``draw`` (DRAW). The same read
makes ``soft`` (a soft-attention glimpse classifier trained by backprop); ``cnn`` is the baseline.
"""

from glimpse.canvas import paint, stroke_alpha
from glimpse.cnn import CNN, CNNConfig
from glimpse.cores import GRUCore, LSTMCore, RNNCore, make_core
from glimpse.draw import DRAW, DRAWConfig, DRAWLoss, DrawRollout
from glimpse.losses import RAMLoss, ram_loss
from glimpse.painter import Painter, PainterConfig, PaintRollout
from glimpse.ram import RAM, RAMConfig, Rollout
from glimpse.sensor import retina
from glimpse.soft import SoftAttention, SoftAttentionConfig, SoftLoss, SoftRollout, soft_loss

__version__ = "0.1.0"
__all__ = [
    "CNN",
    "DRAW",
    "RAM",
    "CNNConfig",
    "DRAWConfig",
    "DRAWLoss",
    "DrawRollout",
    "GRUCore",
    "LSTMCore",
    "PaintRollout",
    "Painter",
    "PainterConfig",
    "RAMConfig",
    "RAMLoss",
    "RNNCore",
    "Rollout",
    "SoftAttention",
    "SoftAttentionConfig",
    "SoftLoss",
    "SoftRollout",
    "make_core",
    "paint",
    "ram_loss",
    "retina",
    "soft_loss",
    "stroke_alpha",
]
