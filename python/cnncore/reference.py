"""Reference implementations in plain NumPy: the readable oracle.

Every function here has the same name, arguments and results as the fast core in :mod:`cnncore`
(see ``API.md``), but is written to be *read*: the lecture's formulas first, as code, with no
tricks. The test-suite compares the fast core against these functions over thousands of random
cases, so they favour being obviously right over being fast. They are still vectorised enough for
that job: the only Python loop runs over the *taps* of the kernel (its positions ``a``, ``(a, b)``
or ``(a, b, c)``), and each tap is one whole-array NumPy operation over a strided slice of the
padded input. There is never a Python loop over output pixels.

The formulas, for one spatial dimension (the 2-D and 3-D cases repeat them per axis):

* cross-correlation, "convolution" in deep learning (lecture section 1)::

      y[o] = sum_a  w[a] * x_padded[o*stride + a*dilation]

  summed also over the input channels of the filter's group, plus the filter's bias;
* true convolution flips the kernel: ``s(t) = sum_a x(a) w(t - a)``;
* pooling reduces the same windows with ``max``, ``mean`` or ``sum`` instead of a dot product;
* the output length is simply *how many windows fit* in the padded input::

      o = len(range(0, padded_len - reach + 1, stride)),   reach = dilation*(k - 1) + 1

  which is the lecture's ``floor((i + 2p - k) / s) + 1``. It is counted here, not taken from
  :mod:`cnncore.shapes`, so that the reference also checks the shape module independently.
  Only the *padding* (``'same'`` and friends) is resolved by :mod:`cnncore.shapes`, the single
  source of truth for what each padding form means.

Dtypes follow the package's rule: the result dtype is ``np.result_type(x, w, np.float32)`` for
the two-operand functions (``bias`` included when given) and ``np.result_type(x, np.float32)``
for the one-operand ones. The arithmetic itself is done in float64 (or in ``np.longdouble`` when
the result is ``np.longdouble``) and the result is cast at the end. Inputs are never modified and
results are new C-contiguous arrays.

>>> correlate([0, 1, 2, 3, 4, 5, 6], [1, 2])
array([ 2.,  5.,  8., 11., 14., 17.])
>>> correlate([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
array([[19., 25.],
       [37., 43.]])
"""

from __future__ import annotations

import operator

import numpy as np

from . import shapes

__all__ = [
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
]

_SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}
_KERNEL_NAMES = {1: "K", 2: "KH, KW", 3: "KD, KH, KW"}
_SIGNAL_MODES = ("valid", "same", "full")


# ----------------------------------------------------------------------------------------------
# Small helpers: input checking and dtypes.


def _real_array(value, fname, name):
    """``value`` as an ndarray of bools, integers or floats; anything else raises TypeError."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # e.g. a ragged nested list
        raise TypeError(f"{fname}: {name} must be array-like of real numbers ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{fname}: {name} must hold real numbers (bool, integer or float), "
            f"got dtype {arr.dtype}"
        )
    return arr


def _work_dtype(out_dtype):
    """The dtype to compute in: long double for long-double results, float64 otherwise."""
    return np.dtype(np.longdouble) if out_dtype == np.longdouble else np.dtype(np.float64)


def _real_scalar(value, fname, name):
    """``value`` unchanged if it is a real number; complex, strings, bools raise TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{fname}: {name} must be a real number, got {type(value).__name__} "
                        f"{value!r}")
    return value


def _positive_int(value, fname, name):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fname}: {name} must be an integer, got bool {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{fname}: {name} must be an integer, got {type(value).__name__} {value!r}"
        ) from None
    if v < 1:
        raise ValueError(f"{fname}: {name} must be >= 1, got {v}")
    return v


