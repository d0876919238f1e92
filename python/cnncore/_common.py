"""Argument handling shared by every operator: arrays in, the dtype policy, limits, results out.

The rules (API.md): inputs are anything ``numpy.asarray`` takes; real numbers only (bool, int, uint
and float; complex, object, string and datetime raise ``TypeError``). Float32 and float64 are
computed natively; the result dtype is ``numpy.result_type(*inputs, numpy.float32)``, so uint8
images give float32 and int64 gives float64. A wider float (``numpy.longdouble``) is computed in
float64 and returned in its own dtype. Inputs are never written to; results are new C-contiguous
arrays.
"""

from __future__ import annotations

import os
import numbers

import numpy as np

from . import shapes

# The largest value the core accepts for any extent, stride, padding or dilation (see common.h).
MAX_EXTENT = 2**62


def as_input(value, name: str, fname: str) -> np.ndarray:
    """``value`` as an ndarray of real numbers (no copy when it already is one)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{fname}: {name} could not be converted to an array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{fname}: {name} must hold real numbers (bool, int, uint or float), "
            f"got dtype {arr.dtype}"
        )
    return arr


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*arrays, np.float32)


def compute_dtype(rtype: np.dtype) -> np.dtype:
    """The dtype the core computes in for a result of dtype ``rtype``."""
    return np.dtype(np.float32) if rtype == np.float32 else np.dtype(np.float64)


def to_core(arr: np.ndarray, ctype: np.dtype, fname: str = "", name: str = "x") -> np.ndarray:
    """A C-contiguous, aligned, native-endian base ndarray of dtype ``ctype`` (a copy if needed).

    A copy is working memory too: one larger than the limit raises MemoryError before it is made.
    """
    nbytes = arr.size * ctype.itemsize
    if nbytes > MAX_BYTES and not (arr.dtype == ctype and arr.flags.c_contiguous
                                   and arr.flags.aligned and arr.dtype.isnative):
        raise MemoryError(
            f"{fname or 'cnncore'}: converting {name} of shape {arr.shape} and dtype {arr.dtype} "
            f"to contiguous {ctype} needs {nbytes} bytes ({_human(nbytes)}), more than the "
            f"{MAX_BYTES} bytes ({_human(MAX_BYTES)}) available"
        )
    return np.require(arr, dtype=ctype, requirements=["C", "A", "E"])


def finish(y: np.ndarray, rtype: np.dtype) -> np.ndarray:
    return y if y.dtype == rtype else y.astype(rtype)


def as_int(value, name: str, fname: str) -> int:
    """``value`` as a Python int (TypeError for bools, floats and the rest), as in shapes."""
    return shapes._int(value, name, fname)


def as_bool(value, name: str, fname: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{fname}: {name} must be True or False, got {value!r}")


def as_real(value, name: str, fname: str) -> float:
    """``value`` as a Python float: any real number but a bool (TypeError), NaN and infinities
    included; an integer beyond the float range (``abs(value) > 1.8e308``) raises OverflowError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fname}: {name} must be a real number, got {type(value).__name__} {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise OverflowError(
            f"{fname}: {name} must fit in a float (absolute value at most 1.8e308), got an "
            f"integer of {int(value).bit_length()} bits"
        ) from None


def _read_memory_limit():
    """``(limit in bytes, whether CNNCORE_MAX_BYTES set it)``: the variable when it holds an
    integer, else the machine's physical memory."""
    env = os.environ.get("CNNCORE_MAX_BYTES")
    if env:
        try:
            return int(env), True
        except ValueError:
            pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), False
    except (ValueError, OSError, AttributeError):
        return 2**48, False


# Read once, at import (as OMP_NUM_THREADS is): every check of a process sees the same limit, and
# the repeat-call paths, which skip the checks for shapes already checked, stay right.
MAX_BYTES, MAX_BYTES_FROM_ENV = _read_memory_limit()


def _memory_limit() -> int:
    return MAX_BYTES


def _human(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if nbytes < 1024 or unit == "EiB":
            return f"{nbytes:.4g} {unit}" if unit != "B" else f"{nbytes} B"
        nbytes /= 1024
    return str(nbytes)


def check_output_size(fname: str, shape, itemsize: int, cause: str = "") -> None:
    """Raise MemoryError, before anything is allocated, when the result would not fit.

    The limit is the machine's physical memory, or ``CNNCORE_MAX_BYTES`` when set (read when
    cnncore is imported). ``cause`` names the arguments that set the result's size, for the
    message. An empty result (an empty batch) needs no memory, but NumPy still refuses a shape
    whose non-zero extents multiply past its index range: that one raises MemoryError here too,
    with our name.
    """
    count = 1
    nonzero = 1
    for s in shape:
        count *= int(s)
        nonzero *= int(s) or 1
    nbytes = count * itemsize
    limit = _memory_limit()
    if nbytes > limit:
        raise MemoryError(
            f"{fname}: the result of shape {tuple(int(s) for s in shape)} needs {nbytes} bytes "
            f"({_human(nbytes)}), more than the {limit} bytes ({_human(limit)}) available"
            + (f"; it comes from {cause}" if cause else "")
        )
    # An extent of 2**62 or more is check_core_range's to refuse (an OverflowError naming it).
    if nonzero * itemsize > np.iinfo(np.intp).max and max(shape, default=0) < MAX_EXTENT:
        raise MemoryError(
            f"{fname}: the result of shape {tuple(int(s) for s in shape)} is empty, but its other "
            f"extents are too large for a NumPy array"
        )


def check_core_range(fname: str, cause: str = "", **values) -> None:
    """Every stride, padding, dilation and output extent the core sees, and the reach of every
    window into the padded input, must be below 2**62 (the core's own checks, with our name).

    ``cause`` names the arguments a value comes from when it is not one of them itself.
    """
    for name, vals in values.items():
        for v in vals:
            if abs(v) >= MAX_EXTENT:
                raise OverflowError(
                    f"{fname}: {name} {v}{f' (from {cause})' if cause else ''} is beyond the "
                    f"supported range (absolute values below 2**62)"
                )


def core_call(fname: str, func, *args, cause: str = ""):
    """``func(*args)`` with the core's errors named after the public function ``fname``.

    The core's own checks say ``conv:`` or ``pool:``; a work buffer it cannot allocate raises
    ``MemoryError`` (``std::bad_alloc``) or, beyond ``max_size()``, a ValueError from pybind11:
    both become a MemoryError that names ``fname`` and ``cause`` (the arguments that set the
    buffers' sizes).
    """
    where = f" ({cause})" if cause else ""
    try:
        return func(*args)
    except MemoryError:
        raise MemoryError(
            f"{fname}: not enough memory for the work buffers of this call{where}"
        ) from None
    except ValueError as exc:
        msg = str(exc)
        if "max_size" in msg:
            raise MemoryError(
                f"{fname}: the work buffers of this call would be larger than any allocation"
                f"{where}"
            ) from None
        if msg.startswith(fname + ":"):
            raise
        raise ValueError(f"{fname}: {msg}") from None

