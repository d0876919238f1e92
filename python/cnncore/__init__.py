"""cnncore: what convolutional networks are made of, in a multithreaded C++ core.

Convolution in 1, 2 and 3 dimensions (``conv1d``, ``conv2d``, ``conv3d``), SciPy-style
``correlate`` and ``convolve``, max / average / sum pooling, ReLU, leaky ReLU and ELU, all computed
in C++ (OpenMP, with the GIL released) and cross-checked against ``cnncore.reference``, the same
functions in plain NumPy. ``cnncore.shapes`` holds every size formula. ``cnncore.nn`` builds
networks from them: layers, a ``Sequential`` model with its complexity table, checked weights
files, and the lecture's network trained on real handwritten digits.

Images: ``filter2d`` filters grey, RGB and RGBA images (channels last) with the classic kernels of
``cnncore.filters``; ``to_uint8`` turns a result into a picture; ``read_image``, ``save_image``,
``sample_image`` and ``gallery`` need Pillow (``pip install "cnncore[image]"``).

>>> import cnncore as cc
>>> cc.correlate([0, 1, 2, 3, 4, 5, 6], [1, 2])
array([ 2.,  5.,  8., 11., 14., 17.])
>>> cc.shapes.conv_output_size(7, 2)
6
"""

from __future__ import annotations

from . import _core as _core  # the compiled core (private; the tests use its switches)
from . import filters, reference, shapes
from ._activation import elu, leaky_relu, relu
from ._config import get_num_threads, set_num_threads, show_config
from ._conv import conv1d, conv2d, conv3d
from ._gallery import gallery
from ._image import filter2d, to_grey, to_uint8
from ._imageio import read_image, sample_image, save_image
from ._pool import (
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    sum_pool1d,
    sum_pool2d,
    sum_pool3d,
)
from ._signal import convolve, correlate
from ._version import __version__
from . import nn  # noqa: E402  (after the operators it is built on)

__all__ = [
    "__version__",
    "conv1d",
    "conv2d",
    "conv3d",
    "correlate",
    "convolve",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "sum_pool1d",
    "sum_pool2d",
    "sum_pool3d",
    "relu",
    "leaky_relu",
    "elu",
    "get_num_threads",
    "set_num_threads",
    "show_config",
    "filter2d",
    "filters",
    "to_uint8",
    "to_grey",
    "read_image",
    "save_image",
    "sample_image",
    "gallery",
    "shapes",
    "reference",
    "nn",
]
