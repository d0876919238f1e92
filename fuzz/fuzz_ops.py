"""Coverage-guided fuzz target for cnncore's public functions and its private bindings.

Each input (a byte string) is decoded into one call: a public operator (conv1d/2d/3d, correlate,
convolve, the nine poolings, the three activations, filter2d), a ``cnncore.shapes`` function, or one
of the private ``cnncore._core`` entry points (conv, conv_fast, pool, activation, activation_fast,
filter2d, Engine), with arguments drawn from small arrays of every dtype and layout (zero sizes
included) and parameters that mix ordinary small values with extreme ones (negative, 2**31, 2**62,
2**63 - 1, 2**64), wrong types (bool, float, str, None, complex) and sequences of the wrong length.

What counts as a finding (raised as ``Finding``, an AssertionError, or a crash):

* an exception other than ValueError, TypeError, OverflowError or MemoryError;
* for a public function, an error message that does not name the function;
* a result of the wrong dtype, not C-contiguous or sharing memory with an input, or an input that
  was modified;
* a result that differs from ``cnncore.reference`` (numpy.pad and a sum for filter2d; for the private
  conv, the core's other implementations) beyond the rounding bound of the sum, NaN and infinities
  included; or one the reference refuses.

Usage::

    python fuzz/fuzz_ops.py [libFuzzer flags] [corpus dirs]    # needs atheris; see scripts/fuzz.sh
    python fuzz/fuzz_ops.py --replay FILE_OR_DIR...              # no atheris: run saved inputs once

The decoder needs nothing but NumPy: ``one_input(data)`` is what tests/test_fuzz_regressions.py
calls. Output sizes are capped with ``CNNCORE_MAX_BYTES`` (32 MiB unless set; the tests lower
``cnncore._common.MAX_BYTES`` instead), inputs to a few thousand elements, so that every execution
is fast and bounded in memory.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Run as a script: import this file again as the module fuzz_ops, with cnncore and the
    # decoder itself instrumented (their branches are the coverage that guides the fuzzer).
    # cnncore reads the memory limit when imported. (Imported as a module, by the tests, this file
    # changes no environment variable: their subprocesses would inherit it.)
    os.environ.setdefault("CNNCORE_MAX_BYTES", str(32 << 20))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if "--replay" in sys.argv:
        import fuzz_ops

        sys.exit(fuzz_ops.replay([a for a in sys.argv[1:] if a != "--replay"]))
    import atheris

    with atheris.instrument_imports(include=["cnncore", "fuzz_ops"]):
        import fuzz_ops
    atheris.Setup(sys.argv, fuzz_ops.one_input)
    atheris.Fuzz()

import collections
import math
import warnings

import numpy as np

import cnncore as cc
from cnncore import _core, reference, shapes

FINE = (ValueError, TypeError, OverflowError, MemoryError)
STATS = collections.Counter()  # calls that returned / were refused, results compared
LEVELS = list(_core.simd_levels())
MAX_INPUT = 4096        # elements of one generated array
MAX_REF_OUT = 20000     # results larger than this are not cross-checked (the reference is slow)
MAX_CORE_OUT = 1 << 20  # elements of a result the private entry points may be asked for


class Finding(AssertionError):
    """A result, an exception or a side effect the API contract rules out."""


# Findings reported and not fixed yet; the checks that would trip on them are narrowed (and say
# where). Each has a test in tests/test_fuzz_regressions.py.
# Findings the decoder steered around while they were open; all three are fixed now (see
# tests/test_fuzz_regressions.py): inf/NaN weights on zero padding, the float32 GEMM path's
# scratch sized by the padded reach, and an Engine dense layer with no inputs.
KNOWN_ISSUES: list = []


def _nonfinite(*arrays) -> bool:
    for a in arrays:
        if a is None:
            continue
        try:
            a = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if not np.isfinite(a).all():
            return True
    return False


# ---- decoding bytes ------------------------------------------------------------------------------


class Source:
    """Reads choices from the fuzzer's bytes; past the end every read gives 0 (the first choice)."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.big = False    # an extreme or odd parameter was drawn: don't run the reference
        self.notes = []

    def u8(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def below(self, n: int) -> int:
        if n <= 1:
            return 0
        v = self.u8() if n <= 256 else self.u8() | (self.u8() << 8)
        return v % n

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, p: float) -> bool:
        return self.u8() < p * 256

    def weighted(self, table):
        """``table``: (weight, value) pairs; weights out of 256 in total (the rest: the first)."""
        r = self.u8()
        acc = 0
        for w, v in table:
            acc += w
            if r < acc:
                return v
        return table[0][1]


SMALL = [1, 2, 0, 3, -1, 4, 5, 7]
EXTREME = [2**31 - 1, 2**31, 2**32, 2**62 - 1, 2**62, 2**63 - 1, 2**63, 2**64, -(2**31),
           -(2**63), -(2**64), 10**6, 2**40]
ODD = [True, False, 1.0, 2.5, None, "1", np.int64(2), np.uint8(1), np.int32(-1), np.float32(1.0),
       1j, [1], (), float("nan"), float("inf"), np.array(2), np.array([1, 2]), np.bool_(True)]
