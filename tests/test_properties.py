"""Property-based tests (hypothesis) of every operator family against an oracle.

Families: conv1d, conv2d, conv3d and correlate/convolve against ``cnncore.reference``; max, average
and sum pooling (1-D to 3-D) against ``cnncore.reference``; relu, leaky_relu and elu (special values
and parameters included) against ``cnncore.reference``; filter2d against a NumPy oracle written here
(``numpy.pad`` with the border's mode, then one term per kernel tap); and the shapes functions
against brute-force counts of window positions in Python integers.

Each test draws a *case*: a small dict of shapes, arguments, dtypes, memory layouts, a data style,
the SIMD level to run at and a seed for the values. The arrays are built from it, cnncore and the
oracle run on them, and the test checks the result dtype, the shape (the one ``cnncore.shapes``
gives), the values (``conftest.assert_close``: integer-valued data exactly, floats within a bound
scaled by the length of each sum), that the inputs are unchanged, and that a repeat call (the
cached fast path) gives a bitwise identical result. A case the oracle refuses must be refused by
cnncore too, with a ValueError naming the function.

Profiles (registered in conftest.py, chosen by ``CNNCORE_HYPOTHESIS_PROFILE``):

- ``default``: 300 examples per test, derandomized (the same examples on every run and in CI), no
  example database;
- ``long``: 10,000 examples per test, random, for a run before a release::

      CNNCORE_HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py \\
          --hypothesis-show-statistics

Every failure found is kept as an explicit ``@example`` on its test (the cases named in REGRESSIONS
below), so it is checked on every run whatever the profile.

Values: no subnormal numbers. The core flushes subnormal inputs and results to zero (README,
"Speed"), so floats are drawn as 0 or with magnitudes between 2**-20 and 2**20 (2**-14 to 2**14 for
float16): every product and partial sum of such numbers is either 0 or far above the subnormal
range, and the comparison with a float64 reference is then exact up to rounding.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import example, given, strategies as st  # noqa: E402

import cnncore as cc  # noqa: E402
from cnncore import _core, reference, shapes  # noqa: E402

from conftest import assert_close  # noqa: E402

LEVELS = list(_core.simd_levels())
DTYPES = ["float32"] * 4 + ["float64"] * 3 + ["int64", "uint8", "float16"]
LAYOUTS = ["c"] * 4 + ["fortran", "reversed", "strided", "transposed", "byteswapped", "readonly"]
STYLES = ["ints", "normal", "wide"]
ERRORS = (ValueError, TypeError, OverflowError, MemoryError)


# ----------------------------------------------------------------------------------------------
# Building the arrays of a case.


def make(rng, shape, dtype, style):
    """Random values of ``dtype``: small integers, normal, or of a wide range of magnitudes."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" or style == "ints":
        a = rng.integers(0 if dtype.kind == "u" else -8, 9, shape)
    elif style == "normal":
        a = rng.standard_normal(shape)
    else:
        top = 14 if dtype == np.float16 else 20
        mag = np.exp2(rng.uniform(-top, top, shape))
        a = np.where(rng.random(shape) < 0.1, 0.0, rng.choice([-1.0, 1.0], shape) * mag)
    return np.asarray(a).astype(dtype)


def sprinkle(rng, a, fraction=0.15):
    """``a`` (float) with NaN, +inf and -inf at a few random positions."""
    a = a.copy()
    flat = a.reshape(-1)
    if flat.size and a.dtype.kind == "f":
        idx = rng.integers(0, flat.size, max(1, int(flat.size * fraction)))
        flat[idx] = rng.choice(np.array([np.nan, np.inf, -np.inf], dtype=a.dtype), idx.size)
    return a


def relayout(a, how):
    """An array equal to ``a`` in value, laid out in memory as ``how`` says."""
    if how == "fortran" and a.ndim:  # (numpy.asfortranarray makes a 0-d array 1-d)
        return np.asfortranarray(a)
    if how == "reversed" and a.ndim:
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if how == "strided" and a.ndim:
        return np.repeat(a, 2, axis=-1)[..., ::2]
    if how == "transposed" and a.ndim >= 2:
        return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    if how == "byteswapped":
        return a.astype(a.dtype.newbyteorder())
    if how == "readonly":
        b = a.copy()
        b.setflags(write=False)
        return b
    return a


