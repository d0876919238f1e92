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
>>> print(model.summary())
Model: lecture (shapes per sample, (H, W, C))
No  Name   Layer                               Activation shape  Activation size  # Parameters       MACs
--  -----  ----------------------------------  ----------------  ---------------  ------------  ---------
 1  INPUT  Input                               (28, 28, 1)                   784             0          0
 2  CONV1  Conv2D 5x5, 16 filters, same, relu  (28, 28, 16)               12,544           416    313,600
 3  POOL1  MaxPool2D 2x2                       (14, 14, 16)                3,136             0          0
 4  CONV2  Conv2D 5x5, 32 filters, same, relu  (14, 14, 32)                6,272        12,832  2,508,800
 5  POOL2  MaxPool2D 2x2                       (7, 7, 32)                  1,568             0          0
 6  FC3    Dense 100, relu                     (100,)                        100       156,900    156,800
 7  FC4    Dense 10, softmax                   (10,)                          10         1,010      1,000
--  -----  ----------------------------------  ----------------  ---------------  ------------  ---------
    Total                                                                              171,158  2,980,200
<BLANKLINE>
Parameters: 171,158 (668.6 KiB in float32); multiply-accumulates per sample: 2,980,200
Activations per sample, input included: 24,414 values (95.4 KiB in float32)
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