def _check_batched(x, nd, fname):
    """Check that ``x`` is ``(N, C, *spatial)`` or ``(C, *spatial)`` with ``nd`` spatial dims."""
    if x.ndim not in (nd + 1, nd + 2):
        names = _SPATIAL_NAMES[nd]
        raise ValueError(
            f"{fname}: x must have {nd + 2} dimensions (N, C, {names}) or {nd + 1} (C, {names}), "
            f"got {x.ndim} dimensions with shape {x.shape}"
        )
    if x.shape[-nd - 1] < 1:
        raise ValueError(f"{fname}: x must have at least one channel, got shape {x.shape}")
    for dim, size in enumerate(x.shape[-nd:]):
        if size < 1:
            raise ValueError(
                f"{fname}: x must have at least one element along every spatial dimension, "
                f"got shape {x.shape} (spatial dimension {dim} is empty)"
            )


def _result(y, out_dtype):
    """``y`` cast to the result dtype, as a new C-contiguous array (0-d stays 0-d)."""
    return np.array(y, dtype=out_dtype, order="C")


def _taps(kernel):
    """Every position of the kernel: ``(0,), (1,), ...`` or ``(0, 0), (0, 1), ...`` and so on."""
    return np.ndindex(*kernel)


def _window_slices(tap, dilation, stride, out_sizes):
    """For one kernel tap, the strided slice of the padded input that it meets in every window.

    Output position ``o`` meets input position ``o*stride + a*dilation``; over all ``o`` that is
    ``range(a*dilation, a*dilation + (out - 1)*stride + 1, stride)`` in each dimension.
    """
    return tuple(
        slice(a * d, a * d + (o - 1) * s + 1, s)
        for a, d, s, o in zip(tap, dilation, stride, out_sizes)
    )


# ----------------------------------------------------------------------------------------------
# Deep-learning convolution (cross-correlation), batched and channels first.


def _conv_nd(x, w, bias, stride, padding, dilation, groups, nd, fname):
    x = _real_array(x, fname, "x")
    w = _real_array(w, fname, "w")
    b = None if bias is None else _real_array(bias, fname, "bias")
    operands = (x, w) if b is None else (x, w, b)
    out_dtype = np.result_type(*operands, np.float32)
    work = _work_dtype(out_dtype)

    # --- shapes and arguments ---------------------------------------------------------------
    _check_batched(x, nd, fname)
    if w.ndim != nd + 2:
        raise ValueError(
            f"{fname}: w must have {nd + 2} dimensions (F, C // groups, {_KERNEL_NAMES[nd]}), "
            f"got {w.ndim} dimensions with shape {w.shape}"
        )
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x[np.newaxis]
    n, c = x.shape[:2]
    f, c_per_group = w.shape[:2]
    kernel = w.shape[2:]
    if f < 1:
        raise ValueError(f"{fname}: w must have at least one filter, got shape {w.shape}")
    if any(k < 1 for k in kernel):
        raise ValueError(f"{fname}: w must have a kernel of size >= 1 in every dimension, "
                         f"got shape {w.shape}")
    groups = _positive_int(groups, fname, "groups")
    if c % groups:
        raise ValueError(f"{fname}: groups={groups} must divide the {c} channels of x")
    if f % groups:
        raise ValueError(f"{fname}: groups={groups} must divide the {f} filters of w "
                         f"(w.shape[0])")
    if c_per_group * groups != c:
        raise ValueError(
            f"{fname}: w has {c_per_group} input channels per group but x has {c} channels "
            f"(groups={groups})"
        )
    if b is not None and b.shape != (f,):
        raise ValueError(f"{fname}: bias must have shape ({f},) (one per filter), "
                         f"got shape {b.shape}")
    stride = shapes.normalize_tuple(stride, nd, "stride", fname)
    dilation = shapes.normalize_tuple(dilation, nd, "dilation", fname)
    specs = shapes.normalize_padding(padding, nd, fname)

    # --- padding: resolved by the shapes module, applied here with zeros ----------------------
    sizes = x.shape[2:]
    pads = [shapes.resolve_padding(specs[dim], sizes[dim], kernel[dim], stride[dim],
                                   dilation[dim]) for dim in range(nd)]
    x_padded = np.pad(x.astype(work), [(0, 0), (0, 0)] + pads)  # zeros

    # --- output size: how many windows fit in the padded input --------------------------------
    out_sizes = []
    for dim in range(nd):
        padded_len = x_padded.shape[2 + dim]
        reach = dilation[dim] * (kernel[dim] - 1) + 1
        if padded_len < reach:
            raise ValueError(
                f"{fname}: the kernel (size {kernel[dim]}, dilation {dilation[dim]}, reach "
                f"{reach}) is larger than the padded input ({padded_len}) in spatial "
                f"dimension {dim}"
            )
        out_sizes.append(len(range(0, padded_len - reach + 1, stride[dim])))

    # --- y[n, f, o] = sum_c sum_a w[f, c, a] * x_padded[n, c, o*stride + a*dilation] ---------
    # Channels split into groups: filter f of group g sees only that group's channels.
    f_per_group = f // groups
    xg = x_padded.reshape(n, groups, c_per_group, *x_padded.shape[2:])
    wg = w.astype(work).reshape(groups, f_per_group, c_per_group, *kernel)
    y = np.zeros((n, groups, f_per_group, *out_sizes), dtype=work)
    for tap in _taps(kernel):
        x_tap = xg[(slice(None),) * 3 + _window_slices(tap, dilation, stride, out_sizes)]
        w_tap = wg[(Ellipsis,) + tap]  # (groups, f_per_group, c_per_group)
        y += np.einsum("ngc...,gfc->ngf...", x_tap, w_tap)
    y = y.reshape(n, f, *out_sizes)
    if b is not None:
        y += b.astype(work).reshape((f,) + (1,) * nd)
    if unbatched:
        y = y[0]
    return _result(y, out_dtype)