@contextlib.contextmanager
def simd_level(level):
    before = _core.simd_level()
    _core.set_simd_level(level)
    try:
        yield
    finally:
        _core.set_simd_level(before)


def outcome(call):
    """``(result, None)`` or ``(None, the error)`` for one of the documented errors."""
    try:
        return call(), None
    except ERRORS as exc:
        return None, exc


def int_arg(value, form):
    """An int argument as a Python int or as a NumPy integer."""
    return {"int": int, "int64": np.int64, "int32": np.int32, "uint16": np.uint16}[form](value)


def per_dim_arg(values, form, np_form):
    """Per-dimension ints as one int (when all equal and asked), a tuple or a list."""
    values = [int_arg(v, np_form) for v in values]
    if form == "scalar" and len(set(int(v) for v in values)) == 1:
        return values[0]
    return list(values) if form == "list" else tuple(values)


def check_same_refusal(yerr, rerr, fname, case):
    """The oracle refused the case: cnncore must refuse it too, with a ValueError naming fname."""
    assert isinstance(yerr, ValueError), f"{case}: reference raised {rerr!r}, cnncore gave {yerr!r}"
    assert str(yerr).startswith(f"{fname}:"), f"{case}: message does not name {fname}: {yerr}"


def check_unchanged(inputs, copies, case):
    for a, b in zip(inputs, copies):
        np.testing.assert_array_equal(a, b, err_msg=f"{case}: an input was modified")


# ----------------------------------------------------------------------------------------------
# Strategies.


def padding_strategy(nd, modes=("valid", "same", "full"), most=3):
    pad = st.integers(0, most)
    forms = [
        st.sampled_from(modes),
        pad,
        st.tuples(*[pad] * nd),
        st.tuples(*[st.tuples(pad, pad)] * nd),
    ]
    if nd == 1:
        forms.append(st.tuples(pad, pad))  # a bare (before, after) pair
    return st.one_of(*forms)


def seq_form():
    return st.sampled_from(["scalar", "scalar", "tuple", "list"])


def np_form():
    return st.sampled_from(["int", "int", "int", "int64", "int32", "uint16"])


MAX_SIZE = {1: 16, 2: 8, 3: 5}
MAX_KERNEL = {1: 5, 2: 4, 3: 3}


@st.composite
def conv_cases(draw, nd):
    if draw(st.integers(0, 4)) == 0:  # depthwise
        groups, cpg = draw(st.integers(1, 6)), 1
    else:
        groups, cpg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dims = st.lists(st.integers(1, MAX_SIZE[nd]), min_size=nd, max_size=nd)
    small = st.lists(st.integers(1, MAX_KERNEL[nd]), min_size=nd, max_size=nd)
    few = st.lists(st.integers(1, 3), min_size=nd, max_size=nd)
    # Now and then a dilation larger than the input: taps that meet no input element are
    # dropped before the core, and a kernel with none left gives the bias alone.
    dilations = st.lists(st.one_of(st.integers(1, 3), st.integers(4, 12)), min_size=nd,
                         max_size=nd)
    return dict(
        nd=nd, n=draw(st.sampled_from([None, 0, 1, 1, 2, 3])), groups=groups, cpg=cpg,
        fpg=draw(st.integers(1, 3)), sizes=tuple(draw(dims)), kernel=tuple(draw(small)),
        stride=tuple(draw(few)),
        dilation=tuple(draw(dilations)) if draw(st.booleans()) else (1,) * nd,
        padding=draw(padding_strategy(nd)), bias=draw(st.booleans()),
        dtypes=tuple(draw(st.sampled_from(DTYPES)) for _ in range(3)),
        style=draw(st.sampled_from(STYLES)),
        layouts=tuple(draw(st.sampled_from(LAYOUTS)) for _ in range(3)),
        form=draw(seq_form()), np_form=draw(np_form()), padding_list=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)), simd=draw(st.sampled_from(LEVELS)),
    )


