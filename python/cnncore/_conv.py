"""conv1d, conv2d, conv3d: batched, channels-first cross-correlation in the C++ core."""

from __future__ import annotations

import numpy as np

from . import _core, shapes
from ._common import (
    as_input,
    as_int,
    check_core_range,
    check_output_size,
    compute_dtype,
    core_call,
    finish,
    result_dtype,
    to_core,
)

_DIM_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}
_KERNEL_NAMES = {1: "K", 2: "KH, KW", 3: "KD, KH, KW"}

# Repeat calls: the core's arguments for shapes, dtypes and parameters already checked once.
# Keys hold only exact ints, strings and tuples of them, so that a bool or a float argument can
# never hit an entry made for an int and skip its TypeError.
_FAST: dict = {}
_FAST_LIMIT = 512


def _plain(v) -> bool:
    t = type(v)
    if t is int or t is str:
        return True
    if t is not tuple:
        return False
    for item in v:  # a loop, not all(...): this runs on every repeat call
        if type(item) is not int and not _plain(item):
            return False
    return True


def _fast_key(nd, x, w, bias, stride, padding, dilation, groups):
    if type(x) is not np.ndarray or type(w) is not np.ndarray:
        return None
    if bias is not None and type(bias) is not np.ndarray:
        return None
    if not ((type(stride) is int or _plain(stride)) and (type(padding) is int or _plain(padding))
            and (type(dilation) is int or _plain(dilation)) and type(groups) is int):
        return None
    return (nd, x.shape, x.dtype, w.shape, w.dtype,
            None if bias is None else (bias.shape, bias.dtype), stride, padding, dilation, groups)


def _conv(fname, nd, x, w, bias, stride, padding, dilation, groups):
    # Before this, the public functions asked _core.conv_cached, which finds a call passing the
    # very same parameter objects as a remembered one (a literal such as padding=1 or (1, 1) is the
    # same object at every call) with arrays of the same shapes and dtype, with no work here. The
    # core remembers only calls whose parameters passed _fast_key's type checks, and holds the
    # objects, so no other object can have their ids while the entry lives.
    key = _fast_key(nd, x, w, bias, stride, padding, dilation, groups)
    if key is not None:
        args = _FAST.get(key)
        if args is not None:
            y = _core.conv_fast(x, w, bias, args)
            if y is not None:
                _core.conv_remember(nd, x, w, bias, stride, padding, dilation, groups, args)
                return y
    y, args = conv_nd(fname, nd, x, w, bias, stride, padding, dilation, groups, want_args=True)
    if key is not None and args is not None:
        if len(_FAST) >= _FAST_LIMIT:
            _FAST.clear()
        _FAST[key] = args
        _core.conv_remember(nd, x, w, bias, stride, padding, dilation, groups, args)
    return y