NUMPY_INT_OK = (np.int64, np.uint8, np.int32)


def int_param(src: Source):
    r = src.u8()
    if r < 200:
        return SMALL[r % len(SMALL)]
    src.big = True
    if r < 236:
        return src.pick(EXTREME)
    return src.pick(ODD)


def spatial(src: Source, nd: int, gen=int_param):
    """An int, nd of them (tuple or list), or a sequence of the wrong length."""
    form = src.below(8)
    if form <= 4:
        return gen(src)
    if form == 5:
        return tuple(gen(src) for _ in range(nd))
    if form == 6:
        return [gen(src) for _ in range(nd)]
    src.big = True
    return tuple(gen(src) for _ in range(src.pick([0, nd + 1, max(nd - 1, 0), 4])))


PAD_STRINGS = ["valid", "same", "full", "SAME", "", "reflect", "valid "]


def padding(src: Source, nd: int):
    form = src.below(10)
    if form <= 3:
        return int_param(src)
    if form <= 5:
        s = src.pick(PAD_STRINGS)
        if s not in ("valid", "same", "full"):
            src.big = True
        return s
    if form == 6:
        return tuple(int_param(src) for _ in range(nd))
    if form == 7:
        return tuple((int_param(src), int_param(src)) for _ in range(nd))
    if form == 8 and nd == 1:
        return (int_param(src), int_param(src))   # a bare (before, after) pair
    src.big = True
    return src.pick([None, b"same", (("same",),) * nd, ((1, 2, 3),) * nd, [[1, 1]] * (nd + 1),
                     1.5, (1, "valid")[:nd]])


DTYPES = [
    (90, "float64"), (50, "float32"), (22, "int64"), (18, "uint8"), (10, "bool"), (10, "int32"),
    (8, "float16"), (6, "int8"), (6, "uint64"), (6, "longdouble"), (8, "complex128"),
    (8, "object"), (6, "U1"), (4, "datetime64[s]"), (4, "list"),
]
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e4, -1e4, 0.5]


def array(src: Source, shape):
    """An array of ``shape`` (values and layout from the bytes), or something that is not one."""
    shape = tuple(shape)
    if math.prod(shape) > MAX_INPUT:
        shape = tuple(min(d, 8) for d in shape)
        if math.prod(shape) > MAX_INPUT:
            shape = (0,) + shape[1:]
    count = math.prod(shape)
    kind = src.weighted(DTYPES)
    mode = src.below(4)
    if mode == 0:    # small integers: exact sums
        vals = np.array([(src.u8() % 9) - 4 for _ in range(count)], dtype=np.float64)
    elif mode == 1:  # eighths in [-16, 16)
        vals = np.array([(src.u8() - 128) / 8 for _ in range(count)], dtype=np.float64)
    elif mode == 2:  # a constant, from the bytes
        vals = np.full(count, (src.u8() - 128) / 4)
    else:            # integers with a few special values sprinkled in
        vals = np.array([(src.u8() % 9) - 4 for _ in range(count)], dtype=np.float64)
        for _ in range(src.below(4)):
            if count:
                vals[src.below(count)] = src.pick(SPECIALS)
    vals = vals.reshape(shape)
    if kind == "list":
        return vals.tolist()
    if kind == "object":
        return vals.astype(object)
    if kind == "U1":
        return np.abs(np.nan_to_num(vals)).astype(np.int64).astype("U1")
    if kind == "datetime64[s]":
        return np.nan_to_num(vals).astype(np.int64).astype(kind)
    dt = np.dtype(kind)
    if dt.kind in "iub":
        with np.errstate(invalid="ignore"):
            vals = np.where(np.isfinite(vals), vals, 0.0)
        a = vals.astype(np.int64).astype(dt) if dt.kind != "b" else vals != 0
    else:
        a = vals.astype(dt)
    return layout(src, a)


def layout(src: Source, a: np.ndarray):
    """``a``'s values, in one of the layouts the API promises to treat alike."""
    form = src.below(10)
    if form <= 4 or a.ndim == 0:
        return a
    if form == 5:
        return np.asfortranarray(a)
    if form == 6:   # reversed along the first axis, values unchanged
        return np.flip(np.flip(a, 0).copy(), 0)
    if form == 7:   # every other element of a bigger array
        big = np.zeros((a.shape[0] * 2,) + a.shape[1:], dtype=a.dtype)
        big[::2] = a
        return big[::2]
    if form == 8 and a.dtype.kind in "iuf" and a.dtype.itemsize > 1:
        return a.byteswap().view(a.dtype.newbyteorder())
    a = a.copy()
    a.setflags(write=False)
    return a


# ---- checks --------------------------------------------------------------------------------------


def _snapshot(values):
    return [(v, v.copy()) for v in values if isinstance(v, np.ndarray) and v.dtype != object]


def _unchanged(snaps, what):
    for v, before in snaps:
        if v.tobytes() != before.tobytes():   # bytes: NaN and NaT compare equal to themselves
            raise Finding(f"{what}: an input array was modified")


def _eps(dtype) -> float:
    dtype = np.dtype(dtype)
    return float(np.finfo(np.float32 if dtype == np.float32 else np.float64).eps)


