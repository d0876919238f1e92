"""Max, average and sum pooling in 1, 2 and 3 dimensions, in the C++ core."""

from __future__ import annotations

import numpy as np

from . import _core, shapes
from ._common import (
    as_bool,
    as_input,
    check_core_range,
    check_output_size,
    compute_dtype,
    core_call,
    finish,
    result_dtype,
    to_core,
)

_DIM_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


def pool_nd(fname, kind, nd, x, kernel_size, stride, padding, dilation, ceil_mode,
            count_include_pad):
    x = as_input(x, "x", fname)
    if x.ndim not in (nd + 1, nd + 2):
        dims = _DIM_NAMES[nd]
        raise ValueError(
            f"{fname}: x must be {nd + 2}-D (N, C, {dims}) or {nd + 1}-D (C, {dims}), "
            f"got {x.ndim}-D with shape {x.shape}"
        )
    ceil_mode = as_bool(ceil_mode, "ceil_mode", fname)
    count_include_pad = as_bool(count_include_pad, "count_include_pad", fname)
    lead_shape, in_sizes = x.shape[:-nd], x.shape[-nd:]
    if min(in_sizes) < 1:
        raise ValueError(
            f"{fname}: x has an empty spatial dimension (shape {x.shape}); only the batch may be empty"
        )
    if x.ndim == nd + 1 and x.shape[0] < 1:
        raise ValueError(f"{fname}: x must have at least one channel, got shape {x.shape}")
    if x.ndim == nd + 2 and x.shape[1] < 1:
        raise ValueError(f"{fname}: x must have at least one channel, got shape {x.shape}")
    kernel, stride, dilation, pads, outs = shapes.pool_output_shape(
        in_sizes, kernel_size, stride, padding, dilation, ceil_mode, fname
    )
    rtype = result_dtype(x)
    ctype = compute_dtype(rtype)
    out_shape = tuple(lead_shape) + tuple(outs)
    cause = "the input's size, kernel_size, padding, stride and dilation"
    check_output_size(fname, out_shape, rtype.itemsize, cause)
    check_core_range(fname, cause, **{"output size": outs})
    check_core_range(fname, kernel_size=kernel)

    planes = 1
    for s in lead_shape:
        planes *= s
    lead = (1,) * (3 - nd)
    core_stride = lead + tuple(1 if o == 1 else s for o, s in zip(outs, stride))
    core_dil = lead + tuple(1 if k == 1 else d for k, d in zip(kernel, dilation))
    before = (0,) * (3 - nd) + tuple(p[0] for p in pads)
    after = (0,) * (3 - nd) + tuple(p[1] for p in pads)
    core_out, core_k = lead + tuple(outs), lead + tuple(kernel)
    reach = [(o - 1) * s + d * (k - 1) + p
             for o, s, d, k, p in zip(core_out, core_stride, core_dil, core_k, before)]
    reach += [i + p + k for i, p, k in zip(lead + tuple(in_sizes), after, core_k)]
    check_core_range(fname, stride=core_stride, dilation=core_dil, padding=before + after,
                     **{"output size": outs, "window reach (with the padding)": reach})
    if planes == 0:  # an empty batch: an empty result, the core has nothing to do
        return np.zeros(out_shape, dtype=rtype)
    xc = to_core(x, ctype, fname).reshape((planes,) + lead + tuple(in_sizes))
    y = core_call(fname, _core.pool, xc, kind, lead + kernel, core_stride, before, after,
                  core_dil, lead + tuple(outs), count_include_pad,
                  cause=f"kernel_size {kernel}, stride {stride}, padding {pads}, dilation {dilation}")
    return finish(y.reshape(out_shape), rtype)


