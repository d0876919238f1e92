"""cnncore.nn: write a CNN down in a few lines, see its table, load weights, run it.

Layers (channels first, like the core and PyTorch): :class:`Input`, :class:`Conv1D`,
:class:`Conv2D`, :class:`MaxPool1D`, :class:`MaxPool2D`, :class:`AvgPool1D`, :class:`AvgPool2D`,
:class:`SumPool1D`, :class:`SumPool2D`, :class:`ReLU`, :class:`LeakyReLU`, :class:`ELU`,
:class:`Softmax`, :class:`Flatten`, :class:`Dense`; a :class:`Sequential` model with
``summary()``, ``init_weights()``, ``save_weights()`` / ``load_weights()`` (checked ``.npz``, never
pickle), ``predict()``; :func:`from_torch` to import PyTorch weights; :func:`model_from_config` and
:func:`load_model_file` for models written as JSON or TOML; the lecture's trained network
(:func:`lecture_model`) and its 1,000 held-out MNIST digits (:func:`load_digits`).

>>> from cnncore import nn
>>> model = nn.lecture_model()
>>> summary = model.summary()          # print(summary) shows the table
>>> [(row.name, row.shape, row.params) for row in summary.rows][:3]
[('INPUT', (28, 28, 1), 0), ('CONV1', (28, 28, 16), 416), ('POOL1', (14, 14, 16), 0)]
>>> summary.total_params
171158
>>> images, labels = nn.load_digits()
>>> model.predict(images[:3] / 255).argmax(axis=1).tolist(), labels[:3].tolist()
([3, 0, 6], [3, 0, 6])
"""

from __future__ import annotations

from .config import layer_from_config, load_model_file, model_from_config
from .layers import (
    ELU,
    AvgPool1D,
    AvgPool2D,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    Input,
    Layer,
    LeakyReLU,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Softmax,
    SumPool1D,
    SumPool2D,
)
from .lecture import lecture_model, load_digits
from .model import Sequential
from .pytorch import from_torch
from .summary import Summary, SummaryRow

__all__ = [
    "Layer",
    "Input",
    "Conv1D",
    "Conv2D",
    "MaxPool1D",
    "MaxPool2D",
    "AvgPool1D",
    "AvgPool2D",
    "SumPool1D",
    "SumPool2D",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Flatten",
    "Dense",
    "Sequential",
    "Summary",
    "SummaryRow",
    "from_torch",
    "model_from_config",
    "layer_from_config",
    "load_model_file",
    "lecture_model",
    "load_digits",
]
