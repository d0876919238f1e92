"""ReLU, leaky ReLU and ELU, element-wise, in the C++ core."""

from __future__ import annotations

import math

import numpy as np

from . import _common, _core
from ._common import as_input, as_real, check_output_size, compute_dtype, finish, result_dtype, to_core

_F32 = np.finfo(np.float32)
_F64_TINY = float(np.finfo(np.float64).tiny)


def _float32_exact_enough(param: float) -> bool:
    """Whether float32 arithmetic with ``param`` rounded to float32 stays within a few float32
    ulps of the float64 result: true for 0, NaN, the infinities and the normal float32 range; a
    finite ``param`` beyond float32's range (it would become inf) or below its normal range (a
    subnormal, or 0) is not, and is computed in float64 instead."""
    a = abs(param)
    if a == 0 or not math.isfinite(param):
        return True
    return float(_F32.tiny) <= a <= float(_F32.max)


def _fast_within_limit(x, kind, param):
    """``_core.activation_fast`` for an array whose result fits CNNCORE_MAX_BYTES, else None (the
    full path then raises MemoryError)."""
    nbytes = getattr(x, "nbytes", None)
    if nbytes is None or nbytes > _common.MAX_BYTES:
        return None
    return _core.activation_fast(x, kind, param)


# The one-call path for native float arrays. The result has the size of an array that already
# exists, so only a limit set with CNNCORE_MAX_BYTES (read at import) can refuse it: the check costs
# the default path nothing.
_fast = _fast_within_limit if _common.MAX_BYTES_FROM_ENV else _core.activation_fast


def _apply(fname, kind, x, param=0.0):
    x = as_input(x, "x", fname)
    rtype = result_dtype(x)
    check_output_size(fname, x.shape, rtype.itemsize)
    ctype = compute_dtype(rtype)
    if ctype == np.float32 and not _float32_exact_enough(param):
        ctype = np.dtype(np.float64)
    if 0 < abs(param) < _F64_TINY:
        # A subnormal parameter: the core would flush it to zero (README, "Speed"), so that
        # -inf * 1e-320 became NaN; NumPy computes it as IEEE arithmetic says, as the reference.
        z = to_core(x, np.dtype(np.float64), fname)
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            neg = param * (z if kind == "leaky_relu" else np.expm1(np.minimum(z, 0)))
            y = np.where(z > 0, z, neg)
    else:
        y = _core.activation(to_core(x, ctype, fname), kind, param)
    with np.errstate(over="ignore"):  # float64 results beyond float32's range: +-inf, as IEEE
        return finish(y, rtype)


def relu(x):
    """Rectified linear unit, ``max(0, z)``, element-wise; NaN stays NaN.

    Any shape: an empty array gives an empty array, a 0-d array a 0-d array.

    >>> import numpy as np, cnncore as cc
    >>> cc.relu([-2.0, -0.5, 0.0, 1.5])
    array([0. , 0. , 0. , 1.5])
    >>> cc.relu(np.float32([-1, 2])).dtype
    dtype('float32')
    """
    y = _fast(x, "relu", 0.0)
    return y if y is not None else _apply("relu", "relu", x)


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU, ``z`` for ``z > 0`` and ``negative_slope * z`` otherwise (the lecture's
    ``max(eps*z, z)`` for ``0 <= eps < 1``).

    ``negative_slope`` may be any real number, computed as IEEE arithmetic says (as the
    reference and PyTorch): NaN gives NaN for every ``z <= 0``; ``inf`` gives ``-inf`` for
    ``z < 0`` and NaN at ``z == 0`` (``inf * 0``). A bool is a TypeError, an integer beyond the
    float range (``1.8e308``) an OverflowError. Float32 inputs are computed in float32 with the
    slope rounded to float32, unless it lies outside float32's normal range (``1e300``,
    ``1e-40``): then in float64, rounded once. Any shape; an empty array gives an empty array.

    >>> import cnncore as cc
    >>> cc.leaky_relu([-2.0, 3.0], negative_slope=0.1)
    array([-0.2,  3. ])
    """
    slope = as_real(negative_slope, "negative_slope", "leaky_relu")
    y = _fast(x, "leaky_relu", slope) if _float32_exact_enough(slope) else None
    return y if y is not None else _apply("leaky_relu", "leaky_relu", x, slope)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``z`` for ``z > 0``, ``alpha * (exp(z) - 1)`` otherwise.

    This is the standard ELU (Clevert et al. 2015, and PyTorch's). The lecture writes
    ``max(alpha*(e^z - 1), z)``, which agrees only for ``z <= 0``: for ``z > 0`` and ``alpha > 0``,
    ``alpha*(e^z - 1)`` overtakes ``z`` once ``z`` is large, so that form is not used.
    ``elu(-inf) == -alpha``.

    ``alpha`` may be any real number, as ``negative_slope`` in :func:`leaky_relu`: NaN gives NaN
    for every ``z <= 0``, ``inf`` gives ``-inf`` for ``z < 0`` and NaN at ``z == 0``. Any shape;
    an empty array gives an empty array.

    >>> import cnncore as cc
    >>> cc.elu([-1.0, 0.0, 2.0], alpha=1.0)
    array([-0.63212056,  0.        ,  2.        ])
    """
    alpha = as_real(alpha, "alpha", "elu")
    y = _fast(x, "elu", alpha) if _float32_exact_enough(alpha) else None
    return y if y is not None else _apply("elu", "elu", x, alpha)