CONV = {1: cc.conv1d, 2: cc.conv2d, 3: cc.conv3d}
CONV_REF = {1: reference.conv1d, 2: reference.conv2d, 3: reference.conv3d}


def run_conv(case):
    nd, n, groups = case["nd"], case["n"], case["groups"]
    fname = f"conv{nd}d"
    rng = np.random.default_rng(case["seed"])
    c_in, c_out = groups * case["cpg"], groups * case["fpg"]
    x_shape = (() if n is None else (n,)) + (c_in,) + case["sizes"]
    w_shape = (c_out, case["cpg"]) + case["kernel"]
    dx, dw, db = case["dtypes"]
    x = make(rng, x_shape, dx, case["style"])
    w = make(rng, w_shape, dw, case["style"])
    b = make(rng, (c_out,), db, case["style"]) if case["bias"] else None
    padding = case["padding"]
    if case["padding_list"] and isinstance(padding, tuple):
        padding = list(padding)
    kw = dict(
        stride=per_dim_arg(case["stride"], case["form"], case["np_form"]), padding=padding,
        dilation=per_dim_arg(case["dilation"], case["form"], case["np_form"]),
        groups=int_arg(groups, case["np_form"]),
    )
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    r, rerr = outcome(lambda: CONV_REF[nd](x64, w64, b64, **kw))
    inputs = [relayout(a, how) for a, how in zip((x, w, b if b is not None else x), case["layouts"])]
    xi, wi = inputs[0], inputs[1]
    bi = inputs[2] if b is not None else None
    copies = [a.copy() for a in inputs]
    with simd_level(case["simd"]):
        y, yerr = outcome(lambda: CONV[nd](xi, wi, bi, **kw))
        again = None if yerr else CONV[nd](xi, wi, bi, **kw)
    check_unchanged(inputs, copies, case)
    if rerr is not None:
        check_same_refusal(yerr, rerr, fname, case)
        return
    assert yerr is None, f"{case}: the reference computed it, cnncore raised {yerr!r}"

    operands = (x, w) if b is None else (x, w, b)
    assert y.dtype == np.result_type(*operands, np.float32), case
    assert y.flags.c_contiguous and y.flags.writeable
    _, outs, _, _ = shapes.conv_output_shape(case["sizes"], case["kernel"], kw["stride"],
                                             kw["padding"], kw["dilation"])
    want_shape = (() if n is None else (n,)) + (c_out,) + tuple(outs)
    assert y.shape == want_shape, f"{case}: shape {y.shape}, shapes says {want_shape}"
    r_abs = CONV_REF[nd](np.abs(x64), np.abs(w64), None if b is None else np.abs(b64), **kw)
    terms = case["cpg"] * int(np.prod(case["kernel"])) + (b is not None)
    assert_close(y, r, r_abs, terms, "int" if case["style"] == "ints" else "float", str(case))
    np.testing.assert_array_equal(again, y, err_msg=f"{case}: a repeat call differs")


REGRESSIONS = {
    # Each a case that once failed (or exercises a fixed path), checked on every run.
    "conv1d-empty-batch-same": dict(
        nd=1, n=0, groups=1, cpg=1, fpg=1, sizes=(5,), kernel=(3,), stride=(2,), dilation=(1,),
        padding="same", bias=True, dtypes=("float32",) * 3, style="ints", layouts=("c",) * 3,
        form="scalar", np_form="int", padding_list=False, seed=0, simd=LEVELS[-1],
    ),
    # Dilation 3 with 'same' on a 2-sample input: only the centre tap meets the input, the
    # others are dropped before the core (the fix for huge dilations' work buffers).
    "conv2d-dead-taps-same": dict(
        nd=2, n=1, groups=2, cpg=1, fpg=1, sizes=(2, 7), kernel=(3, 3), stride=(1, 1),
        dilation=(3, 3), padding="same", bias=True, dtypes=("float32",) * 3, style="normal",
        layouts=("c",) * 3, form="scalar", np_form="int", padding_list=False, seed=1,
        simd=LEVELS[-1],
    ),
    # Every tap in the padding along H: the result is the bias alone.
    "conv2d-no-live-tap": dict(
        nd=2, n=2, groups=1, cpg=2, fpg=2, sizes=(1, 4), kernel=(2, 2), stride=(1, 1),
        dilation=(3, 1), padding=((2, 2), (0, 0)), bias=True, dtypes=("float64",) * 3,
        style="normal", layouts=("c",) * 3, form="tuple", np_form="int", padding_list=False,
        seed=2, simd=LEVELS[0],
    ),
}