_CONV_DOC = """{nd}-D convolution (cross-correlation) of a batch of {nd}-D signals, channels first.

    For every filter ``f`` and output position ``o`` (a {nd}-tuple)::

        y[n, f, o] = bias[f]
                     + sum_c sum_a  w[f, c, a] * x_padded[n, g*Cg + c, o*stride + a*dilation]

    where ``a`` runs over the kernel's taps, ``c`` over the ``Cg = C // groups`` channels of the
    filter's group ``g = f // (F // groups)``, and ``x_padded`` is ``x`` with zeros added around it.
    The kernel is *not* flipped: this is what deep-learning libraries call convolution.

    Parameters
    ----------
    x : array_like
        Input, ``(N, C, {names})`` or unbatched ``(C, {names})``.
    w : array_like
        Filters, ``(F, C // groups, {knames})``.
    bias : array_like, optional
        ``(F,)``, one value added to every output of each filter.
    stride : int or sequence of {nd} ints, default 1
        How far the window moves between outputs.
    padding : {{'valid', 'same', 'full'}}, int, or sequence of {nd} ints or (before, after) pairs
        Zeros added around the input, resolved per dimension by
        :func:`cnncore.shapes.resolve_padding`. ``'same'`` gives ``ceil(I / stride)`` outputs
        (extra padding at the end), ``'full'`` pads ``dilation*(k - 1)`` on each side.{bare_pair}
    dilation : int or sequence of {nd} ints, default 1
        Spacing between kernel taps; the kernel's reach is ``dilation*(k - 1) + 1``.
    groups : int, default 1
        Number of channel groups; ``groups == C`` is a depthwise convolution.

    Returns
    -------
    numpy.ndarray
        ``(N, F, *out)`` or unbatched ``(F, *out)``, where ``out`` is the number of windows that
        fit in the padded input along each dimension. Dtype ``np.result_type(x, w, [bias,]
        np.float32)``.

    Raises
    ------
    ValueError
        Wrong number of dimensions, channels that don't match ``w.shape[1] * groups``, ``groups``
        not dividing ``C`` or ``F``, a bias of the wrong shape, bad padding, or a kernel larger
        than the padded input.
    TypeError
        Complex, object, string or datetime inputs; non-integer stride, dilation or groups.
    """