_POOL_DOC = """{title} pooling over the last {nd} dimension(s) of a channels-first array.

    Parameters
    ----------
    x : array_like, shape (N, C, {dims}) or (C, {dims})
    kernel_size : int or {nd} ints
    stride : int or {nd} ints, optional
        Defaults to ``kernel_size``.
    padding : 'valid', 'same', int, {nd} ints or {nd} (before, after) pairs
        {padwhat}. An explicit padding is at most ``kernel_size // 2`` on each side (PyTorch's
        rule, so that every window holds an input element); ``'same'`` (TensorFlow's meaning:
        ``ceil(I / stride)`` outputs, the odd padding at the end) is taken as resolved.{extra}
    ceil_mode : bool
        Round the output size up, keeping a last window only if it starts inside the input or
        its leading padding (PyTorch's rule).

    Returns
    -------
    ndarray of dtype ``numpy.result_type(x, numpy.float32)``
        {result}
        An empty batch (``N == 0``) gives an empty result; no channels or an empty spatial
        dimension is a ValueError, as are sizes below 1 or a window larger than the padded input.
        Integer arguments are exact at any size (a kernel_size of ``2**40`` with its padding is
        computed); a bool is a TypeError (README, "Edge cases and limits").

    Examples
    --------
    >>> import cnncore as cc
    >>> x = [[[6, 6, 6, 6], [4, 5, 5, 4], [2, 4, 4, 2], [2, 4, 4, 2]]]   # the lecture's example
    >>> cc.{name}2d(x, 2)
    {example}
"""


def _doc(name, title, padwhat, result, example, extra=""):
    def deco(nd):
        dims = _DIM_NAMES[nd]
        return _POOL_DOC.format(title=title, nd=nd, dims=dims, padwhat=padwhat, extra=extra,
                                result=result, name=name, example=example)
    return deco


_max_doc = _doc(
    "max_pool", "Max", "Padding counts as -inf",
    "The largest value of each window; NaN anywhere in a window gives NaN.",
    "array([[[6., 6.],\n            [4., 4.]]])",
    extra="\n    dilation : int or ints\n        Spacing between the window's taps.",
)
_avg_doc = _doc(
    "avg_pool", "Average", "Zeros are padded",
    "Each window's mean. With ``count_include_pad`` (default) the padding counts in the divisor,\n"
    "        otherwise only the input elements do; windows that ``ceil_mode`` lets run past the\n"
    "        padding divide by the part inside it, as PyTorch does.",
    "array([[[5.25, 5.25],\n            [3.  , 3.  ]]])",
    extra="\n    count_include_pad : bool\n        Whether padded zeros count in the divisor.",
)
_sum_doc = _doc(
    "sum_pool", "Sum", "Zeros are padded",
    "Each window's sum: ``avg_pool(..., count_include_pad=True)`` times the window size, except\n"
    "        on windows that ``ceil_mode`` lets run past the padding, which simply sum what they hold.",
    "array([[[21., 21.],\n            [12., 12.]]])",
)


def _make(kind, nd, doc):
    name = {"max": "max_pool", "avg": "avg_pool", "sum": "sum_pool"}[kind] + f"{nd}d"
    if kind == "max":
        def f(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
            return pool_nd(name, "max", nd, x, kernel_size, stride, padding, dilation,
                           ceil_mode, True)
    elif kind == "avg":
        def f(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
            return pool_nd(name, "avg", nd, x, kernel_size, stride, padding, 1, ceil_mode,
                           count_include_pad)
    else:
        def f(x, kernel_size, stride=None, padding=0, ceil_mode=False):
            return pool_nd(name, "sum", nd, x, kernel_size, stride, padding, 1, ceil_mode, True)
    f.__name__ = f.__qualname__ = name
    f.__module__ = "cnncore"
    f.__doc__ = doc(nd)
    if nd != 2:  # the doctest example is 2-D
        f.__doc__ = f.__doc__.split("    Examples")[0]
    return f


max_pool1d = _make("max", 1, _max_doc)
max_pool2d = _make("max", 2, _max_doc)
max_pool3d = _make("max", 3, _max_doc)
avg_pool1d = _make("avg", 1, _avg_doc)
avg_pool2d = _make("avg", 2, _avg_doc)
avg_pool3d = _make("avg", 3, _avg_doc)
sum_pool1d = _make("sum", 1, _sum_doc)
sum_pool2d = _make("sum", 2, _sum_doc)
sum_pool3d = _make("sum", 3, _sum_doc)