@given(case=conv_cases(1))
@example(case=REGRESSIONS["conv1d-empty-batch-same"])
def test_conv1d_matches_reference(case):
    run_conv(case)


@given(case=conv_cases(2))
@example(case=REGRESSIONS["conv2d-dead-taps-same"])
@example(case=REGRESSIONS["conv2d-no-live-tap"])
def test_conv2d_matches_reference(case):
    run_conv(case)


@given(case=conv_cases(3))
def test_conv3d_matches_reference(case):
    run_conv(case)


# ----------------------------------------------------------------------------------------------
# correlate and convolve.


@st.composite
def signal_cases(draw):
    nd = draw(st.integers(1, 2))
    hi = 20 if nd == 1 else 7
    return dict(
        nd=nd, func=draw(st.sampled_from(["correlate", "convolve"])),
        mode=draw(st.sampled_from(["valid", "same", "full"])),
        xs=tuple(draw(st.lists(st.integers(1, hi), min_size=nd, max_size=nd))),
        ws=tuple(draw(st.lists(st.integers(1, hi + 3), min_size=nd, max_size=nd))),
        dtypes=tuple(draw(st.sampled_from(DTYPES)) for _ in range(2)),
        style=draw(st.sampled_from(STYLES)),
        layouts=tuple(draw(st.sampled_from(LAYOUTS)) for _ in range(2)),
        seed=draw(st.integers(0, 2**32 - 1)), simd=draw(st.sampled_from(LEVELS)),
    )


@given(case=signal_cases())
def test_correlate_convolve_match_reference(case):
    rng = np.random.default_rng(case["seed"])
    x = make(rng, case["xs"], case["dtypes"][0], case["style"])
    w = make(rng, case["ws"], case["dtypes"][1], case["style"])
    func, ref = getattr(cc, case["func"]), getattr(reference, case["func"])
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    r, rerr = outcome(lambda: ref(x64, w64, case["mode"]))
    xi, wi = (relayout(a, how) for a, how in zip((x, w), case["layouts"]))
    copies = [xi.copy(), wi.copy()]
    with simd_level(case["simd"]):
        y, yerr = outcome(lambda: func(xi, wi, case["mode"]))
    check_unchanged([xi, wi], copies, case)
    if rerr is not None:
        check_same_refusal(yerr, rerr, case["func"], case)
        return
    assert yerr is None, f"{case}: the reference computed it, cnncore raised {yerr!r}"
    assert y.dtype == np.result_type(x, w, np.float32), case
    want = tuple(shapes.signal_output_size(a, b, case["mode"]) for a, b in zip(x.shape, w.shape))
    assert y.shape == want, f"{case}: shape {y.shape}, shapes says {want}"
    r_abs = ref(np.abs(x64), np.abs(w64), case["mode"])
    assert_close(y, r, r_abs, w.size, "int" if case["style"] == "ints" else "float", str(case))


# ----------------------------------------------------------------------------------------------
# Pooling.

POOL_KERNEL = {1: 5, 2: 3, 3: 3}