def _live_taps(i, k, s, d, pad, o):
    """``(first, last)`` of the taps that meet the input in some window along one dimension, or
    None when none does (input length ``i``, kernel ``k``, stride ``s``, dilation ``d``, padding
    ``pad``, ``o`` windows). Window ``j``'s tap ``a`` reads input ``j*s + a*d - pad[0]``."""
    if k == 1 or d == 1:
        return (0, k - 1)  # the taps of a window are adjacent: no tap is dead on its own
    live = []
    for a in range(k):
        start = a * d - pad[0]
        j = 0 if start >= 0 else -(start // s)  # the first window where the tap is past 0
        if j < o and start + j * s < i:
            live.append(a)
    return (live[0], live[-1]) if live else None


def _bias_only(out_shape, b, ctype, rtype, batched, want_args):
    y = np.zeros(out_shape, dtype=ctype)
    if b is not None and y.size:
        y += b.astype(ctype).reshape((-1,) + (1,) * (len(out_shape) - 2))
    y = finish(y if batched else y[0], rtype)
    return (y, None) if want_args else y


def conv_nd(fname, nd, x, w, bias, stride, padding, dilation, groups, impl="auto",
            want_args=False):
    """Shared body of conv1d/2d/3d: checks, shape arithmetic, dtype policy, then the core.

    With ``want_args``, returns ``(y, args)``: ``args`` are ``_core.conv_fast``'s arguments for
    a repeat call with the same shapes, dtypes and parameters, when the inputs were already
    native arrays of the compute dtype (else None).
    """
    x = as_input(x, "x", fname)
    w = as_input(w, "w", fname)
    b = None if bias is None else as_input(bias, "bias", fname)
    dims = _DIM_NAMES[nd]
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(
            f"{fname}: x must be {nd + 2}-D (N, C, {dims}) or {nd + 1}-D (C, {dims}), "
            f"got {x.ndim}-D with shape {x.shape}"
        )
    if w.ndim != nd + 2:
        raise ValueError(
            f"{fname}: w must be {nd + 2}-D (F, C // groups, {_KERNEL_NAMES[nd]}), "
            f"got {w.ndim}-D with shape {w.shape}"
        )
    groups = as_int(groups, "groups", fname)
    if groups < 1:
        raise ValueError(f"{fname}: groups must be >= 1, got {groups}")
    batched = x.ndim == nd + 2
    xs = x.shape if batched else (1,) + x.shape
    n, c_in, in_sizes = xs[0], xs[1], xs[2:]
    c_out, c_per_group, kernel = w.shape[0], w.shape[1], w.shape[2:]
    if c_in < 1:
        raise ValueError(f"{fname}: x must have at least one channel, got shape {x.shape}")
    if c_out < 1:
        raise ValueError(f"{fname}: w must have at least one filter, got shape {w.shape}")
    if min(in_sizes) < 1:
        raise ValueError(
            f"{fname}: x has an empty spatial dimension (shape {x.shape}); only the batch may be empty"
        )
    if min(kernel) < 1:
        raise ValueError(f"{fname}: w has an empty kernel dimension (shape {w.shape})")
    if c_in % groups:
        raise ValueError(f"{fname}: groups={groups} does not divide the {c_in} channels of x")
    if c_out % groups:
        raise ValueError(f"{fname}: groups={groups} does not divide the {c_out} filters of w")
    if c_per_group * groups != c_in:
        raise ValueError(
            f"{fname}: w has {c_per_group} input channels per group but x has {c_in} channels "
            f"(groups={groups})"
        )
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"{fname}: bias must have shape ({c_out},) to match w, got {b.shape}")

    pads, outs, stride, dilation = shapes.conv_output_shape(
        in_sizes, kernel, stride, padding, dilation, fname
    )
    rtype = result_dtype(x, w) if b is None else result_dtype(x, w, b)
    ctype = compute_dtype(rtype)
    out_shape = (n, c_out) + tuple(outs)
    cause = "the input's size, padding, stride and dilation"
    check_output_size(fname, out_shape, rtype.itemsize, cause)
    check_core_range(fname, cause, **{"output size": outs})

    # Taps of a dilated kernel that meet no input element in any window add only zeros: drop
    # them, so that a huge dilation (a 'same' padding of 2**40 around a 3-tap kernel) leaves a
    # small problem instead of work buffers as long as the kernel's reach.
    live = [_live_taps(*args) for args in zip(in_sizes, kernel, stride, dilation, pads, outs)]
    if (any(t is None or t[0] > 0 or t[1] < k - 1 for t, k in zip(live, kernel))
            and not np.isfinite(w).all()):
        # A NaN or infinite weight on a tap that meets only padding still counts (0 * inf is
        # NaN, as the reference and PyTorch compute): nothing is dropped then.
        live = [(0, k - 1) for k in kernel]
    if None in live:
        # No tap meets the input in any window: every output is the bias alone.
        return _bias_only(out_shape, b, ctype, rtype, batched, want_args)
    asked = f"stride {stride}, padding {pads}, dilation {dilation}"  # for a MemoryError
    pruned = any(lo > 0 or hi < k - 1 for (lo, hi), k in zip(live, kernel))
    if pruned:
        x_sel, w_sel, befores = [Ellipsis], [Ellipsis], []
        for (lo, hi), d, (before, _) in zip(live, dilation, pads):
            start = lo * d - before  # input index of the first live tap in window 0
            x_sel.append(slice(max(start, 0), None))
            w_sel.append(slice(lo, hi + 1))
            befores.append(max(-start, 0))
        x = x[tuple(x_sel)]
        w = w[tuple(w_sel)]
        xs = x.shape if batched else (1,) + x.shape
        in_sizes, kernel = xs[2:], w.shape[2:]
        pads = tuple((p, 0) for p in befores)

    # The core sees 3 spatial dimensions; a stride that moves no window and a dilation of a
    # one-tap kernel change nothing, so they are normalised before the range check.
    lead = (1,) * (3 - nd)
    core_stride = lead + tuple(1 if o == 1 else s for o, s in zip(outs, stride))
    core_dil = lead + tuple(1 if k == 1 else d for k, d in zip(kernel, dilation))
    core_pad = (0,) * (3 - nd) + tuple(p[0] for p in pads)
    # The core's indexing bound: the last window's last tap, (out-1)*s + d*(k-1), plus the padding.
    core_out = lead + tuple(outs)
    core_k = lead + tuple(kernel)
    reach = [(o - 1) * s + d * (k - 1) + abs(p)
             for o, s, d, k, p in zip(core_out, core_stride, core_dil, core_k, core_pad)]
    check_core_range(fname, stride=core_stride, dilation=core_dil, padding=core_pad,
                     **{"output size": outs, "window reach (with the padding)": reach})
    if n == 0:  # an empty batch: an empty result, the core has nothing to do
        return _bias_only(out_shape, b, ctype, rtype, batched, want_args)

    xc = to_core(x, ctype, fname, "x").reshape((n, c_in) + lead + tuple(in_sizes))
    wc = to_core(w, ctype, fname, "w").reshape((c_out, c_per_group) + lead + tuple(kernel))
    bc = None if b is None else to_core(b, ctype, fname, "bias")
    y = core_call(fname, _core.conv, xc, wc, bc, core_stride, core_pad, core_dil,
                  lead + tuple(outs), groups, impl,
                  cause=asked)
    y = y.reshape(out_shape)
    if not batched:
        y = y[0]
    y = finish(y, rtype)
    if not want_args:
        return y
    same = not pruned and rtype == ctype and x.dtype == ctype and w.dtype == ctype and (b is None or b.dtype == ctype)
    args = None
    if same:
        plan = core_stride + core_pad + core_dil + lead + tuple(outs) + (groups, y.ndim) + y.shape
        args = np.array(plan, dtype=np.int64).tobytes()
    return y, args