def assert_close(y, ref, ref_abs, terms, what, pad_nan=False):
    """``y`` against a float64 reference within the bound of a sum of ``terms`` rounded products.

    Relative to ``ref_abs``, the sum of the terms' magnitudes (cancellation makes the result itself
    the wrong scale); NaN where the reference has NaN, the same infinities.

    ``pad_nan``: let through a result that is not NaN where the reference is NaN (kept for
    investigations; no caller needs it since every path multiplies the padding as the reference
    does when a weight is not finite).
    """
    STATS["compared"] += 1
    y = np.asarray(y)
    yf = y.astype(np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if yf.shape != ref.shape:
        raise Finding(f"{what}: shape {yf.shape}, reference {ref.shape}")
    nan_y, nan_r = np.isnan(yf), np.isnan(ref)
    if pad_nan:
        keep = ~(nan_r & ~nan_y)
        yf, ref, nan_y, nan_r = yf[keep], ref[keep], nan_y[keep], nan_r[keep]
        ref_abs = np.broadcast_to(np.asarray(ref_abs, dtype=np.float64), keep.shape)[keep]
    if not np.array_equal(nan_y, nan_r):
        raise Finding(f"{what}: NaN at {np.argwhere(nan_y != nan_r)[:3].tolist()} (result vs reference)")
    inf_r = np.isinf(ref)
    if not np.array_equal(yf[inf_r], ref[inf_r]) or np.isinf(yf[~inf_r & ~nan_r]).any():
        raise Finding(f"{what}: infinities differ")
    fin = np.isfinite(ref)
    a = np.asarray(ref_abs, dtype=np.float64)[fin]
    err = np.abs(yf[fin] - ref[fin])
    tol = 2 * (terms + 2) * _eps(y.dtype) * np.where(np.isfinite(a), a, 0) + 1e-300
    # Denormals are flushed to zero by the core (common.h): allow that much absolutely.
    tol += (terms + 2) * float(np.finfo(np.float32 if y.dtype == np.float32 else np.float64).tiny)
    if (err > tol).any():
        i = int(np.argmax(err - tol))
        raise Finding(f"{what}: {(err > tol).sum()} element(s) off, worst {yf[fin][i]!r} vs "
                      f"reference {ref[fin][i]!r} (tolerance {tol[i]:.3g})")


def _as64(v):
    """A generated argument as float64 for the reference's magnitude pass (|v|), else as is."""
    try:
        a = np.asarray(v)
    except Exception:  # noqa: BLE001
        return v
    if a.dtype.kind in "biuf":
        return np.abs(a.astype(np.float64))
    return v


def _expected_dtype(*arrays):
    return np.result_type(*[np.asarray(a) for a in arrays], np.float32)


def _check_result(y, fname, inputs, rtype_inputs):
    if not isinstance(y, np.ndarray):
        raise Finding(f"{fname}: returned {type(y).__name__}, not an ndarray")
    want = _expected_dtype(*rtype_inputs)
    if y.dtype != want:
        raise Finding(f"{fname}: result dtype {y.dtype}, expected {want}")
    if not y.flags.c_contiguous:
        raise Finding(f"{fname}: result is not C-contiguous")
    for v in inputs:
        if isinstance(v, np.ndarray) and y.size and np.shares_memory(y, v):
            raise Finding(f"{fname}: result shares memory with an input")


# ---- the cases -----------------------------------------------------------------------------------


def _call(fname, func, args, kwargs, public=True):
    """(result, None) or (None, exception) for a fine exception; a Finding for any other."""
    try:
        out = func(*args, **kwargs)
        STATS["returned"] += 1
        return out, None
    except FINE as exc:
        if public and fname not in str(exc):
            raise Finding(f"{fname}: {type(exc).__name__} without the function's name: {exc}") from exc
        STATS["refused"] += 1
        return None, exc
    except Exception as exc:
        raise Finding(f"{fname}: unexpected {type(exc).__name__}: {exc}") from exc


def _reference_agrees(fname, rfunc, args, kwargs, y, terms, operands=2, pad_nan=False):
    """Cross-check a public result against the reference (small results only); the first
    ``operands`` arguments are arrays (their magnitudes give the rounding bound)."""
    if y.size > MAX_REF_OUT:
        return
    try:
        with np.errstate(all="ignore"):
            ref = rfunc(*args, **kwargs)
    except FINE as exc:
        raise Finding(f"{fname}: cnncore returned {y.shape} but the reference raised "
                      f"{type(exc).__name__}: {exc}") from exc
    with np.errstate(all="ignore"):
        mags = [_as64(a) if i < operands else a for i, a in enumerate(args)]
        ref_abs = rfunc(*mags, **kwargs)
    assert_close(y, ref, ref_abs, terms, fname, pad_nan)


def case_conv(src: Source):
    nd = src.pick([2, 1, 3])
    fname = f"conv{nd}d"
    if src.chance(0.85):   # shapes that agree, so the call gets past the checks
        groups = src.pick([1, 2, 1, 3])
        cpg, fpg = src.pick([1, 2, 3, 1]), src.pick([1, 2, 1, 3, 8, 9, 16])   # 8+: the GEMM path
        n = src.pick([1, 2, 0, 3])
        sizes = [src.pick([5, 1, 2, 3, 4, 6, 7, 9]) for _ in range(nd)]
        kernel = [src.pick([3, 1, 2, 4, 5]) for _ in range(nd)]
        xs = ([n] if src.chance(0.8) else []) + [groups * cpg] + sizes
        ws = [groups * fpg, cpg] + kernel
    else:
        src.big = True
        xs = [src.below(4) for _ in range(src.below(7))]
        ws = [src.below(4) for _ in range(src.below(7))]
        groups = int_param(src)
    x, w = array(src, xs), array(src, ws)
    bias = None
    if src.chance(0.5):
        bias = array(src, [ws[0] if ws and src.chance(0.9) else src.below(5)])
    kwargs = {}
    if src.chance(0.7):
        kwargs["stride"] = spatial(src, nd)
    if src.chance(0.7):
        kwargs["padding"] = padding(src, nd)
    if src.chance(0.6):
        kwargs["dilation"] = spatial(src, nd)
    if src.chance(0.5) or not (type(groups) is int and groups == 1):
        kwargs["groups"] = groups
    func, rfunc = getattr(cc, fname), getattr(reference, fname)
    args = (x, w) if bias is None and src.chance(0.5) else (x, w, bias)
    snaps = _snapshot(args)
    y, exc = _call(fname, func, args, kwargs)
    _unchanged(snaps, fname)
    if exc is not None:
        return
    _check_result(y, fname, args, [a for a in args if a is not None])
    if not src.big:
        wa = np.asarray(w)
        terms = int(np.prod(wa.shape[1:])) + 1
        _reference_agrees(fname, rfunc, args, kwargs, y, terms, operands=3,
                          pad_nan=False)


def case_signal(src: Source):
    fname = src.pick(["correlate", "convolve"])
    nd = src.pick([1, 2])
    if src.chance(0.85):
        xs = [src.pick([5, 1, 2, 3, 4, 7, 0]) for _ in range(nd)]
        ws = [src.pick([2, 1, 3, 4, 6, 0]) for _ in range(nd if src.chance(0.9) else 3 - nd)]
    else:
        src.big = True
        xs = [src.below(4) for _ in range(src.below(4))]
        ws = [src.below(4) for _ in range(src.below(4))]
    x, w = array(src, xs), array(src, ws)
    mode = src.pick(["valid", "same", "full"]) if src.chance(0.9) else src.pick(PAD_STRINGS + [None, 1])
    args = (x, w, mode) if src.chance(0.7) else (x, w)
    snaps = _snapshot(args)
    y, exc = _call(fname, getattr(cc, fname), args, {})
    _unchanged(snaps, fname)
    if exc is not None:
        return
    _check_result(y, fname, (x, w), (x, w))
    terms = int(np.asarray(w).size) + 1
    _reference_agrees(fname, getattr(reference, fname), args, {}, y, terms,
                      pad_nan=False)


def case_pool(src: Source):
    kind = src.pick(["max", "avg", "sum"])
    nd = src.pick([2, 1, 3])
    fname = f"{kind}_pool{nd}d"
    if src.chance(0.85):
        lead = [src.pick([1, 2, 0, 3])] if src.chance(0.7) else []
        shape = lead + [src.pick([1, 2, 3])] + [src.pick([5, 1, 2, 3, 4, 6, 7, 8]) for _ in range(nd)]
    else:
        src.big = True
        shape = [src.below(4) for _ in range(src.below(7))]
    x = array(src, shape)
    ksize = spatial(src, nd, gen=lambda s: s.pick([2, 1, 3, 4, 5]) if s.chance(0.9) else int_param(s))
    args = [x, ksize]
    kwargs = {}
    if src.chance(0.5):
        kwargs["stride"] = None if src.chance(0.2) else spatial(src, nd)
    if src.chance(0.6):
        kwargs["padding"] = padding(src, nd) if src.chance(0.5) else spatial(
            src, nd, gen=lambda s: s.pick([0, 1, 2]))
    if kind == "max" and src.chance(0.4):
        kwargs["dilation"] = spatial(src, nd)
    if src.chance(0.4):
        kwargs["ceil_mode"] = src.pick([True, False, 1, 0, None, "yes"])
    if kind == "avg" and src.chance(0.4):
        kwargs["count_include_pad"] = src.pick([False, True, 0, np.bool_(False), 2])
    snaps = _snapshot(args)
    y, exc = _call(fname, getattr(cc, fname), args, kwargs)
    _unchanged(snaps, fname)
    if exc is not None:
        return
    _check_result(y, fname, (x,), (x,))
    if not src.big:
        terms = int(np.prod(np.broadcast_to(np.asarray(ksize), (nd,)))) if kind != "max" else 0
        _reference_agrees(fname, getattr(reference, fname), args, kwargs, y, terms, operands=1)


def case_activation(src: Source):
    fname = src.pick(["relu", "leaky_relu", "elu"])
    shape = [src.pick([3, 0, 1, 2, 5, 8]) for _ in range(src.below(5))]
    x = array(src, shape) if src.chance(0.95) else src.pick([1.5, -2, None, "x", [[1], [2, 3]]])
    args = [x]
    if fname != "relu" and src.chance(0.6):
        args.append(src.pick([0.1, 1.0, 0.0, -1.0, 2.0, np.float32(0.5), 1e30, float("nan"),
                              float("inf"), True, None, "a", 1j, 3, np.int64(2)]))
    snaps = _snapshot(args)
    y, exc = _call(fname, getattr(cc, fname), args, {})
    _unchanged(snaps, fname)
    if exc is not None:
        return
    _check_result(y, fname, (x,), (x,))
    if y.size <= MAX_REF_OUT:
        try:
            with np.errstate(all="ignore"):
                ref = getattr(reference, fname)(*args)
        except FINE as exc:
            raise Finding(f"{fname}: cnncore returned a result but the reference raised {exc!r}")
        param = abs(float(args[1])) if len(args) > 1 else 1.0
        with np.errstate(all="ignore"):
            scale = np.abs(np.asarray(ref, dtype=np.float64)) + np.abs(
                np.asarray(x, dtype=np.float64)) * (param if np.isfinite(param) else 0)
        assert_close(y, ref, scale, 2, fname)


_NP_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "wrap": "wrap"}


