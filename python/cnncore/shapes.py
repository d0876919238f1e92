"""Shape arithmetic: the one place where cnncore computes sizes and paddings.

Every output size and every resolved padding in the package comes from this module, in pure Python
with Python's unbounded integers, so that no size ever overflows before it is checked.

The lecture's formula for one spatial dimension, with input length ``i``, kernel ``k``, stride ``s``,
dilation ``d`` and padding ``p_before`` / ``p_after``::

    o = floor((i + p_before + p_after - d*(k - 1) - 1) / s) + 1

``d*(k - 1) + 1`` is the kernel's *reach* (its dilated size). With ``p_before = p_after = p`` and
``d = 1`` this is the lecture's ``o = floor((i - k + 2p) / s) + 1``.

Padding forms, for one dimension:

* ``'valid'``: no padding; a last window that doesn't fit is dropped.
* ``'same'``: output length ``ceil(i / s)`` for every stride (TensorFlow's rule). The total padding is
  ``max((ceil(i/s) - 1)*s + d*(k-1) + 1 - i, 0)``; when it is odd the extra one goes at the end.
* ``'full'``: ``d*(k - 1)`` on each side, so that every window overlapping the input is computed.
* an int ``p``: ``p`` on each side; a pair ``(before, after)``: as given.

>>> conv_output_size(7, 2)          # the lecture's example: 7 inputs, kernel 2
6
>>> resolve_padding('same', 7, 2, stride=2)
(0, 1)
"""

from __future__ import annotations

import operator
from typing import Tuple, Union

__all__ = [
    "conv_output_size",
    "resolve_padding",
    "pool_output_size",
    "dilated_kernel_size",
    "conv_output_shape",
    "pool_output_shape",
    "signal_output_size",
    "signal_offset",
    "PADDING_MODES",
]

PADDING_MODES = ("valid", "same", "full")
SIGNAL_MODES = ("valid", "same", "full")

IntOrPair = Union[int, Tuple[int, int]]


def _int(value, name: str, fname: str) -> int:
    """``value`` as a Python int; bools (NumPy's too), floats and other non-integers raise
    TypeError."""
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        raise TypeError(f"{fname}: {name} must be an integer, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{fname}: {name} must be an integer, got {type(value).__name__} {value!r}"
        ) from None


def _positive(value, name: str, fname: str) -> int:
    v = _int(value, name, fname)
    if v < 1:
        raise ValueError(f"{fname}: {name} must be >= 1, got {v}")
    return v


def dilated_kernel_size(k: int, dilation: int = 1) -> int:
    """The reach of a dilated kernel: ``dilation*(k - 1) + 1``.

    >>> dilated_kernel_size(3, 2)
    5
    """
    k = _positive(k, "kernel size", "dilated_kernel_size")
    d = _positive(dilation, "dilation", "dilated_kernel_size")
    return d * (k - 1) + 1