@st.composite
def pool_cases(draw, kind):
    nd = draw(st.integers(1, 3))
    few = st.lists(st.integers(1, 3), min_size=nd, max_size=nd)
    return dict(
        kind=kind, nd=nd,
        kernel=tuple(draw(st.lists(st.integers(1, POOL_KERNEL[nd]), min_size=nd, max_size=nd))),
        sizes=tuple(draw(st.lists(st.integers(1, MAX_SIZE[nd]), min_size=nd, max_size=nd))),
        stride=None if draw(st.booleans()) else tuple(draw(few)),
        # Explicit padding up to 2 on a side: above kernel_size // 2 it is refused, by both.
        padding=draw(padding_strategy(nd, modes=("valid", "same"), most=2)),
        dilation=tuple(draw(few)) if kind == "max" and draw(st.booleans()) else (1,) * nd,
        ceil_mode=draw(st.booleans()), count_include_pad=draw(st.booleans()),
        lead=draw(st.sampled_from([(1,), (3,), (0, 2), (1, 1), (2, 3)])),
        dtype=draw(st.sampled_from(DTYPES)), style=draw(st.sampled_from(STYLES)),
        specials=draw(st.integers(0, 4)) == 0, layout=draw(st.sampled_from(LAYOUTS)),
        form=draw(seq_form()), np_form=draw(np_form()),
        seed=draw(st.integers(0, 2**32 - 1)), simd=draw(st.sampled_from(LEVELS)),
    )


def pool_call(mod, case, x, kw):
    f = getattr(mod, f"{case['kind']}_pool{case['nd']}d")
    if case["kind"] == "max":
        return f(x, kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"], kw["ceil_mode"])
    if case["kind"] == "avg":
        return f(x, kw["kernel_size"], kw["stride"], kw["padding"], kw["ceil_mode"],
                 kw["count_include_pad"])
    return f(x, kw["kernel_size"], kw["stride"], kw["padding"], kw["ceil_mode"])


def run_pool(case):
    nd = case["nd"]
    fname = f"{case['kind']}_pool{nd}d"
    rng = np.random.default_rng(case["seed"])
    x = make(rng, case["lead"] + case["sizes"], case["dtype"], case["style"])
    if case["specials"]:
        x = sprinkle(rng, x)
    stride = case["stride"]
    kw = dict(
        kernel_size=per_dim_arg(case["kernel"], case["form"], case["np_form"]),
        stride=None if stride is None else per_dim_arg(stride, case["form"], case["np_form"]),
        padding=case["padding"], dilation=per_dim_arg(case["dilation"], case["form"], "int"),
        ceil_mode=case["ceil_mode"], count_include_pad=case["count_include_pad"],
    )
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf in the reference's sums: NaN, as wanted
        r, rerr = outcome(lambda: pool_call(reference, case, x64, kw))
    xi = relayout(x, case["layout"])
    copy = xi.copy()
    with simd_level(case["simd"]):
        y, yerr = outcome(lambda: pool_call(cc, case, xi, kw))
    check_unchanged([xi], [copy], case)
    if rerr is not None:
        check_same_refusal(yerr, rerr, fname, case)
        return
    assert yerr is None, f"{case}: the reference computed it, cnncore raised {yerr!r}"
    assert y.dtype == np.result_type(x, np.float32), case
    assert y.flags.c_contiguous
    *_, outs = shapes.pool_output_shape(case["sizes"], kw["kernel_size"], kw["stride"],
                                        kw["padding"], kw["dilation"], kw["ceil_mode"])
    assert y.shape == case["lead"] + tuple(outs), f"{case}: shape {y.shape}, shapes says {outs}"
    if case["kind"] == "max":  # no arithmetic: the same element exactly, NaN and inf included
        np.testing.assert_array_equal(y, r.astype(y.dtype), err_msg=str(case))
        return
    with np.errstate(invalid="ignore"):
        r_abs = pool_call(reference, case, np.abs(x64), kw)
    exact = case["kind"] == "sum" and case["style"] == "ints"
    assert_close(y, r, r_abs, int(np.prod(case["kernel"])), "int" if exact else "float", str(case))


@given(case=pool_cases("max"))
def test_max_pool_matches_reference(case):
    run_pool(case)


@given(case=pool_cases("avg"))
def test_avg_pool_matches_reference(case):
    run_pool(case)


@given(case=pool_cases("sum"))
def test_sum_pool_matches_reference(case):
    run_pool(case)


# ----------------------------------------------------------------------------------------------
# Activations.

F32 = np.finfo(np.float32)
SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 2.0**-20, -(2.0**-20), 3.0e38]
PARAMS = st.one_of(
    st.sampled_from([0.0, 0.01, 0.1, 0.2, 1.0, 1.5, 2.0, -1.0, np.nan, np.inf, -np.inf]),
    st.floats(allow_subnormal=False),  # any double: huge, tiny, NaN, infinities
    st.integers(-(2**80), 2**80),
    st.sampled_from([np.float32(0.3), np.float16(0.5), np.int64(3), np.uint8(2), 1e300, 1e-300,
                     1e-40, -1e-40, float(F32.max) * 2]),
)