def conv1d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    return _conv_nd(x, w, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    return _conv_nd(x, w, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv3d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    return _conv_nd(x, w, bias, stride, padding, dilation, groups, 3, "conv3d")


for _nd, _f in ((1, conv1d), (2, conv2d), (3, conv3d)):
    _f.__doc__ = _CONV_DOC.format(
        nd=_nd, names=_SPATIAL_NAMES[_nd], knames=_KERNEL_NAMES[_nd],
        bare_pair=("\n        For 1-D a bare ``(before, after)`` pair is accepted too."
                   if _nd == 1 else ""))


# ----------------------------------------------------------------------------------------------
# Signal-style correlation and convolution (SciPy's modes), 1-D and 2-D, no channels.


def _full_correlation(x, w):
    """The ``'full'`` cross-correlation: ``z[i] = sum_a w[a] * x[i + a - (nw - 1)]``.

    ``x`` is taken as zero outside its bounds, so pad it with ``nw - 1`` zeros on both sides of
    every axis; then ``z[i] = sum_a w[a] * x_padded[i + a]``, one whole-array term per tap ``a``.
    """
    x_padded = np.pad(x, [(nw - 1, nw - 1) for nw in w.shape])
    out_shape = tuple(nx + nw - 1 for nx, nw in zip(x.shape, w.shape))
    z = np.zeros(out_shape, dtype=x.dtype)
    for tap in _taps(w.shape):
        z += w[tap] * x_padded[tuple(slice(a, a + n) for a, n in zip(tap, out_shape))]
    return z


def _signal(x, w, mode, fname, flip):
    x = _real_array(x, fname, "x")
    w = _real_array(w, fname, "w")
    out_dtype = np.result_type(x, w, np.float32)
    work = _work_dtype(out_dtype)
    if x.ndim != w.ndim or x.ndim not in (1, 2):
        raise ValueError(
            f"{fname}: x and w must both be 1-D or both 2-D, got x with {x.ndim} dimensions "
            f"(shape {x.shape}) and w with {w.ndim} (shape {w.shape})"
        )
    if x.size == 0 or w.size == 0:
        raise ValueError(f"{fname}: x and w must not be empty, got shapes {x.shape} and {w.shape}")
    if not isinstance(mode, str) or mode not in _SIGNAL_MODES:
        raise ValueError(f"{fname}: mode must be one of {_SIGNAL_MODES}, got {mode!r}")
    if mode == "valid" and not (
        all(nx >= nw for nx, nw in zip(x.shape, w.shape))
        or all(nw >= nx for nx, nw in zip(x.shape, w.shape))
    ):
        raise ValueError(
            f"{fname}: in 'valid' mode x must be at least as large as w in every dimension, or w "
            f"at least as large as x in every dimension (SciPy's rule), got shapes {x.shape} and "
            f"{w.shape}"
        )

    x = x.astype(work)
    w = w.astype(work)
    if flip:  # true convolution = correlation with the kernel flipped on every axis
        w = w[(slice(None, None, -1),) * w.ndim]
    z = _full_correlation(x, w)

    # Keep the part of the 'full' result that the mode asks for, axis by axis (SciPy's slicing).
    keep = []
    for nx, nw in zip(x.shape, w.shape):
        if mode == "full":
            start, length = 0, nx + nw - 1
        elif mode == "same":  # centred: SciPy's choice, also for even kernels
            start, length = (nw - 1) // 2, nx
        else:  # 'valid': where one fully overlaps the other
            start, length = min(nx, nw) - 1, abs(nx - nw) + 1
        keep.append(slice(start, start + length))
    return _result(z[tuple(keep)], out_dtype)


def correlate(x, w, mode="valid"):
    """Cross-correlation of two 1-D or two 2-D arrays, as ``scipy.signal.correlate``.

    The lecture's ``(w * x)(i) = sum_a w[a] x[i + a]`` (2-D: ``sum_a sum_b w[a, b] x[i+a, j+b]``),
    the kernel not flipped. Computed as the ``'full'`` correlation::

        full[i] = sum_a w[a] * x[i + a - (nw - 1)]        (x is zero outside its bounds)

    of length ``nx + nw - 1`` per axis, of which ``mode`` keeps, per axis:

    * ``'full'``: everything;
    * ``'same'``: ``nx`` values starting at ``(nw - 1) // 2`` (SciPy's centring, which for even
      kernels differs from PyTorch's ``'same'``);
    * ``'valid'``: ``|nx - nw| + 1`` values starting at ``min(nx, nw) - 1``, the positions where
      one array fully overlaps the other.

    Parameters
    ----------
    x, w : array_like
        Both 1-D or both 2-D, non-empty.
    mode : {'valid', 'same', 'full'}, default 'valid'

    Returns
    -------
    numpy.ndarray
        Dtype ``np.result_type(x, w, np.float32)``.

    Raises
    ------
    ValueError
        Different numbers of dimensions, not 1-D or 2-D, an empty input, an unknown mode, or in
        ``'valid'`` mode neither array at least as large as the other in every dimension.
    TypeError
        Complex, object, string or datetime inputs.

    Examples
    --------
    >>> correlate([0, 1, 2, 3, 4, 5, 6], [1, 2])
    array([ 2.,  5.,  8., 11., 14., 17.])
    """
    return _signal(x, w, mode, "correlate", flip=False)


def convolve(x, w, mode="valid"):
    """True convolution of two 1-D or two 2-D arrays, as ``scipy.signal.convolve``.

    ``s(t) = sum_a x(a) w(t - a)``: the kernel is flipped. That is exactly :func:`correlate` with
    ``w`` reversed along every axis, with the same ``mode`` slicing of the ``'full'`` result.

    Parameters
    ----------
    x, w : array_like
        Both 1-D or both 2-D, non-empty.
    mode : {'valid', 'same', 'full'}, default 'valid'

    Returns
    -------
    numpy.ndarray
        Dtype ``np.result_type(x, w, np.float32)``.

    Raises
    ------
    ValueError, TypeError
        As :func:`correlate`.

    Examples
    --------
    >>> convolve([0, 1, 2, 3, 4, 5, 6], [1, 2])
    array([ 1.,  4.,  7., 10., 13., 16.])
    """
    return _signal(x, w, mode, "convolve", flip=True)


# ----------------------------------------------------------------------------------------------
# Pooling.


def _pool_nd(x, kernel_size, stride, padding, dilation, ceil_mode, nd, fname, kind,
             count_include_pad=True):
    x = _real_array(x, fname, "x")
    out_dtype = np.result_type(x, np.float32)
    work = _work_dtype(out_dtype)
    _check_batched(x, nd, fname)
    kernel = shapes.normalize_tuple(kernel_size, nd, "kernel_size", fname)
    stride = kernel if stride is None else shapes.normalize_tuple(stride, nd, "stride", fname)
    dilation = shapes.normalize_tuple(dilation, nd, "dilation", fname)
    specs = shapes.normalize_padding(padding, nd, fname)
    ceil_mode = bool(ceil_mode)

    sizes = x.shape[-nd:]
    pads, out_sizes = [], []
    for dim in range(nd):
        i, k, s, d, spec = sizes[dim], kernel[dim], stride[dim], dilation[dim], specs[dim]
        if isinstance(spec, str) and spec == "full":
            raise ValueError(f"{fname}: padding must be 'valid', 'same', an int or "
                             f"(before, after) pairs, got 'full'")
        before, after = shapes.resolve_padding(spec, i, k, s, d)
        if not isinstance(spec, str) and max(before, after) > k // 2:
            # PyTorch's rule (it keeps windows from lying in the padding alone).
            raise ValueError(
                f"{fname}: padding must be at most half the kernel size (kernel_size={k}, so at "
                f"most {k // 2}), got {(before, after) if before != after else before}"
            )
        padded_len = i + before + after
        reach = d * (k - 1) + 1
        if padded_len < reach:
            raise ValueError(
                f"{fname}: the window (kernel_size {k}, dilation {d}, reach {reach}) is larger "
                f"than the padded input ({padded_len}) in spatial dimension {dim}"
            )
        if ceil_mode:
            # Round up: one more window for a leftover partial one at the end...
            n_out = len(range(0, padded_len - reach + s, s))
            # ...but (PyTorch's rule) the last window must start inside the input or the
            # leading padding, not in the trailing padding.
            if (n_out - 1) * s >= i + before:
                n_out -= 1
        else:
            n_out = len(range(0, padded_len - reach + 1, s))
        pads.append((before, after))
        out_sizes.append(n_out)

    # Pad: -inf for max (never wins), zeros for sum and average. In ceil mode the last window may
    # run past the padded end; pad a little more so that it can be sliced, with the same neutral
    # value: those extra positions are not part of any window's result.
    fill = -np.inf if kind == "max" else 0.0
    extra = [max(0, (o - 1) * s + d * (k - 1) + 1 - (i + b + a))
             for o, s, d, k, i, (b, a) in zip(out_sizes, stride, dilation, kernel, sizes, pads)]
    pad_width = [(0, 0)] * (x.ndim - nd) + [(b, a + e) for (b, a), e in zip(pads, extra)]
    x_padded = np.pad(x.astype(work), pad_width, constant_values=fill)

    leading = x.shape[:-nd]
    if kind == "max":
        y = np.full(leading + tuple(out_sizes), -np.inf, dtype=work)
        for tap in _taps(kernel):
            window = x_padded[(Ellipsis,) + _window_slices(tap, dilation, stride, out_sizes)]
            y = np.maximum(y, window)  # np.maximum propagates NaN (np.fmax would not)
    else:
        y = np.zeros(leading + tuple(out_sizes), dtype=work)
        for tap in _taps(kernel):
            y += x_padded[(Ellipsis,) + _window_slices(tap, dilation, stride, out_sizes)]
        if kind == "avg":
            y /= _avg_divisor(sizes, kernel, stride, pads, out_sizes, count_include_pad, work)
    return _result(y, out_dtype)


def _avg_divisor(sizes, kernel, stride, pads, out_sizes, count_include_pad, work):
    """The divisor of every average-pooling window, exactly as PyTorch's CPU kernel.

    Per dimension, for output ``o``: the window is ``[start, end)`` with ``start = o*stride -
    pad_before`` and ``end = min(start + k, i + pad_after)`` (a ceil-mode window is cut at the
    end of the padding), of size ``end - start`` padding included. Clipped to the input,
    ``[max(start, 0), min(end, i))``, it counts only input elements. The divisor is the product
    of the per-dimension sizes: with padding if ``count_include_pad``, without otherwise.
    """
    nd = len(sizes)
    divisor = np.ones((1,) * nd, dtype=work)
    for dim, (i, k, s, (before, after), n_out) in enumerate(
            zip(sizes, kernel, stride, pads, out_sizes)):
        # In Python integers: a stride of 2**63 overflows NumPy's int64 (the sizes never do).
        start = [o * s - before for o in range(n_out)]
        end = [min(a + k, i + after) for a in start]
        if count_include_pad:
            size = [e - a for a, e in zip(start, end)]
        else:
            size = [min(e, i) - max(a, 0) for a, e in zip(start, end)]
        shape = [1] * nd
        shape[dim] = n_out
        divisor = divisor * np.array(size, dtype=work).reshape(shape)
    return divisor


_POOL_COMMON = """
    Parameters
    ----------
    x : array_like
        ``(N, C, {names})`` or unbatched ``(C, {names})``; every leading dimension is pooled
        independently.
    kernel_size : int or sequence of {nd} ints
        The window's size.
    stride : int, sequence of {nd} ints or None, default None
        How far the window moves; None means ``kernel_size``.
    padding : {{'valid', 'same'}}, int, sequence of {nd} ints or of {nd} (before, after) pairs
        Added around the input ({padvalue}). Explicit padding must be at most ``kernel_size // 2``
        on each side (PyTorch's rule); ``'same'`` (TensorFlow's: ``ceil(I / stride)`` outputs,
        extra padding at the end) is accepted as resolved; ``'full'`` is refused.{dilation}
    ceil_mode : bool, default False
        Round the number of windows up instead of down, as PyTorch: a last, partial window is kept
        if it starts inside the input or the leading padding.{extra}

    Returns
    -------
    numpy.ndarray
        ``x.shape[:-{nd}] + out``, ``out`` the number of windows along each dimension.
        Dtype ``np.result_type(x, np.float32)``.

    Raises
    ------
    ValueError
        Wrong number of dimensions, bad kernel size, stride, dilation or padding, or a window
        larger than the padded input.
    TypeError
        Complex, object, string or datetime input; non-integer sizes.
    """

_DILATION_DOC = """
    dilation : int or sequence of {nd} ints, default 1
        Spacing between the window's elements."""

_COUNT_DOC = """
    count_include_pad : bool, default True
        Whether padding zeros count in the divisor. The divisor is exactly PyTorch's (see
        ``_avg_divisor``): ceil-mode windows are cut at the end of the padding."""


def _pool_doc(summary, formula, nd, kind):
    names = _SPATIAL_NAMES[nd]
    padvalue = "-inf" if kind == "max" else "zeros"
    return summary + "\n\n" + formula + "\n" + _POOL_COMMON.format(
        nd=nd, names=names, padvalue=padvalue,
        dilation=_DILATION_DOC.format(nd=nd) if kind == "max" else "",
        extra=_COUNT_DOC if kind == "avg" else "",
    )


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _pool_nd(x, kernel_size, stride, padding, dilation, ceil_mode, 1, "max_pool1d", "max")


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _pool_nd(x, kernel_size, stride, padding, dilation, ceil_mode, 2, "max_pool2d", "max")


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _pool_nd(x, kernel_size, stride, padding, dilation, ceil_mode, 3, "max_pool3d", "max")


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _pool_nd(x, kernel_size, stride, padding, 1, ceil_mode, 1, "avg_pool1d", "avg",
                    count_include_pad)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _pool_nd(x, kernel_size, stride, padding, 1, ceil_mode, 2, "avg_pool2d", "avg",
                    count_include_pad)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _pool_nd(x, kernel_size, stride, padding, 1, ceil_mode, 3, "avg_pool3d", "avg",
                    count_include_pad)


def sum_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    return _pool_nd(x, kernel_size, stride, padding, 1, ceil_mode, 1, "sum_pool1d", "sum")


def sum_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    return _pool_nd(x, kernel_size, stride, padding, 1, ceil_mode, 2, "sum_pool2d", "sum")


def sum_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    return _pool_nd(x, kernel_size, stride, padding, 1, ceil_mode, 3, "sum_pool3d", "sum")


_MAX_FORMULA = """\
    ``y[..., o] = max_a x_padded[..., o*stride + a*dilation]``, over the window's taps ``a``.
    Any NaN in a window gives NaN, as NumPy and PyTorch."""
_AVG_FORMULA = """\
    ``y[..., o] = (sum_a x_padded[..., o*stride + a]) / divisor[o]``, over the window's taps ``a``.
    For the lecture's 2x2, stride-2 example on ``[[6,6,6,6],[4,5,5,4],[2,4,4,2],[2,4,4,2]]``
    the result is ``[[5.25, 5.25], [3, 3]]``."""
_SUM_FORMULA = """\
    ``y[..., o] = sum_a x_padded[..., o*stride + a]``, over the window's taps ``a``: the plain
    sum of the window's input elements (padding adds zeros). It equals average pooling with
    ``count_include_pad=True`` times the window size, except on ceil-mode windows that run past
    the end of the padding."""


for _nd, _f in ((1, max_pool1d), (2, max_pool2d), (3, max_pool3d)):
    _f.__doc__ = _pool_doc(f"{_nd}-D max pooling, channels first.", _MAX_FORMULA, _nd, "max")
for _nd, _f in ((1, avg_pool1d), (2, avg_pool2d), (3, avg_pool3d)):
    _f.__doc__ = _pool_doc(f"{_nd}-D average pooling, channels first.", _AVG_FORMULA, _nd, "avg")
for _nd, _f in ((1, sum_pool1d), (2, sum_pool2d), (3, sum_pool3d)):
    _f.__doc__ = _pool_doc(f"{_nd}-D sum pooling, channels first.", _SUM_FORMULA, _nd, "sum")
del _nd, _f


# ----------------------------------------------------------------------------------------------
# Activations (element-wise, any shape).


def _activation_input(x, fname):
    x = _real_array(x, fname, "x")
    out_dtype = np.result_type(x, np.float32)
    return x.astype(_work_dtype(out_dtype)), out_dtype


def relu(x):
    """Rectified linear unit: ``max(0, z)``, element-wise.

    Written ``where(z < 0, 0, z)`` so that NaN stays NaN (``NaN < 0`` is False), as in PyTorch.

    Parameters
    ----------
    x : array_like
        Any shape.

    Returns
    -------
    numpy.ndarray
        Same shape, dtype ``np.result_type(x, np.float32)``.
    """
    z, out_dtype = _activation_input(x, "relu")
    y = np.where(z < 0, 0, z)
    return _result(y, out_dtype)


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU: ``z`` for ``z > 0``, ``negative_slope * z`` otherwise, element-wise.

    The lecture writes ``max(eps*z, z)`` with ``eps < 1``, which is the same thing for such slopes;
    the two-branch form is PyTorch's and also holds for slopes >= 1. NaN stays NaN.

    Parameters
    ----------
    x : array_like
        Any shape.
    negative_slope : float, default 0.01

    Returns
    -------
    numpy.ndarray
        Same shape, dtype ``np.result_type(x, np.float32)``.
    """
    slope = _real_scalar(negative_slope, "leaky_relu", "negative_slope")
    z, out_dtype = _activation_input(x, "leaky_relu")
    with np.errstate(invalid="ignore"):  # 0 * inf is NaN, as in IEEE arithmetic and PyTorch
        y = np.where(z > 0, z, slope * z)
    return _result(y, out_dtype)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``z`` for ``z > 0``, ``alpha * (exp(z) - 1)`` otherwise.

    This is the standard ELU (and PyTorch's). The lecture writes ``max(alpha*(e^z - 1), z)``,
    which agrees only for ``z <= 0``: for ``z > 0`` and ``alpha > 0``, ``alpha*(e^z - 1)`` exceeds
    ``z`` once ``z`` is large enough, and that ``max`` would then return the exponential instead
    of ``z`` (see SPEC.md, section 4). ``exp(z) - 1`` is computed as ``expm1(z)`` for accuracy
    near 0, and only on ``min(z, 0)`` so that large ``z`` cannot overflow. NaN stays NaN.

    Parameters
    ----------
    x : array_like
        Any shape.
    alpha : float, default 1.0

    Returns
    -------
    numpy.ndarray
        Same shape, dtype ``np.result_type(x, np.float32)``.
    """
    a = _real_scalar(alpha, "elu", "alpha")
    z, out_dtype = _activation_input(x, "elu")
    y = np.where(z > 0, z, a * np.expm1(np.minimum(z, 0)))
    return _result(y, out_dtype)