def _resolve_padding(padding, i: int, k: int, s: int, d: int, fname: str, name: str = "padding"):
    reach = d * (k - 1) + 1
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0)
        if padding == "same":
            out = -(-i // s)  # ceil(i / s)
            total = max((out - 1) * s + reach - i, 0)
            return (total // 2, total - total // 2)
        if padding == "full":
            return (reach - 1, reach - 1)
        raise ValueError(
            f"{fname}: {name} must be one of {PADDING_MODES}, an int or a (before, after) pair, "
            f"got {padding!r}"
        )
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(
                f"{fname}: {name} as a sequence must be a (before, after) pair, got {padding!r}"
            )
        before = _int(padding[0], name, fname)
        after = _int(padding[1], name, fname)
    else:
        before = after = _int(padding, name, fname)
    if before < 0 or after < 0:
        raise ValueError(f"{fname}: {name} must be >= 0, got {padding!r}")
    return (before, after)


def resolve_padding(padding, i: int, k: int, stride: int = 1, dilation: int = 1) -> Tuple[int, int]:
    """Resolve one dimension's padding to ``(before, after)``.

    Parameters
    ----------
    padding : {'valid', 'same', 'full'}, int or (int, int)
        The padding form (see the module docstring).
    i, k, stride, dilation : int
        Input length, kernel size, stride and dilation of that dimension.

    >>> resolve_padding('full', 7, 3)
    (2, 2)
    >>> resolve_padding('same', 6, 4)      # total 3: one more at the end
    (1, 2)
    """
    fname = "resolve_padding"
    i = _positive(i, "input size", fname)
    k = _positive(k, "kernel size", fname)
    s = _positive(stride, "stride", fname)
    d = _positive(dilation, "dilation", fname)
    return _resolve_padding(padding, i, k, s, d, fname)


def _output_size(i, k, s, d, before, after, ceil_mode, fname, dim=""):
    reach = d * (k - 1) + 1
    padded = i + before + after
    if padded < reach:
        raise ValueError(
            f"{fname}: kernel{dim} of size {k} with dilation {d} reaches {reach}, more than the "
            f"padded input{dim} of size {padded} ({i} + {before} + {after})"
        )
    span = padded - reach
    out = span // s + 1
    if ceil_mode and span % s and out * s < i + before:
        # Rounded up: one more, partial, window over the leftover elements, kept only when it
        # starts inside the input or the leading padding (PyTorch's rule). A padding of more
        # than half the kernel (which the pooling functions refuse, as PyTorch does) can leave
        # full windows in the trailing padding: those stay, as without ceil_mode.
        out += 1
    return out


def conv_output_size(i: int, k: int, stride: int = 1, padding=0, dilation: int = 1) -> int:
    """Output length of a convolution along one dimension.

    ``floor((i + p_before + p_after - dilation*(k - 1) - 1) / stride) + 1``

    Raises ``ValueError`` when the dilated kernel is larger than the padded input.

    >>> conv_output_size(7, 2)
    6
    >>> conv_output_size(28, 5, padding=2)
    28
    >>> conv_output_size(10, 3, stride=3, padding='same')
    4
    """
    fname = "conv_output_size"
    i = _positive(i, "input size", fname)
    k = _positive(k, "kernel size", fname)
    s = _positive(stride, "stride", fname)
    d = _positive(dilation, "dilation", fname)
    before, after = _resolve_padding(padding, i, k, s, d, fname)
    return _output_size(i, k, s, d, before, after, False, fname)


def pool_output_size(
    i: int, k: int, stride=None, padding=0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of a pooling window along one dimension.

    As :func:`conv_output_size`, with ``stride=None`` meaning the kernel size and, with
    ``ceil_mode=True``, the division rounded up as long as the last window starts inside the input
    or its leading padding (PyTorch's rule).

    >>> pool_output_size(4, 2)
    2
    >>> pool_output_size(5, 2, ceil_mode=True)
    3
    """
    fname = "pool_output_size"
    i = _positive(i, "input size", fname)
    k = _positive(k, "kernel size", fname)
    s = k if stride is None else _positive(stride, "stride", fname)
    d = _positive(dilation, "dilation", fname)
    before, after = _resolve_padding(padding, i, k, s, d, fname)
    return _output_size(i, k, s, d, before, after, bool(ceil_mode), fname)


def signal_output_size(nx: int, nw: int, mode: str = "valid") -> int:
    """Length of ``correlate``/``convolve`` output along one dimension (SciPy's modes).

    ``'full'``: ``nx + nw - 1``; ``'same'``: ``nx``; ``'valid'``: ``max(nx, nw) - min(nx, nw) + 1``.

    >>> signal_output_size(7, 2, 'valid')
    6
    """
    fname = "signal_output_size"
    nx = _positive(nx, "input size", fname)
    nw = _positive(nw, "kernel size", fname)
    if mode == "full":
        return nx + nw - 1
    if mode == "same":
        return nx
    if mode == "valid":
        return abs(nx - nw) + 1
    raise ValueError(f"{fname}: mode must be one of {SIGNAL_MODES}, got {mode!r}")


def signal_offset(nx: int, nw: int, mode: str = "valid") -> int:
    """Where ``mode``'s output starts inside the ``'full'`` result, along one dimension.

    ``'full'`` starts at 0; ``'valid'`` at ``min(nx, nw) - 1``; ``'same'`` keeps the centre
    ``nx`` samples, starting at ``(nw - 1) // 2`` (SciPy's centring, also for even kernels).
    """
    n = signal_output_size(nx, nw, mode)
    if mode == "full":
        return 0
    if mode == "valid":
        return min(nx, nw) - 1
    return (nx + nw - 1 - n) // 2


# ----------------------------------------------------------------------------------------------
# N-dimensional helpers used by the operators. ``fname`` names the public function in errors.


def normalize_tuple(value, n: int, name: str, fname: str, minimum: int = 1) -> Tuple[int, ...]:
    """An int or a sequence of ``n`` ints, as an ``n``-tuple of ints ``>= minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(
                f"{fname}: {name} must be an int or a sequence of {n} ints, got {value!r}"
            )
        vals = tuple(_int(v, name, fname) for v in value)
    else:
        vals = (_int(value, name, fname),) * n
    for v in vals:
        if v < minimum:
            shown = vals[0] if n == 1 else vals
            raise ValueError(f"{fname}: {name} must be >= {minimum} in every dimension, got {shown}")
    return vals


def normalize_padding(padding, n: int, fname: str) -> list:
    """Per-dimension padding specs: each a mode string or a ``(before, after)`` pair of ints >= 0.

    Accepts a mode string, an int, ``n`` ints, ``n`` ``(before, after)`` pairs, and, for one
    spatial dimension, a bare ``(before, after)`` pair.
    """
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(
                f"{fname}: padding must be one of {PADDING_MODES}, an int, one int per dimension "
                f"or one (before, after) pair per dimension, got {padding!r}"
            )
        return [padding] * n
    if isinstance(padding, (tuple, list)):
        items = list(padding)
        if n == 1 and len(items) == 2 and not any(isinstance(p, (tuple, list)) for p in items):
            items = [tuple(items)]
        if len(items) != n:
            raise ValueError(
                f"{fname}: padding must be an int, {n} ints or {n} (before, after) pairs, "
                f"got {padding!r}"
            )
        specs = []
        for p in items:
            if isinstance(p, str):
                raise ValueError(f"{fname}: padding entries must be ints or pairs, got {p!r}")
            specs.append(_resolve_padding(p, 1, 1, 1, 1, fname))
        return specs
    spec = _resolve_padding(padding, 1, 1, 1, 1, fname)
    return [spec] * n


def conv_output_shape(in_sizes, kernel, stride, padding, dilation, fname="conv"):
    """Resolved pads and output sizes of an N-d convolution.

    ``in_sizes`` and ``kernel`` are sequences of ints; ``stride``, ``padding`` and ``dilation``
    take every form the operators accept. Returns ``(pads, out_sizes, stride, dilation)`` with
    ``pads`` a tuple of ``(before, after)`` pairs.
    """
    n = len(in_sizes)
    stride = normalize_tuple(stride, n, "stride", fname)
    dilation = normalize_tuple(dilation, n, "dilation", fname)
    specs = normalize_padding(padding, n, fname)
    pads, outs = [], []
    for dim in range(n):
        i, k, s, d = in_sizes[dim], kernel[dim], stride[dim], dilation[dim]
        pad = _resolve_padding(specs[dim], i, k, s, d, fname)
        label = "" if n == 1 else f" (dimension {dim})"
        outs.append(_output_size(i, k, s, d, pad[0], pad[1], False, fname, label))
        pads.append(pad)
    return tuple(pads), tuple(outs), stride, dilation


def pool_output_shape(
    in_sizes, kernel_size, stride, padding, dilation, ceil_mode, fname="pool"
):
    """Resolved kernel, stride, dilation, pads and output sizes of an N-d pooling.

    Explicit padding may be at most half the kernel on each side (PyTorch's rule), so that every
    window holds at least one input element; ``'same'`` padding is accepted as resolved.
    Returns ``(kernel, stride, dilation, pads, out_sizes)``.
    """
    n = len(in_sizes)
    kernel = normalize_tuple(kernel_size, n, "kernel_size", fname)
    stride = kernel if stride is None else normalize_tuple(stride, n, "stride", fname)
    dilation = normalize_tuple(dilation, n, "dilation", fname)
    specs = normalize_padding(padding, n, fname)
    pads, outs = [], []
    for dim in range(n):
        i, k, s, d = in_sizes[dim], kernel[dim], stride[dim], dilation[dim]
        spec = specs[dim]
        if spec == "full":
            raise ValueError(
                f"{fname}: padding must be 'valid', 'same', an int or (before, after) pairs, "
                f"got 'full'"
            )
        pad = _resolve_padding(spec, i, k, s, d, fname)
        if not isinstance(spec, str) and max(pad) > k // 2:
            raise ValueError(
                f"{fname}: padding must be at most half the kernel size (kernel_size={k}, "
                f"so at most {k // 2}), got {pad if pad[0] != pad[1] else pad[0]}"
            )
        label = "" if n == 1 else f" (dimension {dim})"
        outs.append(_output_size(i, k, s, d, pad[0], pad[1], bool(ceil_mode), fname, label))
        pads.append(pad)
    return kernel, stride, dilation, tuple(pads), tuple(outs)
