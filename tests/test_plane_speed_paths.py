"""The plane filter's regions: interior read in place, edge columns gathered or masked.

plane_filter reads the columns whose windows lie inside the input in place, in whole vectors, and
only the left and right edge columns through per-thread strips (under the zeros border the AVX2
kernel reads those in place too, masked). Widths 1..40 put the boundary between the regions
everywhere in and around a vector; with integer data every sum is exact, so every dispatch level
must agree bitwise with a float64 reference. With random data, the result must not depend on the
thread count (which decides the tiles: bands of rows, chunks of columns).
"""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import _core
from cnncore import reference as ref

NP_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "wrap": "wrap"}


def _filter2d_ref(x, k, border):
    """filter2d in float64 by numpy.pad: the kernel's centre at (k_h // 2, k_w // 2); an RGBA
    image's alpha passed through."""
    kh, kw = k.shape
    img = x.reshape(x.shape[0], x.shape[1], -1).astype(np.float64)
    pad = ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0))
    p = np.pad(img, pad, mode=NP_MODE[border])
    out = np.zeros_like(img)
    for a in range(kh):
        for b in range(kw):
            out += k[a, b] * p[a:a + img.shape[0], b:b + img.shape[1]]
    if x.ndim == 3 and x.shape[2] == 4:
        out[..., 3] = img[..., 3]
    return out.reshape(x.shape)


def _levels(fn):
    """fn() at every dispatch level, restoring the default."""
    before = _core.simd_level()
    try:
        out = {}
        for level in _core.simd_levels():
            _core.set_simd_level(level)
            out[level] = fn()
        return out
    finally:
        _core.set_simd_level(before)


def _ints(rng, shape):
    return rng.integers(-4, 5, shape).astype(np.float32)


@pytest.mark.parametrize("chan", [1, 3, 4])
@pytest.mark.parametrize("border", list(NP_MODE))
def test_filter2d_every_width(chan, border):
    rng = np.random.default_rng(chan * 10 + len(border))
    for width in range(1, 41):
        for height, (kh, kw) in [(1, (3, 3)), (6, (3, 3)), (9, (5, 5)), (4, (1, 7)), (5, (2, 4)),
                                 (3, (7, 2))]:
            shape = (height, width) if chan == 1 else (height, width, chan)
            x, k = _ints(rng, shape), _ints(rng, (kh, kw))
            want = _filter2d_ref(x, k, border).astype(np.float32)
            for level, y in _levels(lambda: cc.filter2d(x, k, border=border)).items():
                assert y.tobytes() == want.tobytes(), (level, shape, (kh, kw), border)


@pytest.mark.parametrize("k, pad, dil, stride", [
    (3, 1, 1, 1), (3, 0, 1, 1), (3, 2, 1, 1), (3, 4, 1, 1), (5, 2, 1, 1), (3, 2, 2, 1),
    (2, 1, 3, 1), (3, 1, 1, 2), (1, 3, 1, 1), (7, 3, 1, 1)])
def test_depthwise_every_width(k, pad, dil, stride):
    rng = np.random.default_rng(k * 100 + pad * 10 + dil)
    for width in range(1, 41):
        for height in (1, 7):
            if (height + 2 * pad - dil * (k - 1) - 1 < 0
                    or width + 2 * pad - dil * (k - 1) - 1 < 0):
                continue
            x = _ints(rng, (2, 3, height, width))
            w = _ints(rng, (6, 1, k, k))  # multiplier 2: two kernels per input plane
            b = _ints(rng, 6) if width % 2 else None
            kw = dict(stride=stride, padding=pad, dilation=dil, groups=3)
            want = np.asarray(ref.conv2d(x, w, b, **kw))
            for level, y in _levels(lambda: cc.conv2d(x, w, b, **kw)).items():
                assert y.tobytes() == want.tobytes(), (level, width, height)


def test_signal_chunks_and_edges():
    rng = np.random.default_rng(7)
    for length in (1, 7, 8, 9, 31, 33, 1000, 70_001):
        for taps in (1, 3, 8, 31):
            x, w = _ints(rng, length), _ints(rng, taps)
            for mode in ("valid", "same", "full"):
                if mode == "valid" and taps > length:
                    continue
                want = np.asarray(ref.correlate(x, w, mode))
                for level, y in _levels(lambda: cc.correlate(x, w, mode)).items():
                    assert y.tobytes() == want.tobytes(), (level, length, taps, mode)


def test_zeros_border_edges_propagate_non_finite():
    # The masked edge loads read the pixels inside the row as they are: an infinity in the first
    # or last column reaches exactly the outputs whose windows hold it, with the padding's zeros
    # multiplied as usual (0 * w, never 0 * inf: the padding is the only zero).
    x = np.ones((1, 1, 6, 21), np.float32)
    x[0, 0, 2, 0] = np.inf
    x[0, 0, 4, -1] = -np.inf
    x[0, 0, 0, 10] = np.nan
    w = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3) - 5  # a zero weight in the middle
    want = np.asarray(ref.conv2d(x, w, padding=1))
    for level, y in _levels(lambda: cc.conv2d(x, w, padding=1)).items():
        np.testing.assert_array_equal(y, want, err_msg=level)


@pytest.mark.parametrize("case", ["depthwise", "wide_rgb", "tall", "signal"])
def test_bitwise_independent_of_threads(case):
    rng = np.random.default_rng(11)
    if case == "depthwise":
        x = rng.standard_normal((1, 3, 37, 29)).astype(np.float32)
        w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
        run = lambda: cc.conv2d(x, w, padding=1, groups=3)  # noqa: E731
    elif case == "wide_rgb":
        x = rng.standard_normal((19, 1000, 3)).astype(np.float32)
        k = rng.standard_normal((3, 3)).astype(np.float32)
        run = lambda: cc.filter2d(x, k, border="reflect")  # noqa: E731
    elif case == "tall":
        x = rng.standard_normal((300, 45)).astype(np.float32)
        k = rng.standard_normal((5, 5)).astype(np.float32)
        run = lambda: cc.filter2d(x, k, border="zeros")  # noqa: E731
    else:
        x = rng.standard_normal(300_001).astype(np.float32)
        k = rng.standard_normal(31).astype(np.float32)
        run = lambda: cc.correlate(x, k, "same")  # noqa: E731
    before = cc.get_num_threads()
    try:
        out = []
        for threads in (1, 2, 3):
            cc.set_num_threads(threads)
            out.append(_levels(run))
    finally:
        cc.set_num_threads(before)
    for level in out[0]:
        for other in out[1:]:
            assert other[level].tobytes() == out[0][level].tobytes(), level
