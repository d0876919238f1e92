"""The fast kernels at their edges: channel counts around the 16-wide panels, pixel counts around
the 6-pixel tiles, bands of rows, padded and unpadded inputs, every dispatch level."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import reference

from conftest import assert_close

rng = np.random.default_rng(123)


def _check(x, w, b, **kw):
    y = cc.conv2d(x, w, b, **kw) if x.ndim == 4 else cc.conv1d(x, w, b, **kw)
    ref = reference.conv2d if x.ndim == 4 else reference.conv1d
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    r = ref(x64, w64, None if b is None else b.astype(np.float64), **kw)
    r_abs = ref(np.abs(x64), np.abs(w64), None if b is None else np.abs(b.astype(np.float64)), **kw)
    kind = "int-float32" if np.all(np.round(x) == x) and np.all(np.round(w) == w) else "float"
    assert_close(y, r, r_abs, w.shape[1] * int(np.prod(w.shape[2:])) + 1, kind, str(kw))


@pytest.mark.parametrize("c_out", [8, 15, 16, 17, 31, 32, 33, 48])
@pytest.mark.parametrize("c_in", [1, 3, 8, 17])
def test_panel_edges(simd, c_out, c_in):
    for h, w_ in [(1, 1), (1, 5), (1, 6), (1, 7), (2, 6), (3, 5), (5, 13), (7, 7)]:
        x = rng.integers(-4, 5, (2, c_in, h + 2, w_ + 2)).astype(np.float32)
        w = rng.integers(-4, 5, (c_out, c_in, 3, 3)).astype(np.float32)
        b = rng.integers(-4, 5, c_out).astype(np.float32)
        _check(x, w, b)                        # no padding: reads straight from the input
        _check(x, w, None, padding=1)          # padded: through the per-band strip
        _check(x, w, b, padding=((0, 1), (2, 0)), stride=(2, 1))


@pytest.mark.parametrize(
    "shape, k, kw",
    [
        ((1, 5, 40, 37), 3, dict(padding=1)),
        ((1, 4, 64, 9), 5, dict(padding="same", dilation=2)),
        ((3, 6, 23, 29), 4, dict(stride=3, padding="full")),
        ((1, 16, 57, 57), 7, dict(stride=2, padding=3)),
        ((2, 6, 31, 30), 2, dict(padding="same", groups=2)),
        ((1, 9, 1, 300), 9, dict(padding=(0, 4))),
    ],
)
def test_bands_and_strides(simd, shape, k, kw):
    groups = kw.get("groups", 1)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((24, shape[1] // groups, k if shape[2] > 1 else 1, k)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    before = cc.get_num_threads()
    try:
        for threads in (1, 2):
            cc.set_num_threads(threads)
            _check(x, w, b, **kw)
    finally:
        cc.set_num_threads(before)


def test_conv1d_fast_path(simd):
    x = rng.standard_normal((3, 12, 200)).astype(np.float32)
    w = rng.standard_normal((20, 12, 9)).astype(np.float32)
    _check(x, w, None, padding=4)
    _check(x, w, None, stride=3, dilation=2)


def test_levels_agree_closely():
    # The generic and SIMD paths round differently (other summation order or FMA), never by more
    # than the float32 bound; on integer data they agree exactly.
    from cnncore import _core

    x = rng.integers(-8, 9, (2, 16, 20, 20)).astype(np.float32)
    w = rng.integers(-8, 9, (32, 16, 3, 3)).astype(np.float32)
    before = _core.simd_level()
    try:
        out = {}
        for level in _core.simd_levels():
            _core.set_simd_level(level)
            out[level] = cc.conv2d(x, w, padding=1)
    finally:
        _core.set_simd_level(before)
    for y in out.values():
        np.testing.assert_array_equal(y, out["generic"])


def test_elu_accuracy_in_ulps(simd):
    # The vectorised expm1 against float64, over every scale from denormals to the -87 clamp.
    rng = np.random.default_rng(5)
    mags = 10.0 ** rng.uniform(-42, 2.2, 400_000)
    z = np.concatenate([-mags, mags, -np.linspace(0, 1, 10_001), [-0.0, -87.5, -1e30]])
    z = z.astype(np.float32)
    for alpha in (1.0, 0.3):
        y = cc.elu(z, alpha)
        want = np.where(z > 0, z.astype(np.float64), alpha * np.expm1(z.astype(np.float64)))
        # Subnormal inputs and results are flushed to zero inside the kernels (documented).
        tiny = np.finfo(np.float32).tiny
        normal = (np.abs(z) >= tiny) & (np.abs(want) >= tiny)
        assert np.all(y[(np.abs(z) < tiny)] == 0)
        assert np.all(np.abs(y[~normal] - want[~normal]) <= tiny)
        y, want, z = y[normal], want[normal], z[normal]
        ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        err = np.abs(y.astype(np.float64) - want) / np.maximum(ulp, np.finfo(np.float32).smallest_subnormal)
        assert err.max() <= 2.5, (err.max(), z[np.argmax(err)])
    special = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0], dtype=np.float32)
    np.testing.assert_array_equal(cc.elu(special, 2.0), [np.nan, -2.0, np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(cc.leaky_relu(special, 0.5), [np.nan, -np.inf, np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(cc.relu(special), [np.nan, 0.0, np.inf, 0.0, 0.0])


@pytest.mark.parametrize("kind", ["max", "avg", "sum"])
def test_pool_rows_wide(simd, kind):
    # Rows wide enough for the 8-lane loops, odd widths for their tails, NaN in every lane.
    for width in (16, 17, 31, 33, 64, 71):
        x = rng.standard_normal((2, 3, 9, width)).astype(np.float32)
        if kind == "max":
            x[0, 0, 1, :] = np.nan
            x[1, 2, :, width // 3] = np.nan
            x[0, 1, 4, ::5] = -np.inf
        for k, s, pad, ceil in [(2, 2, 0, False), (3, 2, 1, False), (3, 1, 1, True), (4, 2, 2, True),
                                (2, 3, 1, True), ((1, 3), (1, 2), (0, 1), False)]:
            f = getattr(cc, f"{kind}_pool2d")
            r = getattr(reference, f"{kind}_pool2d")
            y = f(x, k, s, pad, ceil_mode=ceil)
            want = r(x.astype(np.float64), k, s, pad, ceil_mode=ceil)
            if kind == "max":
                np.testing.assert_array_equal(y, want.astype(np.float32))
            else:
                np.testing.assert_allclose(y, want, rtol=2e-6, atol=2e-6)


def test_denormals_are_flushed_and_cost_nothing():
    import time

    tiny = np.finfo(np.float32).tiny
    x = np.full((1, 16, 64, 64), tiny / 8, dtype=np.float32)  # subnormal
    w = np.full((16, 16, 3, 3), 0.5, dtype=np.float32)
    assert np.all(cc.conv2d(x, w, padding=1) == 0)              # flushed, not subnormal
    assert np.all(cc.elu(-x) == 0) and np.all(cc.relu(x) == 0)
    normal = np.ones_like(x)

    def timed(a):
        ts = []
        for _ in range(7):
            t = time.perf_counter()
            cc.conv2d(a, w, padding=1)
            ts.append(time.perf_counter() - t)
        return min(ts)  # the least disturbed run: robust on a shared machine

    timed(normal)
    assert timed(x) < 3 * timed(normal)


@pytest.mark.parametrize("c_out, groups", [(8, 1), (12, 1), (16, 1), (22, 1), (40, 1), (32, 2), (48, 3)])
@pytest.mark.parametrize("size, k, padding", [
    # 28 x 27: with AVX-512, 5x5 kernels on rows of a multiple of 4 outputs (the lecture's 28 x 28)
    # and planes of 400 pixels take F(4, 5) along the rows (tests/test_winograd.py)
    ((28, 27), (5, 5), 2), ((9, 16), (3, 3), 0), ((7, 37), (1, 7), (0, 3)), ((20, 19), (4, 2), "same"),
    ((11, 30), (3, 3), ((2, 0), (0, 1))), ((3, 20), (8, 8), "full"),
    # bands shorter than a 24-pixel tile, rows shorter than a vector, several bands
    ((3, 5), (3, 3), 1), ((1, 1), (1, 1), 0), ((2, 9), (2, 3), 0), ((5, 7), (5, 5), 0),
    ((9, 23), (3, 4), ((0, 0), (3, 1))), ((40, 101), (7, 7), 3),
])
def test_one_channel_row_kernel(simd, c_out, groups, size, k, padding):
    # One input channel per group, unit strides: the kernel of shifted row copies (pixels
    # tiled by 24 across rows) against the reference, and bitwise against the GEMM tile kernel
    # it stands in for.
    from cnncore._conv import conv_nd

    x = rng.standard_normal((3, groups) + size).astype(np.float32)
    w = rng.standard_normal((c_out, 1) + k).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    _check(x, w, b, padding=padding, groups=groups)
    y = conv_nd("conv2d", 2, x, w, b, 1, padding, 1, groups)
    assert y.tobytes() == conv_nd("conv2d", 2, x, w, b, 1, padding, 1, groups, impl="gemm").tobytes()


def test_one_channel_copies_straight_from_the_input_rows(simd):
    # Rows as long as the output's (w_in == w_out: padding that keeps the width): with AVX-512 the
    # shifted copies come straight from the input rows, the columns outside them zeroed by masks
    # per 16-float chunk (the first and last input rows through a buffer). Widths around multiples
    # of 16 and up to the limit (256) and past it, dilations, pads split unevenly, against the
    # reference and bitwise against the GEMM.
    from cnncore._conv import conv_nd

    cases = [(h, w, k, d) for w in (1, 2, 15, 16, 17, 31, 33, 47, 48, 49, 255, 256, 257)
             for h, k, d in ((1, 3, 1), (6, 5, 1), (9, 3, 2), (4, 7, 1))]
    for i, (h, w, k, d) in enumerate(cases):
        total = (k - 1) * d
        left = [total // 2, 0, total][i % 3]
        padding = ((total // 2, total - total // 2), (left, total - left))
        # 9 filters: a second, partial tile of 8; but 7 where F(4, 5) along the rows would take
        # the layer (5x5, 8 filters or more, planes of 400 pixels, rows of a multiple of 4).
        f = 7 if k == 5 and d == 1 and h * w >= 400 else 9
        x = rng.standard_normal((2, 1, h, w)).astype(np.float32)
        wt = rng.standard_normal((f, 1, k, k)).astype(np.float32)
        b = rng.standard_normal(f).astype(np.float32)
        y = conv_nd("conv2d", 2, x, wt, b, 1, padding, d, 1)
        assert y.shape == (2, f, h, w)
        g = conv_nd("conv2d", 2, x, wt, b, 1, padding, d, 1, impl="gemm")
        assert y.tobytes() == g.tobytes(), (h, w, k, d, padding)
    _check(x, wt, b, padding=padding, dilation=d)


@pytest.mark.parametrize("multiplier", [1, 2, 3])
def test_depthwise_small_planes_several_per_task(simd, multiplier):
    # Planes of at most 64 KiB go several to a task (up to 16), each prefetching the next one's
    # input: plane counts that leave a last partial task, output channels per input channel
    # (consecutive planes reading one input plane), against the reference and bitwise the same at
    # one and two threads; planes just past 64 KiB take the one-plane tasks.
    before = cc.get_num_threads()
    try:
        for n, c, h, w in [(3, 37, 9, 11), (1, 70, 28, 28), (2, 5, 128, 129)]:
            x = rng.standard_normal((n, c, h, w)).astype(np.float32)
            wt = rng.standard_normal((c * multiplier, 1, 3, 3)).astype(np.float32)
            b = rng.standard_normal(c * multiplier).astype(np.float32)
            outs = []
            for threads in (1, 2):
                cc.set_num_threads(threads)
                outs.append(cc.conv2d(x, wt, b, padding=1, groups=c))
            assert outs[0].tobytes() == outs[1].tobytes(), (n, c, h, w)
            _check(x, wt, b, padding=1, groups=c)
    finally:
        cc.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
def test_one_channel_kernel_every_band_length(simd, threads):
    # Bands of 1..100 pixels (one row of width w, or several rows) cover every way the flat run
    # splits into full tiles, whole vectors, an overlapping last vector and the short-band buffer.
    from cnncore._conv import conv_nd

    before = cc.get_num_threads()
    cc.set_num_threads(threads)
    try:
        for h, w in [(1, n) for n in range(1, 100)] + [(3, 7), (2, 23), (4, 12), (5, 31), (64, 9), (300, 61)]:
            x = rng.standard_normal((2, 1, h + 2, w + 2)).astype(np.float32)
            for c_out in (8, 13):
                wt = rng.standard_normal((c_out, 1, 3, 3)).astype(np.float32)
                b = rng.standard_normal(c_out).astype(np.float32)
                y = conv_nd("conv2d", 2, x, wt, b, 1, 0, 1, 1)
                g = conv_nd("conv2d", 2, x, wt, b, 1, 0, 1, 1, impl="gemm")
                assert y.shape == (2, c_out, h, w)
                assert y.tobytes() == g.tobytes(), (h, w, c_out)
    finally:
        cc.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("c_in, c_out, groups", [(1, 8, 1), (3, 16, 1), (16, 24, 1), (130, 40, 1),
                                                 (32, 64, 2), (12, 36, 3)])
def test_pointwise_pixel_vector_kernel(simd, threads, c_in, c_out, groups):
    # 1x1, unit stride, no padding: the input planes read in place as flat runs of pixels, cut
    # into chunks per thread; bitwise the GEMM tiles' sums, and the reference's values.
    from cnncore._conv import conv_nd

    before = cc.get_num_threads()
    cc.set_num_threads(threads)
    try:
        for size in [(1, 47), (1, 48), (1, 49), (7, 7), (3, 50), (28, 28), (1, 1000), (45, 61)]:
            x = rng.standard_normal((2, c_in) + size).astype(np.float32)
            w = rng.standard_normal((c_out, c_in // groups, 1, 1)).astype(np.float32)
            b = rng.standard_normal(c_out).astype(np.float32)
            y = conv_nd("conv2d", 2, x, w, b, 1, 0, 1, groups)
            g = conv_nd("conv2d", 2, x, w, b, 1, 0, 1, groups, impl="gemm")
            assert y.tobytes() == g.tobytes(), size
            _check(x, w, b, groups=groups)
    finally:
        cc.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subnormal_inputs_count_as_zero_and_come_out_as_zero(simd, dtype):
    # Inside the kernels subnormals compare as zero (flush-to-zero, see the README): what comes
    # out must then be a zero too, never a subnormal that kept its sign (relu(-1e-45) < 0) or won
    # a comparison it could not make (max(-1e-45, 1e-45) = -1e-45).
    tiny = np.finfo(dtype).smallest_subnormal
    for n in (2, 7, 8, 9, 33):  # vector bodies and scalar tails
        x = np.full(n, -tiny, dtype)
        y = cc.relu(x)
        assert (y == 0).all() and not np.signbit(y).any(), (n, y)
        pair = np.tile(np.array([-tiny, tiny], dtype), n)[None, None]
        for k, s in ((2, 2), (2, 1), (3, 2)):
            m = cc.max_pool1d(pair, k, s)
            assert (m == 0).all() and not np.signbit(m).any(), (n, k, s, m)
        m = cc.max_pool2d(np.tile(pair, (1, 2, 1)).reshape(1, 2, -1), 2)
        assert (m == 0).all() and not np.signbit(m).any(), (n, m)


@pytest.mark.parametrize("name, f", [("relu", cc.relu), ("leaky_relu", lambda x: cc.leaky_relu(x, 0.2)),
                                     ("elu", lambda x: cc.elu(x, 0.7))])
def test_activations_streamed_past_the_caches_equal_the_cached_path(simd, name, f):
    # Outputs of 16 MB and more are written with non-temporal stores, from each chunk's first
    # aligned element: bitwise the same as the same data in pieces small enough to stay cached.
    n = (1 << 22) + 37
    x = np.random.default_rng(9).standard_normal(n + 3).astype(np.float32)
    x[::997] = np.nan
    for off in (0, 1, 3):  # the output's alignment follows NumPy's; the input's varies here
        big = f(x[off:off + n])
        pieces = np.concatenate([f(x[off + i:off + min(n, i + 300_001)]) for i in range(0, n, 300_001)])
        assert big.tobytes() == pieces.tobytes(), (name, off)


@pytest.mark.parametrize("kind", ["max", "avg", "sum"])
def test_pool_2x2_rows_of_every_width(simd, kind):
    # The 2x2 stride-2 kernel runs over the rows of all planes at once; a row's last partial
    # vector is stored whole when the rows after it are its own to write later, masked at the
    # end of a task: every width (1 to 3 vectors), odd heights and widths (floor), 1 to 3 planes.
    f = getattr(cc, f"{kind}_pool2d")
    ref = getattr(reference, f"{kind}_pool2d")
    for w in range(2, 52, 3):
        for h, planes in ((2, 1), (5, 3), (17, 2)):
            x = rng.standard_normal((planes, 1, h, w)).astype(np.float32)
            x.flat[rng.integers(0, x.size, 2)] = np.nan
            y = f(x, 2)
            r = ref(x.astype(np.float64), 2)
            np.testing.assert_allclose(y, r, rtol=1e-6, atol=1e-6, err_msg=f"{kind} {h}x{w}")
