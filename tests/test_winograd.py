"""3x3 and 5x5 convolutions by Winograd's F(2x2, 3x3) and F(2x2, 5x5), and 5x5 ones of few
channels by F(4, 5) along the rows (cpp/core/conv_winograd.h).

The 2-D methods run where the kernel is 3x3 or 5x5 with unit strides and dilations, one group, at
least 16 channels in and out and output planes of at least 100 pixels; F(4, 5) along the rows
where the kernel is 5x5, with 2 to 15 input channels, at least 8 output channels, output planes of
at least 400 pixels and rows of at least 8; both at the avx2 and avx512 levels. With one input
channel, F(4, 5) along the rows runs fused (products and output transform in registers) at the
avx512 level only, on rows of a multiple of 4 outputs; elsewhere the shifted copies keep it.
Checked here: the values against the float64 reference over plane sizes (odd ones, rows of one
tile, bands of many), paddings and batches at every level; integer data exactly with 3x3 kernels
(F(2x2, 5x5)'s weights hold sixths: there, the float32 bound); the bits independent of the thread
count and of the batch; a NaN, an infinity or an overflow in the transforms handed over to the
GEMM kernels, so that non-finite outputs are the definition's; the fused activation of the
network engine.
"""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import nn, reference
from cnncore._conv import conv_nd

from conftest import assert_close
from test_fast_paths import _check

rng = np.random.default_rng(2024)

# (batch, c_in, c_out, input plane, padding)
CASES = [
    (1, 32, 32, (16, 16), 1),
    (3, 33, 47, (9, 13), 1),        # odd planes: a last tile row and column of one output
    (1, 64, 40, (19, 18), 0),
    (3, 40, 72, (7, 13), 2),
    (1, 32, 33, (1, 300), 1),       # one output row: tiles of which half is cut
    (1, 48, 32, (300, 1), 1),       # one output column: one tile per tile row
    (1, 32, 64, (23, 23), ((2, 0), (0, 1))),
    (2, 32, 32, (16, 16), "same"),
    (4, 32, 32, (10, 10), 1),
    (2, 130, 36, (14, 14), 1),      # channels past a 16-channel block
    (1, 32, 32, (4, 600), 1),       # long rows: one tile row a band
    (1, 36, 50, (61, 45), 1),       # many bands
    (2, 16, 16, (12, 12), 1),       # the fewest channels
    (1, 16, 21, (10, 10), 1),       # the smallest plane
]
# 5x5 kernels: (batch, c_in, c_out, input plane, padding)
CASES5 = [
    (2, 16, 32, (14, 14), 2),       # the lecture's second layer
    (1, 16, 17, (13, 15), 2),
    (3, 17, 40, (12, 11), ((1, 3), (2, 0))),
    (1, 16, 16, (14, 14), 0),       # the smallest plane: 10 x 10
    (2, 33, 17, (8, 120), 2),
    (1, 64, 48, (30, 31), 2),
    (3, 20, 24, (9, 16), 2),        # rows of 4 tiles: two tile rows at a time, across images
]
# F(4, 5) along the rows: (batch, c_in, c_out, input plane, padding)
CASES_ROWS = [
    (2, 3, 16, (28, 28), 2),        # rows of whole runs of 4: the flat output transform
    (1, 2, 8, (20, 20), 2),         # the fewest channels, the smallest plane
    (2, 5, 17, (23, 30), 2),        # a last run cut short; filters past a block of 8 and of 16
    (1, 15, 40, (33, 26), ((1, 3), (2, 0))),
    (3, 4, 24, (60, 12), 0),        # rows of 8: two runs, a vector mostly empty
    (1, 3, 32, (90, 70), 2),        # several bands
    (1, 6, 16, (20, 140), (2, 1)),  # long rows
    # One channel (fused with AVX-512; the shifted copies at the avx2 level)
    (4, 1, 16, (28, 28), 2),        # the lecture's first layer: 7 runs a row, 196 a plane
    (2, 1, 9, (20, 24), 2),         # filters past a group of 4 (and of 8); a last partial vector
    (1, 1, 8, (40, 20), 0),         # unpadded: 36 x 16 outputs
    (1, 1, 33, (26, 36), ((1, 3), (3, 1))),  # uneven padding; 33 filters: 3 panels of 16
    (1, 1, 12, (90, 68), 2),        # several bands
]


def _x_w_b(n, c_in, c_out, size, integers=False, k=3):
    if integers:
        x = rng.integers(-8, 9, (n, c_in) + size).astype(np.float32)
        w = rng.integers(-8, 9, (c_out, c_in, k, k)).astype(np.float32)
        b = rng.integers(-8, 9, c_out).astype(np.float32)
    else:
        x = rng.standard_normal((n, c_in) + size).astype(np.float32)
        w = rng.standard_normal((c_out, c_in, k, k)).astype(np.float32)
        b = rng.standard_normal(c_out).astype(np.float32)
    return x, w, b


