"""correlate and convolve: SciPy-style 1-D and 2-D correlation without channels."""

from __future__ import annotations

from . import _core, shapes
from ._common import (
    as_input,
    check_output_size,
    compute_dtype,
    core_call,
    finish,
    result_dtype,
    to_core,
)

_MODES = ("valid", "same", "full")


def _signal(fname, x, w, mode, flip):
    x = as_input(x, "x", fname)
    w = as_input(w, "w", fname)
    if not isinstance(mode, str) or mode not in _MODES:
        raise ValueError(f"{fname}: mode must be one of {_MODES}, got {mode!r}")
    if x.ndim not in (1, 2):
        raise ValueError(f"{fname}: x must be 1-D or 2-D, got {x.ndim}-D with shape {x.shape}")
    if w.ndim != x.ndim:
        raise ValueError(
            f"{fname}: w must have as many dimensions as x ({x.ndim}), got {w.ndim}-D with shape "
            f"{w.shape}"
        )
    if x.size == 0 or w.size == 0:
        raise ValueError(f"{fname}: x and w must not be empty, got shapes {x.shape} and {w.shape}")
    if mode == "valid" and not (
        all(a >= b for a, b in zip(x.shape, w.shape)) or all(a <= b for a, b in zip(x.shape, w.shape))
    ):
        raise ValueError(
            f"{fname}: in 'valid' mode x must be at least as large as w in every dimension, or w "
            f"as large as x in every dimension; got shapes {x.shape} and {w.shape}"
        )
    outs = tuple(shapes.signal_output_size(a, b, mode) for a, b in zip(x.shape, w.shape))
    # The 'full' result is a correlation of x padded by nw - 1 on both sides; the mode keeps a
    # window of it starting at signal_offset, i.e. a leading padding of nw - 1 - offset.
    pads = tuple(b - 1 - shapes.signal_offset(a, b, mode) for a, b in zip(x.shape, w.shape))
    rtype = result_dtype(x, w)
    ctype = compute_dtype(rtype)
    check_output_size(fname, outs, rtype.itemsize)
    lead = (1,) * (3 - x.ndim)
    xc = to_core(x, ctype, fname).reshape((1, 1) + lead + x.shape)
    wc = to_core(w, ctype, fname, "w")
    if flip:
        wc = to_core(wc[(slice(None, None, -1),) * w.ndim], ctype, fname, "w")
    wc = wc.reshape((1, 1) + lead + w.shape)
    y = core_call(fname, _core.conv, xc, wc, None, (1, 1, 1), (0,) * len(lead) + pads, (1, 1, 1),
                  lead + outs, 1)
    return finish(y.reshape(outs), rtype)


def correlate(x, w, mode="valid"):
    """Cross-correlation of two 1-D or 2-D arrays: ``z[i] = sum_a w[a] * x[i + a]``.

    The results of ``scipy.signal.correlate(x, w, mode, method='direct')``, even-sized kernels
    and kernels larger than ``x`` included.

    Parameters
    ----------
    x, w : array_like, both 1-D or both 2-D
        Not empty (an empty ``x`` or ``w`` is a ValueError).
    mode : {'valid', 'same', 'full'}
        ``'full'``: every overlap, ``nx + nw - 1`` samples. ``'same'``: the centre ``nx``
        samples of ``'full'``, starting at ``(nw - 1) // 2``. ``'valid'``: the
        ``|nx - nw| + 1`` samples where one array covers the other.

    Examples
    --------
    >>> import cnncore as cc
    >>> cc.correlate([0, 1, 2, 3, 4, 5, 6], [1, 2])                 # the lecture's 1-D example
    array([ 2.,  5.,  8., 11., 14., 17.])
    >>> cc.correlate([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
    array([[19., 25.],
           [37., 43.]])
    """
    return _signal("correlate", x, w, mode, flip=False)


def convolve(x, w, mode="valid"):
    """True convolution of two 1-D or 2-D arrays, the kernel flipped: ``s(t) = sum_a x(a) w(t - a)``.

    The results of ``scipy.signal.convolve(x, w, mode, method='direct')``; modes as
    :func:`correlate`.

    Examples
    --------
    >>> import cnncore as cc
    >>> cc.convolve([0, 1, 2, 3, 4, 5, 6], [1, 2])
    array([ 1.,  4.,  7., 10., 13., 16.])
    """
    return _signal("convolve", x, w, mode, flip=True)