@st.composite
def activation_cases(draw):
    ndim = draw(st.integers(0, 4))
    return dict(
        kind=draw(st.sampled_from(["relu", "leaky_relu", "elu"])),
        shape=tuple(draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim))),
        dtype=draw(st.sampled_from(DTYPES)), style=draw(st.sampled_from(STYLES)),
        specials=draw(st.booleans()), param=draw(st.one_of(st.none(), PARAMS)),
        layout=draw(st.sampled_from(LAYOUTS)),
        seed=draw(st.integers(0, 2**32 - 1)), simd=draw(st.sampled_from(LEVELS)),
    )


def activation_call(mod, case, x):
    f = getattr(mod, case["kind"])
    return f(x) if case["kind"] == "relu" or case["param"] is None else f(x, case["param"])


def _activation_regression(kind, param, dtype="float32", data=(0.0, -0.0, -1e38, -1.0, 2.0)):
    return dict(kind=kind, shape=(len(data),), dtype=dtype, style="normal", specials=False,
                param=param, layout="c", seed=0, simd=LEVELS[-1], data=data)


@given(case=activation_cases())
# A float32 input with a parameter beyond float32's range: the core rounded it to inf, giving
# inf * 0 = NaN at zero (the reference: 0); below float32's normal range it became 0 or a
# subnormal (leaky_relu(-1e38, 1e-50) gave -0.0, the reference -1e-12).
@example(case=_activation_regression("leaky_relu", 1e300))
@example(case=_activation_regression("elu", 1e300))
@example(case=_activation_regression("leaky_relu", 1e-50))
@example(case=_activation_regression("leaky_relu", -1e-40))
@example(case=_activation_regression("elu", 1e-40))
def test_activations_match_reference(case):
    rng = np.random.default_rng(case["seed"])
    if "data" in case:
        x = np.array(case["data"], dtype=case["dtype"])
    else:
        x = make(rng, case["shape"], case["dtype"], case["style"])
        if case["specials"] and x.dtype.kind == "f" and x.size:
            flat = x.reshape(-1)
            idx = rng.integers(0, flat.size, max(1, flat.size // 3))
            with np.errstate(over="ignore"):  # 3e38 is inf in float16: fine
                flat[idx] = np.array(SPECIAL, dtype=np.float64)[rng.integers(0, len(SPECIAL),
                                                                             idx.size)]
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        r, rerr = outcome(lambda: activation_call(reference, case, x64))
    xi = relayout(x, case["layout"])
    copy = xi.copy()
    with simd_level(case["simd"]):
        y, yerr = outcome(lambda: activation_call(cc, case, xi))
    check_unchanged([xi], [copy], case)
    assert rerr is None and yerr is None, f"{case}: {rerr!r} / {yerr!r}"
    assert y.dtype == np.result_type(x, np.float32) and y.shape == x.shape, case
    with np.errstate(over="ignore"):
        want = r.astype(y.dtype)  # the float64 reference rounded once to the result dtype
    # A result below the normal range (a tiny parameter times a small input) is flushed to zero
    # by the core (README, "Speed"): accept 0 there, and compare the rest.
    flushed = (np.abs(want) < np.finfo(y.dtype).tiny) & (y == 0)
    y, want = np.where(flushed, 0, y), np.where(flushed, 0, want)
    if case["kind"] == "relu" or (case["kind"] == "leaky_relu" and y.dtype == np.float64):
        np.testing.assert_array_equal(y, want, err_msg=str(case))  # one operation: exact
    elif y.dtype == np.float64:
        np.testing.assert_allclose(y, want, rtol=1e-14, atol=0, err_msg=str(case))
    else:
        # float32: the parameter rounded to float32 and (ELU) a float32 expm1: a few ulps.
        np.testing.assert_allclose(y, want, rtol=4 * F32.eps, atol=1e-37, err_msg=str(case))


# ----------------------------------------------------------------------------------------------
# filter2d, against an oracle of its own.

NP_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "wrap": "wrap"}


def filter2d_oracle(img, kernel):
    """(result, result of |img| with |kernel|) in float64; the kernel is first cast to the
    result dtype, as filter2d does."""
    rtype = np.result_type(img, np.float32)
    k = np.asarray(kernel).astype(rtype).astype(np.float64)

    def run(image, k, border):
        planes = image[..., None] if image.ndim == 2 else image
        colour = planes[..., :3] if planes.shape[2] == 4 else planes
        h, w = colour.shape[:2]
        kh, kw = k.shape
        pad = ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0))
        padded = np.pad(colour.astype(np.float64), pad, mode=NP_MODE[border])
        out = np.zeros(colour.shape)
        for a, b in np.ndindex(kh, kw):
            out += k[a, b] * padded[a:a + h, b:b + w]
        if planes.shape[2] == 4:
            out = np.concatenate([out, planes[..., 3:].astype(rtype).astype(np.float64)], axis=2)
        return out.reshape(image.shape)

    return lambda border: (run(img, k, border), run(np.abs(img), np.abs(k), border))