def _correlate_padded(plane, k, border):
    """One plane correlated with ``k``, padded by ``numpy.pad`` (every product computed)."""
    kh, kw = k.shape
    padded = np.pad(plane, ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2)), mode=_NP_PAD[border])
    out = np.zeros(plane.shape)
    h, w = plane.shape
    for a in range(kh):
        for b in range(kw):
            out += k[a, b] * padded[a:a + h, b:b + w]
    return out


def _filter2d_oracle(img, k, border, rtype):
    """The correlation of each colour plane in float64 (numpy.pad for the borders, as the
    docstring's table says); alpha passed through."""
    planes = img[..., None] if img.ndim == 2 else img
    kk = np.asarray(k).astype(rtype).astype(np.float64)
    p64 = planes.astype(rtype).astype(np.float64)
    out = np.empty(p64.shape)
    out_abs = np.empty(p64.shape)
    for c in range(p64.shape[2]):
        if c == 3:
            out[..., c] = p64[..., c]
            out_abs[..., c] = np.abs(p64[..., c])
            continue
        out[..., c] = _correlate_padded(p64[..., c], kk, border)
        out_abs[..., c] = _correlate_padded(np.abs(p64[..., c]), np.abs(kk), border)
    return out.reshape(img.shape), out_abs.reshape(img.shape)