def conv1d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) of a batch of multi-channel signals.

    Parameters
    ----------
    x : array_like, shape (N, C, L) or (C, L)
        Input signals, channels first.
    w : array_like, shape (F, C // groups, K)
        Filters.
    bias : array_like, shape (F,), optional
    stride, dilation : int or (int,)
    padding : {'valid', 'same', 'full'}, int, (int,), (before, after) or ((before, after),)
        Zero padding. ``'same'`` gives ``ceil(L / stride)`` outputs for every stride, the odd one
        at the end; ``'full'`` pads ``dilation*(K-1)`` on each side.
    groups : int
        ``C`` and ``F`` are split into ``groups`` groups; filter ``f`` sees only its group's
        channels (``groups == C`` is a depthwise convolution).

    Returns
    -------
    ndarray, shape (N, F, L_out) or (F, L_out)
        ``y[n, f, o] = bias[f] + sum_c sum_a w[f, c, a] * x_padded[n, c, o*stride + a*dilation]``,
        ``L_out = floor((L + pad_before + pad_after - dilation*(K-1) - 1) / stride) + 1``.
        dtype ``numpy.result_type(x, w, numpy.float32)``.

    Raises
    ------
    ValueError
        Bad shapes or arguments (a stride, dilation or groups below 1, a negative padding, a
        kernel reaching past the padded input). An empty batch (``N == 0``) is fine and gives an
        empty result; no channels, no filters, an empty spatial dimension or an empty kernel is
        a ValueError.
    TypeError
        A bool, float or string where an integer is expected; complex or object arrays.
    MemoryError, OverflowError
        A result too large for memory (checked before allocating), a stride, padding or
        dilation the core would index at ``2**62`` or more, or (with huge dilations whose far
        apart taps all meet the input) work buffers that do not fit. Other integers, up to
        ``2**64`` and beyond, give the exact result (README, "Edge cases and limits").

    Examples
    --------
    >>> import cnncore as cc
    >>> cc.conv1d([[0, 1, 2, 3, 4, 5, 6]], [[[1, 2]]])       # the lecture's 1-D example
    array([[ 2.,  5.,  8., 11., 14., 17.]])
    """
    y = _core.conv_cached(1, x, w, bias, stride, padding, dilation, groups)
    if y is not None:
        return y
    return _conv("conv1d", 1, x, w, bias, stride, padding, dilation, groups)


def conv2d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of a batch of multi-channel images.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    w : array_like, shape (F, C // groups, KH, KW)
    bias : array_like, shape (F,), optional
    stride, dilation : int or (int, int)
    padding : {'valid', 'same', 'full'}, int, (int, int) or ((top, bottom), (left, right))
    groups : int

    Returns
    -------
    ndarray, shape (N, F, H_out, W_out) or (F, H_out, W_out)
        ``y[n, f, i, j] = bias[f] + sum_c sum_a sum_b w[f, c, a, b] * x_padded[n, c, i*s_h + a*d_h,
        j*s_w + b*d_w]``, as in ``torch.nn.functional.conv2d``.

    Raises
    ------
    ValueError
        Bad shapes or arguments (a stride, dilation or groups below 1, a negative padding, a
        kernel reaching past the padded input). An empty batch (``N == 0``) is fine and gives an
        empty result; no channels, no filters, an empty spatial dimension or an empty kernel is
        a ValueError.
    TypeError
        A bool, float or string where an integer is expected; complex or object arrays.
    MemoryError, OverflowError
        A result too large for memory (checked before allocating), a stride, padding or
        dilation the core would index at ``2**62`` or more, or (with huge dilations whose far
        apart taps all meet the input) work buffers that do not fit. Other integers, up to
        ``2**64`` and beyond, give the exact result (README, "Edge cases and limits").

    Examples
    --------
    >>> import cnncore as cc
    >>> cc.conv2d([[[0, 1, 2], [3, 4, 5], [6, 7, 8]]], [[[[0, 1], [2, 3]]]])   # the lecture's
    array([[[19., 25.],
            [37., 43.]]])
    """
    y = _core.conv_cached(2, x, w, bias, stride, padding, dilation, groups)
    if y is not None:
        return y
    return _conv("conv2d", 2, x, w, bias, stride, padding, dilation, groups)


def conv3d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) of a batch of multi-channel volumes (or videos).

    Parameters
    ----------
    x : array_like, shape (N, C, D, H, W) or (C, D, H, W)
    w : array_like, shape (F, C // groups, KD, KH, KW)
    bias : array_like, shape (F,), optional
    stride, dilation : int or (int, int, int)
    padding : {'valid', 'same', 'full'}, int, three ints or three (before, after) pairs
    groups : int

    Returns
    -------
    ndarray, shape (N, F, D_out, H_out, W_out) or (F, D_out, H_out, W_out)

    Raises
    ------
    ValueError
        Bad shapes or arguments (a stride, dilation or groups below 1, a negative padding, a
        kernel reaching past the padded input). An empty batch (``N == 0``) is fine and gives an
        empty result; no channels, no filters, an empty spatial dimension or an empty kernel is
        a ValueError.
    TypeError
        A bool, float or string where an integer is expected; complex or object arrays.
    MemoryError, OverflowError
        A result too large for memory (checked before allocating), a stride, padding or
        dilation the core would index at ``2**62`` or more, or (with huge dilations whose far
        apart taps all meet the input) work buffers that do not fit. Other integers, up to
        ``2**64`` and beyond, give the exact result (README, "Edge cases and limits").

    Examples
    --------
    >>> import numpy as np, cnncore as cc
    >>> cc.conv3d(np.ones((1, 1, 3, 3, 3)), np.ones((2, 1, 2, 2, 2)), padding='same').shape
    (1, 2, 3, 3, 3)
    """
    y = _core.conv_cached(3, x, w, bias, stride, padding, dilation, groups)
    if y is not None:
        return y
    return _conv("conv3d", 3, x, w, bias, stride, padding, dilation, groups)
