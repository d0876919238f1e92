"""NaN and infinity: NaN propagates through convolution and pooling wherever it sits (every
position, every SIMD lane and tile edge of every fast path, every dispatch level); infinities give
the IEEE results; an all -inf window gives -inf; ELU(-inf) = -alpha, leaky_relu(-inf) = -inf,
relu(NaN) = NaN.

The sweeps put one special value per sample: sample i of a batch holds it at flat position i, so
one call checks every position. Expected NaN masks come from the windows' coverage (an indicator
array through the NumPy reference), values from the float64 reference."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import reference

from conftest import assert_close

rng = np.random.default_rng(606)


@pytest.fixture(autouse=True)
def quiet_ieee_one_thread():
    """inf - inf and inf * 0 are the point here: NumPy's warnings about them are not errors. One
    thread: thousands of small calls, and results do not depend on the thread count
    (test_threads.py), so neither does where a NaN goes."""
    before = cc.get_num_threads()
    cc.set_num_threads(1)
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            yield
    finally:
        cc.set_num_threads(before)


def finite_abs(a):
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), np.abs(a), 0.0)

# Convolutions, one per fast path: (id, nd, x shape (C, spatial...), w shape, keyword arguments,
# dtype). GEMM: float32, c_out/groups >= 8 (panels of 16, tiles of 6 pixels); plane: one input
# channel per group, < 8 filters per group, row stride 1; direct: the rest (and float64, 3-D).
CONV_PATHS = [
    ("gemm16-valid", 2, (3, 9, 13), (16, 3, 3, 3), {}, np.float32),
    ("gemm32-pad1", 2, (3, 9, 13), (32, 3, 3, 3), dict(padding=1), np.float32),
    ("gemm64-pad2-stride2", 2, (2, 11, 14), (64, 2, 5, 5), dict(padding=2, stride=2), np.float32),
    ("gemm24-same-dil2", 2, (3, 9, 13), (24, 3, 3, 3), dict(padding="same", dilation=2), np.float32),
    ("gemm-1x1", 2, (4, 7, 15), (16, 4, 1, 1), {}, np.float32),
    ("gemm-grouped", 2, (4, 7, 9), (16, 2, 3, 3), dict(padding=1, groups=2), np.float32),
    ("plane-depthwise", 2, (8, 9, 13), (8, 1, 3, 3), dict(padding=1, groups=8), np.float32),
    ("plane-multiplier2-dil2", 2, (4, 9, 13), (8, 1, 3, 3), dict(padding=2, dilation=2, groups=4),
     np.float32),
    ("plane-float64", 2, (2, 9, 13), (2, 1, 3, 5), dict(padding="full", groups=2), np.float64),
    ("direct-few-filters", 2, (3, 9, 13), (4, 3, 3, 3), dict(padding=1, stride=2), np.float32),
    ("direct-float64", 2, (3, 9, 13), (16, 3, 3, 3), dict(padding=1), np.float64),
    ("conv1d-gemm", 1, (3, 40), (16, 3, 5), dict(padding=2), np.float32),
    ("conv1d-stride3", 1, (2, 40), (32, 2, 4), dict(stride=3, padding="same"), np.float32),
    ("conv1d-depthwise", 1, (4, 40), (4, 1, 7), dict(padding=3, groups=4), np.float32),
    ("conv3d", 3, (2, 4, 5, 6), (8, 2, 3, 3, 3), dict(padding=1), np.float32),
]
CONV = {1: cc.conv1d, 2: cc.conv2d, 3: cc.conv3d}
REF = {1: reference.conv1d, 2: reference.conv2d, 3: reference.conv3d}


def nonzero_ints(shape, dtype):
    """Small integers, never zero: sums are exact and no product is 0 * inf."""
    v = rng.integers(1, 4, shape) * rng.choice([-1, 1], shape)
    return v.astype(dtype)


def one_special_per_sample(shape, value, dtype, fill="ints"):
    """A batch (positions, *shape): sample i holds `value` at flat position i; elsewhere random
    small nonzero integers ('ints'), normal values ('normal') or the number `fill`."""
    count = int(np.prod(shape))
    if fill == "ints":
        x = nonzero_ints((count,) + shape, dtype)
    elif fill == "normal":
        x = rng.standard_normal((count,) + shape).astype(dtype)
    else:
        x = np.full((count,) + shape, fill, dtype)
    flat = x.reshape(count, count)
    flat[np.arange(count), np.arange(count)] = value
    return x


def covered(x, ref_fn, w_shape, kw):
    """Outputs whose window covers a non-finite input: the conv of isfinite's complement with a
    kernel of ones (float64 reference, exact on 0/1 data)."""
    ind = (~np.isfinite(x)).astype(np.float64)
    return ref_fn(ind, np.ones(w_shape), **kw) > 0


@pytest.mark.parametrize("path", CONV_PATHS, ids=[p[0] for p in CONV_PATHS])
@pytest.mark.parametrize("value", [np.nan, np.inf, "inf-pair"])
def test_conv_special_input_at_every_position(simd, path, value):
    _, nd, xs, ws, kw, dtype = path
    w = nonzero_ints(ws, dtype)
    if value == "inf-pair":
        # +inf at position i, -inf at i + 1: windows covering both give inf - inf = NaN when the
        # two weights have the same sign, +-inf otherwise.
        x = one_special_per_sample(xs, np.inf, dtype)
        flat = x.reshape(len(x), -1)
        idx = np.arange(len(x) - 1)
        flat[idx, idx + 1] = -np.inf
    else:
        x = one_special_per_sample(xs, value, dtype)
    y = CONV[nd](x, w, **kw)
    ref = REF[nd](x.astype(np.float64), w.astype(np.float64), **kw)
    mask = covered(x, REF[nd], ws, kw)
    # The definition first: every output whose window covers the special value is non-finite,
    # every other output is finite (and a NaN input gives NaN).
    assert np.array_equal(~np.isfinite(y), mask), f"{path[0]}: non-finite outputs misplaced"
    if value is np.nan or (isinstance(value, float) and np.isnan(value)):
        assert np.array_equal(np.isnan(y), mask)
    # Then the values: NaN where the reference has NaN, the same infinities, exact sums elsewhere.
    # Integer data: every finite output is exact (the tolerance argument goes unused).
    assert_close(y, ref, ref, int(np.prod(ws[1:])) + 1, "int-float32", path[0])


@pytest.mark.parametrize("path", CONV_PATHS, ids=[p[0] for p in CONV_PATHS])
def test_conv_nan_weight_at_every_tap_and_filter(simd, path):
    # A NaN weight poisons every output of its filter (NaN times an input element, or times the
    # zero padding: 0 * NaN = NaN, as the reference computes on a zero-padded copy); the other
    # filters stay finite. The fast kernels skip taps in the padding, so weights that are not all
    # finite take the literal kernel: same answer on every path and at every SIMD level.
    name, nd, xs, ws, kw, dtype = path
    x = nonzero_ints((2,) + xs, dtype)
    w0 = nonzero_ints(ws, dtype)
    taps = list(np.ndindex(*ws[2:]))
    # Every filter (every lane of the 16-wide panels), every tap and every channel of a group,
    # each at least once: filter f takes tap f and channel f (mod their counts), then every tap
    # again on the first and the last filter.
    spots = [(f, f % ws[1], taps[f % len(taps)]) for f in range(ws[0])]
    spots += [(f, c, tap) for f in (0, ws[0] - 1) for c in {0, ws[1] - 1} for tap in taps]
    for f, c, tap in spots:
        w = w0.copy()
        w[(f, c) + tap] = np.nan
        y = CONV[nd](x, w, **kw)
        assert np.isfinite(np.delete(y, f, axis=1)).all(), (name, f, c, tap)
        assert np.isnan(y[:, f]).all(), (name, f, c, tap)
        want = REF[nd](x.astype(np.float64), w.astype(np.float64), **kw)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(want))


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_inf_weight_meets_the_padding_as_the_reference(simd, nd):
    # An infinite weight: inf * 0 = NaN in the padding, +-inf on the input, as the reference.
    x = np.abs(nonzero_ints((2, 3) + (9,) * nd, np.float32))
    w = np.abs(nonzero_ints((16, 3) + (3,) * nd, np.float32))
    w[(5, 1) + (0,) * nd] = np.inf
    y = CONV[nd](x, w, padding=1)
    want = REF[nd](x.astype(np.float64), w.astype(np.float64), padding=1)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(want))
    assert np.isnan(y).any() and np.isinf(y).any()


SIGNAL_SHAPES = [((40,), (5,)), ((40,), (4,)), ((9, 13), (3, 3)), ((9, 13), (2, 4))]


@pytest.mark.parametrize("xs, ws", SIGNAL_SHAPES)
@pytest.mark.parametrize("fname", ["correlate", "convolve"])
def test_signal_nan_at_every_position(simd, xs, ws, fname):
    w = nonzero_ints(ws, np.float32)
    f, r = getattr(cc, fname), getattr(reference, fname)
    for mode in ("valid", "same", "full"):
        for pos in np.ndindex(*xs):
            for value in (np.nan, np.inf):
                x = nonzero_ints(xs, np.float32)
                x[pos] = value
                y = f(x, w, mode)
                ref = r(x.astype(np.float64), w.astype(np.float64), mode)
                ind = r(np.isnan(x) | np.isinf(x), np.ones(ws), mode) > 0
                assert np.array_equal(~np.isfinite(y), ind), (fname, mode, pos, value)
                assert_close(y, ref, np.abs(ref), w.size + 1, "int-float32",
                             f"{fname} {mode} {pos} {value}")


_BORDER_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "wrap": "wrap"}


def _filter2d_ref(img, k, border):
    """float64 filter2d by its definition: the image extended by the border rule, then windows."""
    kh, kw = k.shape
    pads = ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2))
    if img.ndim == 3:
        pads = pads + ((0, 0),)
    padded = np.pad(img.astype(np.float64), pads, mode=_BORDER_MODES[border])
    win = np.lib.stride_tricks.sliding_window_view(padded, k.shape, axis=(0, 1))
    return np.einsum("ij...ab,ab->ij...", win, k.astype(np.float64))


@pytest.mark.parametrize("border", list(_BORDER_MODES))
@pytest.mark.parametrize("shape", [(7, 11), (5, 9, 3)])
def test_filter2d_nan_at_every_position(simd, border, shape):
    k = nonzero_ints((3, 5), np.float32)
    for pos in np.ndindex(*shape):
        img = nonzero_ints(shape, np.float32)
        img[pos] = np.nan
        y = cc.filter2d(img, k, border=border)
        ref = _filter2d_ref(img, k, border)
        assert np.array_equal(np.isnan(y), np.isnan(ref)), (border, shape, pos)
        assert np.isnan(ref).any()
        ok = ~np.isnan(ref)
        np.testing.assert_array_equal(y[ok], ref[ok].astype(np.float32))


# ----------------------------------------------------------------------------------------------
# Pooling


POOL_CONFIGS = [
    (1, (37,), dict(kernel_size=3, stride=1, padding=1)),
    (1, (40,), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
    (1, (33,), dict(kernel_size=2, stride=1, dilation=3)),
    (1, (41,), dict(kernel_size=5, stride=2, padding="same")),
    (2, (5, 37), dict(kernel_size=3, stride=2, padding=1)),
    (2, (6, 33), dict(kernel_size=(2, 3), stride=(1, 2))),
    (2, (5, 19), dict(kernel_size=3, stride=1, padding=1, ceil_mode=True)),
    (2, (7, 20), dict(kernel_size=2, stride=1, dilation=2)),
    (2, (4, 17), dict(kernel_size=2)),
    (3, (4, 5, 6), dict(kernel_size=2, stride=1)),
    (3, (5, 4, 7), dict(kernel_size=3, stride=2, padding=1)),
]


def _pool(kind, nd):
    return getattr(cc, f"{kind}_pool{nd}d"), getattr(reference, f"{kind}_pool{nd}d")


def _pool_kwargs(kind, kw):
    return {k: v for k, v in kw.items() if kind == "max" or k != "dilation"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", POOL_CONFIGS, ids=[f"{c[0]}d-{i}" for i, c in
                                                     enumerate(POOL_CONFIGS)])
def test_max_pool_nan_at_every_window_position(simd, config, dtype):
    nd, spatial, kw = config
    f, r = _pool("max", nd)
    x = one_special_per_sample((1,) + spatial, np.nan, dtype, fill="normal")
    y = f(x, **kw)
    ref = r(x.astype(np.float64), **kw)
    mask = r(np.isnan(x).astype(np.float64), **kw) > 0  # windows holding the NaN
    assert mask.any(axis=tuple(range(1, mask.ndim))).sum() > 0
    assert np.array_equal(np.isnan(y), mask), f"{nd}-D {kw}: NaN lost or misplaced"
    np.testing.assert_array_equal(y, ref.astype(dtype))
    # The NaN stays NaN whatever sits with it: -inf, +inf, or only -inf around it.
    for fill in (-np.inf, np.inf):
        x2 = one_special_per_sample((1,) + spatial, np.nan, dtype, fill=fill)
        y2 = f(x2, **kw)
        assert np.array_equal(np.isnan(y2), mask)
        assert (y2[~mask] == fill).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", POOL_CONFIGS, ids=[f"{c[0]}d-{i}" for i, c in
                                                     enumerate(POOL_CONFIGS)])
def test_max_pool_all_minus_inf_windows(simd, config, dtype):
    nd, spatial, kw = config
    f, r = _pool("max", nd)
    x = np.full((2, 3) + spatial, -np.inf, dtype)
    y = f(x, **kw)
    assert y.size and (y == -np.inf).all()
    # One finite value: exactly the windows holding it take it, the rest stay -inf.
    x = one_special_per_sample((1,) + spatial, 2.5, dtype, fill=-np.inf)
    y = f(x, **kw)
    np.testing.assert_array_equal(y, r(x.astype(np.float64), **kw).astype(dtype))
    assert set(np.unique(y)) <= {2.5, -np.inf}


AVG_CONFIGS = [c for c in POOL_CONFIGS if "dilation" not in c[2]]  # no dilation there


@pytest.mark.parametrize("kind", ["avg", "sum"])
@pytest.mark.parametrize("config", AVG_CONFIGS, ids=[f"{c[0]}d-{i}" for i, c in
                                                    enumerate(AVG_CONFIGS)])
def test_avg_and_sum_pool_specials(simd, config, kind):
    nd, spatial, kw = config
    f, r = _pool(kind, nd)
    for value in (np.nan, np.inf, "inf-pair"):
        x = one_special_per_sample((1,) + spatial, np.inf if value == "inf-pair" else value,
                                   np.float32)
        if value == "inf-pair":
            flat = x.reshape(len(x), -1)
            idx = np.arange(len(x) - 1)
            flat[idx, idx + 1] = -np.inf  # inf - inf = NaN in windows holding both
        y = f(x, **kw)
        ref = r(x.astype(np.float64), **kw)
        mask = r((~np.isfinite(x)).astype(np.float64), **kw) > 0
        assert np.array_equal(~np.isfinite(y), mask), (kind, kw, value)
        assert_close(y, ref, r(finite_abs(x), **kw),
                     int(np.prod(np.broadcast_to(kw["kernel_size"], (nd,)))), "float",
                     f"{kind} {kw} {value}")


# ----------------------------------------------------------------------------------------------
# Activations: every special value at every position of arrays of length 1..40 (every SIMD lane
# and tail), aligned and one element off, float32 and float64


SPECIALS = {
    "relu": (lambda x: cc.relu(x), {np.nan: np.nan, -np.inf: 0.0, np.inf: np.inf}),
    "leaky_relu": (lambda x: cc.leaky_relu(x, 0.01), {np.nan: np.nan, -np.inf: -np.inf,
                                                      np.inf: np.inf}),
    "leaky_relu-0.5": (lambda x: cc.leaky_relu(x, 0.5), {np.nan: np.nan, -np.inf: -np.inf,
                                                         np.inf: np.inf}),
    "elu": (lambda x: cc.elu(x), {np.nan: np.nan, -np.inf: -1.0, np.inf: np.inf}),
    "elu-alpha0.5": (lambda x: cc.elu(x, 0.5), {np.nan: np.nan, -np.inf: -0.5, np.inf: np.inf}),
    "elu-alpha3": (lambda x: cc.elu(x, 3.0), {np.nan: np.nan, -np.inf: -3.0, np.inf: np.inf}),
}
FINITE = {
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "leaky_relu-0.5": lambda z: np.where(z > 0, z, 0.5 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
    "elu-alpha0.5": lambda z: np.where(z > 0, z, 0.5 * np.expm1(z)),
    "elu-alpha3": lambda z: np.where(z > 0, z, 3.0 * np.expm1(z)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", list(SPECIALS))
def test_activation_specials_in_every_lane(simd, act, dtype):
    f, table = SPECIALS[act]
    base = rng.uniform(-3, 3, 48).astype(dtype)
    want_base = FINITE[act](base.astype(np.float64))
    tol = 8 * float(np.finfo(dtype).eps)
    for special, want in table.items():
        for n in range(1, 41):
            for offset in (0, 1):
                buf = base[:n + offset].copy()
                x = buf[offset:]  # contiguous; one element off the allocation's alignment
                ys = np.empty((n, n), dtype)
                for i in range(n):
                    x[i] = special
                    y = f(x)
                    assert y.dtype == dtype and y.shape == (n,)
                    ys[i] = y
                    x[i] = base[offset + i]
                diag = ys[np.arange(n), np.arange(n)]
                where = f"{act} {np.dtype(dtype).name} {special} n={n} offset={offset}"
                if np.isnan(want):
                    assert np.isnan(diag).all(), (where, diag)
                else:
                    assert (diag == want).all(), (where, diag)
                rest = ys[~np.eye(n, dtype=bool)].reshape(n, n - 1).astype(np.float64)
                expect = np.broadcast_to(want_base[offset:offset + n], (n, n))[
                    ~np.eye(n, dtype=bool)].reshape(n, n - 1)
                assert (np.abs(rest - expect) <= tol * np.abs(expect)).all(), where
