"""ReLU, leaky ReLU and ELU, element-wise, in the C++ core."""

from __future__ import annotations

from . import _common, _core
from ._common import as_input, as_real, check_output_size, compute_dtype, finish, result_dtype, to_core


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
    y = _core.activation(to_core(x, compute_dtype(rtype), fname), kind, param)
    return finish(y, rtype)


def relu(x):
    """Rectified linear unit, ``max(0, z)``, element-wise; NaN stays NaN.

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

    >>> import cnncore as cc
    >>> cc.leaky_relu([-2.0, 3.0], negative_slope=0.1)
    array([-0.2,  3. ])
    """
    slope = as_real(negative_slope, "negative_slope", "leaky_relu")
    y = _fast(x, "leaky_relu", slope)
    return y if y is not None else _apply("leaky_relu", "leaky_relu", x, slope)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``z`` for ``z > 0``, ``alpha * (exp(z) - 1)`` otherwise.

    This is the standard ELU (Clevert et al. 2015, and PyTorch's). The lecture writes
    ``max(alpha*(e^z - 1), z)``, which agrees only for ``z <= 0``: for ``z > 0`` and ``alpha > 0``,
    ``alpha*(e^z - 1)`` overtakes ``z`` once ``z`` is large, so that form is not used.
    ``elu(-inf) == -alpha``.

    >>> import cnncore as cc
    >>> cc.elu([-1.0, 0.0, 2.0], alpha=1.0)
    array([-0.63212056,  0.        ,  2.        ])
    """
    alpha = as_real(alpha, "alpha", "elu")
    y = _fast(x, "elu", alpha)
    return y if y is not None else _apply("elu", "elu", x, alpha)