ALL = [c + (3,) for c in CASES] + [c + (5,) for c in CASES5] + [c + (5,) for c in CASES_ROWS]


@pytest.mark.parametrize("case", ALL, ids=[str(c) for c in ALL])
def test_values_against_the_reference(simd, case):
    n, c_in, c_out, size, padding, k = case
    x, w, b = _x_w_b(n, c_in, c_out, size, k=k)
    _check(x, w, b, padding=padding)
    _check(x, w, None, padding=padding)
    if simd != "generic":
        # A different method from the GEMM tiles' (so other roundings): proof that it ran. One
        # channel at the avx2 level: the shifted copies, the GEMM's bits.
        y = conv_nd("conv2d", 2, x, w, b, 1, padding, 1, 1)
        g = conv_nd("conv2d", 2, x, w, b, 1, padding, 1, 1, impl="gemm")
        if c_in > 1 or simd == "avx512":
            assert y.tobytes() != g.tobytes()
        else:
            assert y.tobytes() == g.tobytes()


EXACT = ALL[:6]


@pytest.mark.parametrize("case", EXACT, ids=[str(c) for c in EXACT])
def test_integer_data_exactly(simd, case):
    # Small integers and 3x3 kernels: every transform, product and sum is exact in float32 (the
    # weights' transform makes quarters), so the result must equal the reference exactly.
    n, c_in, c_out, size, padding, k = case
    x, w, b = _x_w_b(n, c_in, c_out, size, integers=True, k=k)
    _check(x, w, b, padding=padding)


@pytest.mark.parametrize("c_in,size,exact", [(16, (14, 14), (8, (14, 14))),
                                              (3, (28, 28), (1, (28, 27))),
                                              (1, (28, 28), (1, (28, 26)))],
                         ids=["F(2x2, 5x5)", "F(4, 5) along the rows", "F(4, 5) one channel"])
def test_integer_data_with_5x5_kernels_within_the_float32_bound(simd, c_in, size, exact):
    # F(2x2, 5x5)'s G holds sixths and twenty-fourths, F(4, 5)'s ninths and forty-fifths, so
    # integer data are rounded like any float data there: within the bound of the sum. Exact where
    # the direct kernels run (fewer channels: the GEMM for F(2x2, 5x5)'s plane; one channel on rows
    # of outputs that are no multiple of 4, or below the avx512 level: the shifted copies).
    x, w, b = _x_w_b(2, c_in, 16, size, integers=True, k=5)
    y = cc.conv2d(x, w, b, padding=2)
    ref = reference.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                           padding=2)
    mag = reference.conv2d(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                           np.abs(b).astype(np.float64), padding=2)
    assert_close(y, ref, mag, c_in * 25 + 1, "float", "5x5 integers")
    xe, we, be = _x_w_b(2, exact[0], 16, exact[1], integers=True, k=5)
    _check(xe, we, be, padding=2)


@pytest.mark.parametrize("padding", [2, ((2, 2), (1, 3)), ((1, 1), (4, 0)), 0])
def test_one_channel_cut_edge_columns_are_direct_sums(simd, padding):
    # F(4, 5) for one channel redoes the output columns whose window the padding cuts short and
    # that end a run of 4 (outputs 0 and 3) as direct sums: the GEMM's bits there, Winograd's
    # elsewhere. Their windows hold fewer terms than the run's transform mixes in, and left
    # alone they came out up to 28 eps32 of their sum of magnitudes off (the lecture's layer,
    # random data, no bias: this batch), past the float32 bound of 27.
    x, w, _ = _x_w_b(64, 1, 16, (28, 28), k=5)
    y = conv_nd("conv2d", 2, x, w, None, 1, padding, 1, 1)
    g = conv_nd("conv2d", 2, x, w, None, 1, padding, 1, 1, impl="gemm")
    _check(x, w, None, padding=padding)
    if simd != "avx512":
        assert y.tobytes() == g.tobytes()  # the shifted copies
        return
    (_, _), (left, right) = padding if isinstance(padding, tuple) else ((padding,) * 2,) * 2
    w_out = y.shape[3]
    cut = [c for c in range(w_out) if (c < left or c + 4 - left >= 28) and c % 4 in (0, 3)]
    assert bool(cut) == (padding != 0)
    for c in range(w_out):
        same = y[..., c].tobytes() == g[..., c].tobytes()
        assert same == (c in cut), c


