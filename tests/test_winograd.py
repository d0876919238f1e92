"""3x3 and 5x5 convolutions by Winograd's F(2x2, 3x3) and F(2x2, 5x5) (cpp/core/conv_winograd.h).

They run where the kernel is 3x3 or 5x5 with unit strides and dilations, one group, at least 16
channels in and out and output planes of at least 100 pixels, at the avx2 and avx512 levels.
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


ALL = [c + (3,) for c in CASES] + [c + (5,) for c in CASES5]


@pytest.mark.parametrize("case", ALL, ids=[str(c) for c in ALL])
def test_values_against_the_reference(simd, case):
    n, c_in, c_out, size, padding, k = case
    x, w, b = _x_w_b(n, c_in, c_out, size, k=k)
    _check(x, w, b, padding=padding)
    _check(x, w, None, padding=padding)
    if simd != "generic":
        # A different method from the GEMM tiles' (so other roundings): proof that it ran.
        y = conv_nd("conv2d", 2, x, w, b, 1, padding, 1, 1)
        assert y.tobytes() != conv_nd("conv2d", 2, x, w, b, 1, padding, 1, 1, impl="gemm").tobytes()


EXACT = ALL[:6]


@pytest.mark.parametrize("case", EXACT, ids=[str(c) for c in EXACT])
def test_integer_data_exactly(simd, case):
    # Small integers and 3x3 kernels: every transform, product and sum is exact in float32 (the
    # weights' transform makes quarters), so the result must equal the reference exactly.
    n, c_in, c_out, size, padding, k = case
    x, w, b = _x_w_b(n, c_in, c_out, size, integers=True, k=k)
    _check(x, w, b, padding=padding)


def test_integer_data_with_5x5_kernels_within_the_float32_bound(simd):
    # F(2x2, 5x5): G holds sixths and twenty-fourths, so integer data are rounded like any float
    # data there; within the bound of the sum, and exact where the GEMM runs (fewer channels).
    x, w, b = _x_w_b(2, 16, 32, (14, 14), integers=True, k=5)
    y = cc.conv2d(x, w, b, padding=2)
    ref = reference.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                           padding=2)
    mag = reference.conv2d(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                           np.abs(b).astype(np.float64), padding=2)
    assert_close(y, ref, mag, 16 * 25 + 1, "float", "5x5 integers")
    x8, w8, b8 = _x_w_b(2, 8, 32, (14, 14), integers=True, k=5)
    _check(x8, w8, b8, padding=2)  # 8 channels: the GEMM, exact


@pytest.mark.parametrize("k", [3, 5])
def test_bits_independent_of_threads_and_batch(simd, k):
    x, w, b = _x_w_b(5, 32, 40, (20, 17), k=k)
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
def test_non_finite_inputs_give_the_definitions_non_finite_outputs(simd, value):
    # A patch's transform mixes its 16 inputs: inf - inf would make NaN of outputs whose windows
    # don't hold the infinity. Such a call is recomputed by the GEMM: the reference's NaN and
    # infinities, and the GEMM's bits.
    x, w, b = _x_w_b(2, 32, 32, (12, 12))
    w = np.abs(w)  # one sign: an infinity stays an infinity in the windows that hold it
    x[1, 3, 5, 6] = value
    y = cc.conv2d(x, w, b, padding=1)
    assert y.tobytes() == conv_nd("conv2d", 2, x, w, b, 1, 1, 1, 1, impl="gemm").tobytes()
    _check(x, w, b, padding=1)
    window = np.zeros((12, 12), bool)
    window[4:7, 5:8] = True  # the outputs whose 3x3 window holds input (5, 6)
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


def test_network_engine_fuses_the_activation(simd):
    # The engine calls the same kernels with the activation fused into the output transform:
    # the bits of conv2d then relu, at batch 1 and in a batch.
    model = nn.Sequential([nn.Input((32, 12, 12)),
                           nn.Conv2D(40, 3, padding=1, activation="relu", name="c")], seed=3)
    x = rng.standard_normal((6, 32, 12, 12)).astype(np.float32)
    wts = model.get_weights()
    want = cc.relu(cc.conv2d(x, wts["c/weight"], wts["c/bias"], padding=1))
    assert model.predict(x).tobytes() == want.tobytes()
    assert model.predict(x[2:3]).tobytes() == want[2:3].tobytes()
    w64 = {k: v.astype(np.float64) for k, v in wts.items()}
    ref = reference.relu(reference.conv2d(x.astype(np.float64), w64["c/weight"], w64["c/bias"],
                                          padding=1))
    np.testing.assert_allclose(want, ref, rtol=1e-4, atol=1e-4)
