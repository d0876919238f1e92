"""Non-contiguous, reversed, Fortran-ordered, read-only, byte-swapped and unaligned inputs give
results identical to a contiguous native copy; no input is ever modified; outputs are new
C-contiguous arrays."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import reference as ref


def variants(a):
    """(name, array equal in value to `a` but laid out differently)."""
    yield "sliced", np.repeat(a, 2, axis=-1)[..., ::2]
    yield "reversed", np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    yield "fortran", np.asfortranarray(a)
    ro = a.copy()
    ro.setflags(write=False)
    yield "read-only", ro
    yield "byte-swapped", a.astype(a.dtype.newbyteorder())
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    unaligned = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    unaligned = unaligned.view()
    np.copyto(np.frombuffer(buf.data, dtype=np.uint8, count=a.nbytes, offset=1).view(a.dtype).reshape(a.shape), a)
    yield "unaligned", unaligned
    yield "transposed-twice", np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2) if a.ndim >= 2 else a.copy()


rng = np.random.default_rng(4)
X = rng.standard_normal((2, 4, 9, 11)).astype(np.float32)
W = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
B = rng.standard_normal(6).astype(np.float32)
S1 = rng.standard_normal(40)
S2 = rng.standard_normal((4,))

OPS = {
    "conv2d-x": (lambda x: cc.conv2d(x, W, B, padding=1, groups=2), X),
    "conv2d-w": (lambda w: cc.conv2d(X, w, B, stride=2, groups=2), W),
    "conv2d-bias": (lambda b: cc.conv2d(X, W, b, groups=2), B),
    "conv1d": (lambda x: cc.conv1d(x, W[:, :, 0], padding="same", groups=2), X[:, :, 0]),
    "conv3d": (lambda x: cc.conv3d(x, W[:, :, None], padding=(0, 1, 1), groups=2), X[:, :, None].repeat(3, 2)),
    "max_pool2d": (lambda x: cc.max_pool2d(x, 3, 2, 1), X),
    "avg_pool2d": (lambda x: cc.avg_pool2d(x, 3, 2, 1, ceil_mode=True), X),
    "sum_pool1d": (lambda x: cc.sum_pool1d(x, 2), X[0]),
    "relu": (cc.relu, X),
    "leaky_relu": (lambda x: cc.leaky_relu(x, 0.2), X),
    "elu": (cc.elu, X),
    "correlate": (lambda x: cc.correlate(x, S2, "same"), S1),
    "convolve-2d": (lambda x: cc.convolve(x, X[0, 0, :3, :2], "full"), X[0, 0]),
}


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layouts_give_identical_results(op, dtype):
    f, base = OPS[op]
    base = base.astype(dtype)
    want = f(np.ascontiguousarray(base))
    assert want.flags.c_contiguous and not np.shares_memory(want, base)
    for name, v in variants(base):
        assert np.array_equal(v, base)
        before = v.copy()
        got = f(v)
        assert got.dtype == want.dtype, name
        assert np.array_equal(got, want, equal_nan=True), f"{op}: {name} differs"
        assert got.flags.c_contiguous, name
        assert np.array_equal(v, before), f"{op}: {name} input was modified"


def test_output_never_aliases_input():
    x = np.ones((1, 1, 4), dtype=np.float32)
    for f in (cc.relu, lambda a: cc.conv1d(a, np.ones((1, 1, 1), np.float32)), lambda a: cc.max_pool1d(a, 1)):
        y = f(x)
        assert not np.shares_memory(x, y)
        y[...] = 5
        assert (x == 1).all()


def test_lists_and_scalars_are_accepted():
    assert cc.relu(-3) == 0 and cc.relu(2.5) == 2.5
    assert cc.relu(np.float32(-1)).shape == ()
    np.testing.assert_array_equal(cc.conv1d([[1, 2, 3]], [[[1]]]), [[1, 2, 3]])


@pytest.mark.parametrize(
    "dtypes, want",
    [
        ((np.uint8, np.uint8), np.float32),
        ((np.int64, np.float32), np.float64),
        ((np.int16, np.float32), np.float32),
        ((np.float16, np.float16), np.float32),
        ((np.float32, np.float64), np.float64),
        ((np.bool_, np.float32), np.float32),
        ((np.longdouble, np.float32), np.longdouble),
    ],
)
def test_result_dtype_policy(dtypes, want):
    x = np.ones((1, 3, 3), dtype=dtypes[0])
    w = np.ones((1, 1, 2, 2), dtype=dtypes[1])
    y = cc.conv2d(x, w)
    assert y.dtype == want
    np.testing.assert_array_equal(y, 4)
    assert cc.relu(x).dtype == np.result_type(dtypes[0], np.float32)


def test_empty_batch_gives_empty_result():
    assert cc.conv2d(np.ones((0, 3, 5, 5)), np.ones((2, 3, 3, 3))).shape == (0, 2, 3, 3)
    assert cc.max_pool2d(np.ones((0, 3, 4, 4)), 2).shape == (0, 3, 2, 2)
    assert cc.relu(np.ones((0, 3))).shape == (0, 3)


def test_repeat_call_cache_never_changes_the_answer():
    # The second call with the same shapes takes the cached fast path; other layouts, dtypes and
    # argument types must still get the full checks and the same results.
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 9)).astype(np.float32)
    w = np.random.default_rng(3).standard_normal((4, 3, 3, 3)).astype(np.float32)
    first = cc.conv2d(x, w, padding=1)
    np.testing.assert_array_equal(cc.conv2d(x, w, padding=1), first)
    for name, v in variants(x):
        np.testing.assert_array_equal(cc.conv2d(v, w, padding=1), first, err_msg=name)
    with pytest.raises(TypeError, match="conv2d: padding must be an integer"):
        cc.conv2d(x, w, padding=1.0)
    with pytest.raises(TypeError, match="conv2d: stride must be an integer"):
        cc.conv2d(x, w, padding=1, stride=True)
    # The same parameter objects again are found by identity: still the same answers, and a new
    # object of equal value but another type (1.0 == 1, True == 1) still gets its TypeError.
    pad, stride = (1, 1), (1, 1)
    for _ in range(3):
        np.testing.assert_array_equal(cc.conv2d(x, w, padding=pad, stride=stride), first)
    np.testing.assert_array_equal(cc.conv2d(x, w, padding=pad, stride=(1, 2)), first[..., ::2])
    with pytest.raises(TypeError, match="conv2d: padding must be an integer"):
        cc.conv2d(x, w, padding=(1.0, 1), stride=stride)
    with pytest.raises(TypeError, match="conv2d: stride must be an integer"):
        cc.conv2d(x, w, padding=pad, stride=(True, 1))
    unbatched = cc.conv2d(x[0], w, padding=1)
    np.testing.assert_array_equal(cc.conv2d(x[0], w, padding=1), unbatched)
    np.testing.assert_array_equal(unbatched, first[0])
    np.testing.assert_array_equal(cc.relu(x), cc.relu(x.astype(">f4")))


def test_identity_cache_in_the_core():
    # Repeat calls with the very same parameter objects run from a plan the core remembered (64
    # entries, replaced round robin). Each hit must match the call's dtype, shapes and kind of
    # array; anything else takes the full path with its checks and its own answer.
    from cnncore import _core

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    pad = (1, 2)
    want = ref.conv2d(x, w, b, padding=pad)
    for _ in range(3):
        np.testing.assert_allclose(cc.conv2d(x, w, b, padding=pad), want, rtol=1e-5, atol=1e-5)
    # The same parameter objects with float64 arrays: float64 out, not the float32 plan.
    y64 = cc.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), padding=pad)
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y64, want, rtol=1e-5, atol=1e-5)
    assert cc.conv2d(x, w, b, padding=pad).dtype == np.float32
    # Mixed dtypes, no bias, another batch size, a subclass: each its own answer.
    assert cc.conv2d(x, w.astype(np.float64), b, padding=pad).dtype == np.float64
    np.testing.assert_allclose(cc.conv2d(x, w, None, padding=pad),
                               ref.conv2d(x, w, None, padding=pad), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cc.conv2d(x[:1], w, b, padding=pad), want[:1], rtol=1e-5,
                               atol=1e-5)

    class Sub(np.ndarray):
        pass

    y_sub = cc.conv2d(x.view(Sub), w, b, padding=pad)
    assert type(y_sub) is np.ndarray
    np.testing.assert_allclose(y_sub, want, rtol=1e-5, atol=1e-5)
    # A bad bias shape after a good call with the same objects is still refused.
    with pytest.raises(ValueError, match="bias"):
        cc.conv2d(x, w, b[:3], padding=pad)
    # Parameter tuples made afresh each call (their ids may be reused once freed): every call
    # gets the answer of its own values, through more calls than the cache holds.
    for i in range(150):
        p = (i % 3, (i // 3) % 2)
        np.testing.assert_allclose(cc.conv2d(x, w, padding=tuple(list(p))),
                                   ref.conv2d(x, w, padding=p), rtol=1e-5, atol=1e-5,
                                   err_msg=str(p))
    # 1-D and 3-D share the cache: the same objects, another rank.
    np.testing.assert_allclose(cc.conv1d(x[:, :, 0], w[:, :, 0], padding=1),
                               ref.conv1d(x[:, :, 0], w[:, :, 0], padding=1), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(TypeError, match="8 arguments"):
        _core.conv_cached(2, x, w)
    assert _core.conv_cached(2, x, w, b, 1, object(), 1, 1) is None  # never remembered
    _core.conv_forget()
    np.testing.assert_allclose(cc.conv2d(x, w, b, padding=pad), want, rtol=1e-5, atol=1e-5)