def case_filter2d(src: Source):
    fname = "filter2d"
    shape = [src.pick([5, 1, 2, 3, 4, 7, 0]), src.pick([6, 1, 2, 3, 5, 0])]
    if src.chance(0.5):
        shape.append(src.pick([3, 4, 1, 2, 0]))
    img = array(src, shape)
    kshape = [src.pick([3, 1, 2, 5, 8]), src.pick([3, 1, 2, 4, 9])]
    if src.chance(0.1):
        kshape = kshape[: src.below(3)] + [2] * src.below(2)
    k = array(src, kshape)
    border = src.pick(["zeros", "reflect", "replicate", "wrap"]) if src.chance(0.9) else src.pick(
        PAD_STRINGS + [None, 0])
    args = (img, k, border)
    snaps = _snapshot(args)
    y, exc = _call(fname, cc.filter2d, args, {})
    _unchanged(snaps, fname)
    if exc is not None:
        return
    _check_result(y, fname, (img, k), (img,))
    if y.size <= MAX_REF_OUT:
        ref, ref_abs = _filter2d_oracle(np.asarray(img), k, border, y.dtype)
        assert_close(y, ref, ref_abs, int(np.asarray(k).size) + 1, fname)


def case_shapes(src: Source):
    fname = src.pick(["conv_output_size", "resolve_padding", "pool_output_size",
                      "dilated_kernel_size", "signal_output_size"])
    i, k = int_param(src), int_param(src)
    func = getattr(shapes, fname)
    if fname == "conv_output_size":
        args = (i, k, int_param(src), padding(src, 1) if src.chance(0.7) else int_param(src), int_param(src))
    elif fname == "resolve_padding":
        args = (padding(src, 1), i, k, int_param(src), int_param(src))
    elif fname == "pool_output_size":
        args = (i, k, src.pick([None, 1, 2]) if src.chance(0.5) else int_param(src),
                int_param(src), int_param(src), src.pick([False, True, None]))
    elif fname == "dilated_kernel_size":
        args = (k, int_param(src))
    else:
        args = (i, k, src.pick(["valid", "same", "full", "x", None]))
    out, exc = _call(fname, func, args, {})
    if exc is not None:
        return
    if fname == "resolve_padding":
        ok = isinstance(out, tuple) and len(out) == 2 and all(type(v) is int and v >= 0 for v in out)
    else:
        ok = type(out) is int and out >= 1
    if not ok:
        raise Finding(f"shapes.{fname}{args!r} returned {out!r}")
    if fname == "conv_output_size" and all(type(a) is int for a in args):
        i, k, s, p, d = args
        want = (i + 2 * p - d * (k - 1) - 1) // s + 1
        if out != want:
            raise Finding(f"shapes.conv_output_size{args!r} = {out}, formula gives {want}")