@st.composite
def filter2d_cases(draw):
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    return dict(
        h=h, w=w, channels=draw(st.sampled_from([None, 1, 3, 4])),
        kernel=(draw(st.integers(1, h + 3)), draw(st.integers(1, w + 3))),
        border=draw(st.sampled_from(list(NP_MODE))),
        dtype=draw(st.sampled_from(["uint8", "uint8", "float32", "float64"])),
        kernel_dtype=draw(st.sampled_from(["float64", "float32", "int64"])),
        style=draw(st.sampled_from(STYLES)),
        layouts=tuple(draw(st.sampled_from(LAYOUTS)) for _ in range(2)),
        seed=draw(st.integers(0, 2**32 - 1)), simd=draw(st.sampled_from(LEVELS)),
    )


@given(case=filter2d_cases())
def test_filter2d_matches_numpy_oracle(case):
    rng = np.random.default_rng(case["seed"])
    shape = (case["h"], case["w"]) + (() if case["channels"] is None else (case["channels"],))
    if case["dtype"] == "uint8":
        img = rng.integers(0, 256, shape).astype(np.uint8)
    else:
        img = make(rng, shape, case["dtype"], case["style"])
    kernel = make(rng, case["kernel"], case["kernel_dtype"], case["style"])
    r, r_abs = filter2d_oracle(img, kernel)(case["border"])
    ii, ki = (relayout(a, how) for a, how in zip((img, kernel), case["layouts"]))
    copies = [ii.copy(), ki.copy()]
    with simd_level(case["simd"]):
        y = cc.filter2d(ii, ki, case["border"])
    check_unchanged([ii, ki], copies, case)
    assert y.dtype == np.result_type(img, np.float32) and y.shape == img.shape, case
    kind = "int" if case["style"] == "ints" else "float"  # integer kernels and images: exact
    assert_close(y, r, r_abs, kernel.size, kind, str(case))


# ----------------------------------------------------------------------------------------------
# The shapes functions, against brute force in Python integers.


def count_windows(padded, reach, s):
    """How many windows of ``reach`` elements, ``s`` apart, fit in ``padded``: counted."""
    count, start = 0, 0
    while start + reach <= padded:
        count += 1
        start += s
    return count