@pytest.mark.parametrize("k,c_in", [(3, 32), (5, 32), (5, 3), (5, 1)])
def test_bits_independent_of_threads_and_batch(simd, k, c_in):
    x, w, b = _x_w_b(5, c_in, 40, (30, 24), k=k)
    before = cc.get_num_threads()
    try:
        out = {}
        for threads in (1, 2):
            cc.set_num_threads(threads)
            out[threads] = cc.conv2d(x, w, b, padding=k // 2)
            for i in range(len(x)):
                alone = cc.conv2d(x[i:i + 1], w, b, padding=k // 2)
                assert alone.tobytes() == out[threads][i:i + 1].tobytes(), (threads, i)
        assert out[1].tobytes() == out[2].tobytes()
    finally:
        cc.set_num_threads(before)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("k,c_in,side", [(3, 32, 12), (5, 3, 24), (5, 1, 24)],
                         ids=["F(2x2, 3x3)", "F(4, 5) along the rows", "F(4, 5) one channel"])
def test_non_finite_inputs_give_the_definitions_non_finite_outputs(simd, value, k, c_in, side):
    # A patch's transform mixes its inputs (16, or a run's 8 along the rows): inf - inf would make
    # NaN of outputs whose windows don't hold the infinity. Such a call is recomputed by the GEMM:
    # the reference's NaN and infinities, and the GEMM's bits.
    x, w, b = _x_w_b(2, c_in, 16, (side, side), k=k)
    w = np.abs(w)  # one sign: an infinity stays an infinity in the windows that hold it
    x[1, c_in - 1, 5, 6] = value
    y = cc.conv2d(x, w, b, padding=k // 2)
    assert y.tobytes() == conv_nd("conv2d", 2, x, w, b, 1, k // 2, 1, 1, impl="gemm").tobytes()
    _check(x, w, b, padding=k // 2)
    window = np.zeros((side, side), bool)
    window[5 - k // 2:6 + k // 2, 6 - k // 2:7 + k // 2] = True  # windows holding input (5, 6)
    assert np.all(np.isfinite(y[0]))
    assert np.all(np.isfinite(y[1][:, ~window]))
    assert not np.any(np.isfinite(y[1][:, window]))


def test_overflow_in_the_transforms_goes_to_the_gemm(simd):
    # Inputs near the float32 limit with signs + + - - along the rows: the input transform's
    # d0 - d2 overflows to infinity, while the products with small weights, and their sums,
    # stay finite. The call must come out finite, as the GEMM computes it.
    x = np.tile(np.array([3e38, 3e38, -3e38, -3e38], np.float32), (1, 32, 16, 4))
    w = np.full((32, 32, 3, 3), 1e-4, np.float32)
    w[:, :, :, 1] = -2e-4
    y = cc.conv2d(x, w, padding=1)
    assert np.all(np.isfinite(y))
    assert y.tobytes() == conv_nd("conv2d", 2, x, w, None, 1, 1, 1, 1, impl="gemm").tobytes()


@pytest.mark.parametrize("c_in,k,side,act", [(32, 3, 12, "relu"), (3, 5, 28, "elu"),
                                             (1, 5, 28, "relu")],
                         ids=["F(2x2, 3x3)", "F(4, 5) along the rows", "F(4, 5) one channel"])
def test_network_engine_fuses_the_activation(simd, c_in, k, side, act):
    # The engine calls the same kernels with the activation fused into the output transform:
    # the bits of conv2d then the activation, at batch 1 and in a batch.
    model = nn.Sequential([nn.Input((c_in, side, side)),
                           nn.Conv2D(40, k, padding=k // 2, activation=act, name="c")], seed=3)
    x = rng.standard_normal((6, c_in, side, side)).astype(np.float32)
    wts = model.get_weights()
    f, f64 = getattr(cc, act), getattr(reference, act)
    want = f(cc.conv2d(x, wts["c/weight"], wts["c/bias"], padding=k // 2))
    assert model.predict(x).tobytes() == want.tobytes()
    assert model.predict(x[2:3]).tobytes() == want[2:3].tobytes()
    w64 = {name: v.astype(np.float64) for name, v in wts.items()}
    ref = f64(reference.conv2d(x.astype(np.float64), w64["c/weight"], w64["c/bias"],
                               padding=k // 2))
    np.testing.assert_allclose(want, ref, rtol=1e-4, atol=1e-4)
    if simd != "generic" and (c_in > 1 or simd == "avx512"):
        # Proof that Winograd ran: other roundings than the GEMM's.
        gemm = conv_nd("conv2d", 2, x, wts["c/weight"], wts["c/bias"], 1, k // 2, 1, 1,
                       impl="gemm")
        assert want.tobytes() != f(gemm).tobytes()