# ---- the private entry points --------------------------------------------------------------------


def _triple(src: Source, near=None):
    if near is not None and all(type(v) is int for v in near) and src.chance(0.8):
        return tuple(v + src.pick([0, 0, 0, 1, -1, 2]) for v in near)
    if src.chance(0.85):
        return tuple(int_param(src) for _ in range(3))
    src.big = True
    return src.pick([(1, 1), (1, 1, 1, 1), None, (1.0, 1, 1), ("1", 1, 1), (2**63, 1, 1)])


def _core_array(src: Source, shape, dtype):
    if src.chance(0.9):
        try:
            a = np.ascontiguousarray(np.asarray(array(src, shape)), dtype=dtype)
        except (ValueError, TypeError):  # strings, datetimes: no values for the core
            a = np.zeros(shape, dtype)
        if src.chance(0.05) and a.ndim:
            a = np.asfortranarray(a) if a.ndim > 1 else a[::-1]
        return a
    src.big = True
    return array(src, shape)


def _max_abs(a) -> float:
    """The largest finite |value| of an array (0 for None or an empty one)."""
    if a is None:
        return 0.0
    a = np.abs(np.asarray(a, dtype=np.float64))
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else 0.0


def _out_size(i, k, s, p_b, p_a, d):
    if s < 1 or d < 1:
        return 1
    return max((i + p_b + p_a - d * (k - 1) - 1) // s + 1, 0)


def _bounded(*extents):
    """Whether a result of these extents is small enough to ask for (memory-bounded runs)."""
    total = 1
    for e in extents:
        if not isinstance(e, (int, np.integer)):
            return True   # a wrong type: the binding refuses it before allocating anything
        total *= max(int(e), 0)
    return total <= MAX_CORE_OUT


def case_core_conv(src: Source):
    dtype = src.pick([np.float32, np.float64])
    groups = src.pick([1, 2, 3]) if src.chance(0.9) else int_param(src)
    g = groups if isinstance(groups, int) and 1 <= groups <= 3 else 1
    n, cpg, fpg = src.pick([1, 2, 0]), src.pick([1, 2, 3]), src.pick([1, 2, 8])
    ins = tuple(src.pick([1, 4, 2, 3, 5, 7]) for _ in range(3))
    ks = tuple(src.pick([1, 2, 3, 4]) for _ in range(3))
    x = _core_array(src, (n, g * cpg) + ins, dtype)
    w = _core_array(src, (g * fpg, cpg) + ks, dtype if src.chance(0.95) else np.float64)
    bias = None if src.chance(0.5) else _core_array(src, (g * fpg,), dtype)
    stride, pad, dil = _triple(src, (1, 1, 1)), _triple(src, (0, 0, 0)), _triple(src, (1, 1, 1))
    try:
        near = tuple(_out_size(ins[d], ks[d], stride[d], pad[d], pad[d], dil[d]) for d in range(3))
    except Exception:  # noqa: BLE001  (odd triples: any out will do)
        near = (1, 1, 1)
    out = _triple(src, near)
    if out is not None and len(out) == 3 and not _bounded(n, g * fpg, *out):
        return
    impl = src.pick(["auto", "direct", "reference"]) if src.chance(0.95) else src.pick(["", "fast", 1])
    args = (x, w, bias, stride, pad, dil, out, groups, impl)
    snaps = _snapshot(args)
    y, exc = _call("conv", _core.conv, args, {}, public=False)
    _unchanged(snaps, "_core.conv")
    if exc is not None or src.big:
        return
    # The three implementations of the same call agree (the reference one is the naive loop).
    for other in ("reference", "direct", "auto"):
        y2, exc2 = _call("conv", _core.conv, args[:-1] + (other,), {}, public=False)
        if exc2 is not None:
            raise Finding(f"_core.conv: impl={impl!r} accepted what impl={other!r} refused: {exc2}")
        terms = int(np.prod(np.asarray(w).shape[1:])) + 1
        bound = _max_abs(x) * _max_abs(w) * terms + _max_abs(bias)
        a, b = y, y2
        assert_close(a, b, np.full(b.shape, bound), terms, f"_core.conv impl={impl} vs {other}")


def _conv_operands(src: Source, nd: int, dtype):
    """x, w, bias for an nd-dimensional conv: native arrays that mostly agree."""
    batched = src.chance(0.7)
    c = src.pick([1, 2, 3])
    x = _core_array(src, ([src.pick([1, 2, 0])] if batched else []) + [c]
                    + [src.pick([4, 1, 3, 6, 9]) for _ in range(nd)], dtype)
    f = src.pick([1, 2, 3])
    w = _core_array(src, [f, c if src.chance(0.9) else src.pick([1, 2])]
                    + [src.pick([1, 2, 3]) for _ in range(nd)], dtype)
    bias = None if src.chance(0.6) else _core_array(src, (f if src.chance(0.9) else 2,), dtype)
    return x, w, bias


def case_core_conv_fast(src: Source):
    """A repeat-call plan made for one call, replayed (maybe mutated) with other arrays."""
    from cnncore._conv import conv_nd

    dtype = src.pick([np.float32, np.float64])
    nd = src.pick([2, 1, 3])
    x, w, bias = _conv_operands(src, nd, dtype)
    plan = None
    if src.chance(0.8):
        kwargs = {"stride": src.pick([1, 2, 3]), "padding": src.pick([0, 1, "same", "full", 2]),
                  "dilation": src.pick([1, 2])}
        try:
            _, plan = conv_nd(f"conv{nd}d", nd, x, w, bias, want_args=True, groups=1, **kwargs)
        except FINE:
            plan = None
    if plan is None:
        count = src.pick([16, 17, 18, 19, 14, 12, 24, 25, 0])
        vals = [src.pick([1, 0, 2, 3, 4, 5]) for _ in range(count)]
        if count >= 14:
            vals[13] = src.pick([3, 4, 5, 2, 6, -1])
    else:
        vals = np.frombuffer(plan, dtype=np.int64).tolist()
    for _ in range(src.below(4)):   # mutate entries
        if vals:
            i = src.below(len(vals))
            v = vals[i] + src.pick([1, -1, 2]) if src.chance(0.6) else int_param(src)
            vals[i] = int(v) if isinstance(v, (int, np.integer)) and -(2**63) <= v < 2**63 else 0
    if src.chance(0.5):   # other arrays than the plan was made for
        x2, w2, b2 = _conv_operands(src, nd if src.chance(0.8) else src.pick([1, 2, 3]), dtype)
        x, w = (x2, w) if src.chance(0.5) else (x, w2)
        bias = b2 if src.chance(0.3) else bias
    if len(vals) >= 14 and not (_bounded(*vals[14:]) and _bounded(*vals[9:12])):
        return
    plan = np.array(vals, dtype=np.int64).tobytes()
    if src.chance(0.03):
        plan = plan[:-1] if plan else b"x"
    args = (x, w, bias, plan)
    snaps = _snapshot(args)
    y, exc = _call("conv", _core.conv_fast, args, {}, public=False)
    _unchanged(snaps, "_core.conv_fast")
    if exc is None and y is not None:
        if not isinstance(y, np.ndarray) or not y.flags.c_contiguous:
            raise Finding("_core.conv_fast returned something other than a C-contiguous array")


def _pool_window(src: Source, ins, k_default):
    """A pooling window for the core's pool and the engine's add_pool: kernel, stride, paddings
    and dilation (each a triple or a wrong value), and an output size near the true one."""
    k = _triple(src, k_default)
    stride = _triple(src, k if isinstance(k, tuple) and len(k) == 3 else None)
    pb, pa, dil = _triple(src, (0, 0, 0)), _triple(src, (0, 0, 0)), _triple(src, (1, 1, 1))
    try:
        near = tuple(_out_size(ins[d], k[d], stride[d], pb[d], pa[d], dil[d]) for d in range(3))
    except Exception:  # noqa: BLE001
        near = (1, 1, 1)
    return k, stride, pb, pa, dil, _triple(src, near)


def case_core_pool(src: Source):
    dtype = src.pick([np.float32, np.float64])
    planes = src.pick([1, 2, 0, 3])
    ins = tuple(src.pick([1, 4, 2, 3, 5, 8]) for _ in range(3))
    x = _core_array(src, (planes,) + ins, dtype)
    kind = src.pick(["max", "avg", "sum"]) if src.chance(0.95) else src.pick(["", "min", None])
    k, stride, pb, pa, dil, out = _pool_window(src, ins, (1, 2, 2))
    if out is not None and len(out) == 3 and not _bounded(planes, *out):
        return
    cip = src.pick([True, False])
    args = (x, kind, k, stride, pb, pa, dil, out, cip)
    snaps = _snapshot(args)
    _call("pool", _core.pool, args, {}, public=False)
    _unchanged(snaps, "_core.pool")


def case_core_misc(src: Source):
    which = src.pick(["activation", "activation_fast", "filter2d", "engine", "threads"])
    dtype = src.pick([np.float32, np.float64])
    if which in ("activation", "activation_fast"):
        x = _core_array(src, [src.pick([3, 0, 1, 8, 17]) for _ in range(src.below(4))], dtype)
        kind = src.pick(["relu", "leaky_relu", "elu"]) if src.chance(0.9) else src.pick(["", "tanh", None])
        param = src.pick([0.0, 0.01, 1.0, -1.0, float("nan"), float("inf"), 1e300, 2**64, None])
        args = (x, kind, param)
        snaps = _snapshot(args)
        _call(which, getattr(_core, which), args, {}, public=False)
        _unchanged(snaps, f"_core.{which}")
    elif which == "filter2d":
        chan = src.pick([1, 3, 4, 2, 0, -1]) if src.chance(0.9) else int_param(src)
        c = chan if isinstance(chan, int) and 0 < chan <= 4 else 1
        x = _core_array(src, (src.pick([4, 1, 2, 0, 7]), c * src.pick([5, 1, 2, 0, 3])), dtype)
        k = _core_array(src, (src.pick([3, 1, 2, 0, 9]), src.pick([3, 1, 2, 0, 8])), dtype)
        border = src.pick(["zeros", "reflect", "replicate", "wrap", "mirror"])
        args = (x, k, chan, border)
        snaps = _snapshot(args)
        _call("filter2d", _core.filter2d, args, {}, public=False)
        _unchanged(snaps, "_core.filter2d")
    elif which == "engine":
        case_engine(src)
    else:
        n = src.pick([1, 2, 3, 0, -1, 2**31, 64]) if src.chance(0.9) else src.pick([None, 1.5])
        _call("set_num_threads", cc.set_num_threads, (n,), {})


def case_engine(src: Source):
    size = src.pick([8, 4, 1, 12, 16, 0])
    e, exc = _call("Engine", _core.Engine, (size,), {}, public=False)
    if exc is not None:
        return
    cur = (1, 1, 1, size) if size > 0 else (1, 1, 1, 1)   # (c, d, h, w) of the current layer
    for _ in range(src.below(5)):
        step = src.pick(["conv", "pool", "act", "dense", "softmax"])
        c, ins = cur[0], cur[1:]
        if step == "conv":
            groups = src.pick([1, 1, 2]) if c % 2 == 0 else 1
            fo = groups * src.pick([1, 2, 8])
            ks = tuple(min(src.pick([1, 2, 3]), i) if src.chance(0.9) else src.pick([1, 2, 5]) for i in ins)
            w = _core_array(src, (fo, max(c // groups, 1)) + ks, np.float32)
            b = None if src.chance(0.5) else _core_array(src, (fo,), np.float32)
            stride, pad, dil = _triple(src, (1, 1, 1)), _triple(src, (0, 0, 0)), _triple(src, (1, 1, 1))
            try:
                near = tuple(_out_size(ins[d], ks[d], stride[d], pad[d], pad[d], dil[d]) for d in range(3))
            except Exception:  # noqa: BLE001
                near = (1, 1, 1)
            out = _triple(src, near)
            c_in = c if src.chance(0.9) else int_param(src)
            if out is not None and len(out) == 3 and not _bounded(fo, *out):
                return
            _, exc = _call("Engine", e.add_conv, (w, b, c_in, ins, out, stride, pad, dil, groups), {},
                           public=False)
            if exc is None:   # the binding takes NumPy numbers (np.float32(1.0)) as ints too
                cur = (fo,) + tuple(int(v) for v in out)
        elif step == "pool":
            k, stride, pb, pa, dil, out = _pool_window(src, ins, (1, 1, 2))
            if out is not None and len(out) == 3 and not _bounded(c, *out):
                return
            kind = src.pick(["max", "avg", "sum"])
            _, exc = _call("Engine", e.add_pool, (kind, c, ins, out, k, stride, pb, pa, dil, True), {},
                           public=False)
            if exc is None:
                cur = (c,) + tuple(int(v) for v in out)
        elif step == "act":
            _call("Engine", e.add_activation, (src.pick(["relu", "elu", "leaky_relu", "x"]),
                                                 src.pick([0.0, 0.1, 1.0])), {}, public=False)
        elif step == "dense":
            fin = e.output_size if src.chance(0.9) else src.pick([0, 1, 3])
            fout = src.pick([3, 1, 10, 0])
            w = _core_array(src, (fout, fin), np.float32)
            b = None if src.chance(0.5) else _core_array(src, (src.pick([fout, fout, 1]),), np.float32)
            _, exc = _call("Engine", e.add_dense, (w, b), {}, public=False)
            if exc is None:
                cur = (fout, 1, 1, 1)
        else:
            _call("Engine", e.add_softmax, (src.pick([cur[0], 1, 0, 3, -1]),), {}, public=False)
    n = src.pick([1, 2, 0, 5, 9])
    x = _core_array(src, (n, e.input_size if src.chance(0.9) else src.pick([1, 3])), np.float32)
    if not _bounded(n, e.output_size):
        return
    y, exc = _call("Engine", e.run, (x,), {}, public=False)
    if exc is None and (not isinstance(y, np.ndarray) or y.shape != (n, e.output_size)):
        raise Finding(f"Engine.run: result {getattr(y, 'shape', y)!r}, expected {(n, e.output_size)}")


CASES = [
    (40, case_conv), (20, case_signal), (40, case_pool), (20, case_activation),
    (22, case_filter2d), (14, case_shapes), (40, case_core_conv), (16, case_core_conv_fast),
    (24, case_core_pool), (20, case_core_misc),
]
def one_input(data: bytes) -> None:
    """Decode ``data`` into one call and check its outcome; raises Finding on a contract breach."""
    src = Source(data)
    _core.set_simd_level(src.pick(["generic", "avx2"]))   # "avx2": the best there is
    threads = src.pick([1, 2])
    if cc.get_num_threads() != threads:
        cc.set_num_threads(threads)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")   # casts of odd values while generating, inf - inf, ...
        src.weighted(CASES)(src)


def replay(paths) -> int:
    """Run saved inputs (files, or every file in the given directories) once each."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p))
        else:
            files.append(p)
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        try:
            one_input(data)
        except BaseException:
            print(f"finding on {f}: {data!r}", file=sys.stderr)
            raise
    print(f"replayed {len(files)} input(s): no finding; calls returned {STATS['returned']}, "
          f"refused {STATS['refused']}, results compared {STATS['compared']}")
    return 0