def count_pool_windows(i, before, after, reach, s, ceil_mode):
    """As count_windows, plus with ceil_mode one partial window over leftover elements, kept
    when it starts inside the input or the leading padding (PyTorch's rule)."""
    padded = i + before + after
    count = count_windows(padded, reach, s)
    if ceil_mode and count and (count - 1) * s + reach < padded and count * s < i + before:
        count += 1
    return count


def brute_padding(padding, i, k, s, d):
    """(before, after) from the definitions: 'same' is the least total padding that gives
    ceil(i / s) windows, the odd one at the end."""
    reach = d * (k - 1) + 1
    if padding == "valid":
        return (0, 0)
    if padding == "full":
        return (reach - 1, reach - 1)
    if padding == "same":
        want = -(-i // s)
        total = 0
        while count_windows(i + total, reach, s) < want:
            total += 1
        return (total // 2, total - total // 2)
    return padding if isinstance(padding, tuple) else (padding, padding)


SMALL = st.integers(-2, 12)


@st.composite
def shape_cases(draw):
    return dict(
        i=draw(st.integers(-1, 40)), k=draw(st.integers(-1, 9)), s=draw(st.integers(-1, 6)),
        d=draw(st.integers(-1, 4)),
        padding=draw(st.one_of(st.sampled_from(["valid", "same", "full"]), SMALL,
                               st.tuples(SMALL, SMALL))),
        ceil_mode=draw(st.booleans()), stride_none=draw(st.booleans()),
    )


def expected_size(case, pool):
    """The brute-force output size, or None where the arguments are out of their domain."""
    i, k, d = case["i"], case["k"], case["d"]
    s = k if pool and case["stride_none"] else case["s"]
    if min(i, k, s, d) < 1:
        return None
    p = case["padding"]
    if not isinstance(p, str) and min(p if isinstance(p, tuple) else (p,)) < 0:
        return None
    before, after = brute_padding(p, i, k, s, d)
    reach = d * (k - 1) + 1
    if i + before + after < reach:
        return None
    return count_pool_windows(i, before, after, reach, s, pool and case["ceil_mode"])


@given(case=shape_cases())
def test_conv_output_size_counts_windows(case):
    want = expected_size(case, pool=False)
    args = (case["i"], case["k"], case["s"], case["padding"], case["d"])
    got, err = outcome(lambda: shapes.conv_output_size(*args))
    if want is None:
        assert isinstance(err, ValueError) and str(err).startswith("conv_output_size:"), (case, err)
    else:
        assert err is None and got == want and type(got) is int, (case, got, want, err)


@given(case=shape_cases())
# ceil_mode gave fewer windows than floor mode (2 instead of 3) when a padding of more than half
# the kernel left a full window in the trailing padding.
@example(case=dict(i=1, k=1, s=0, d=1, padding=1, ceil_mode=True, stride_none=True))
def test_pool_output_size_counts_windows(case):
    want = expected_size(case, pool=True)
    stride = None if case["stride_none"] else case["s"]
    got, err = outcome(lambda: shapes.pool_output_size(
        case["i"], case["k"], stride, case["padding"], case["d"], case["ceil_mode"]))
    if want is None:
        assert isinstance(err, ValueError) and str(err).startswith("pool_output_size:"), (case, err)
    else:
        assert err is None and got == want, (case, got, want, err)


@given(case=shape_cases())
def test_resolve_padding_matches_definitions(case):
    i, k, s, d, p = case["i"], case["k"], case["s"], case["d"], case["padding"]
    got, err = outcome(lambda: shapes.resolve_padding(p, i, k, s, d))
    bad_pad = not isinstance(p, str) and min(p if isinstance(p, tuple) else (p,)) < 0
    if min(i, k, s, d) < 1 or bad_pad:
        assert isinstance(err, ValueError) and str(err).startswith("resolve_padding:"), (case, err)
        return
    assert err is None and got == brute_padding(p, i, k, s, d), (case, got)
    if p == "same":  # the point of 'same': ceil(i / s) outputs
        assert shapes.conv_output_size(i, k, s, p, d) == -(-i // s)
