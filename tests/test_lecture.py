"""The lecture's worked examples (SPEC.md sections 1, 2, 4 and 6), exactly, in the core and in
the reference."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import reference

X1 = [0, 1, 2, 3, 4, 5, 6]
W1 = [1, 2]
X2 = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
W2 = [[0, 1], [2, 3]]
POOL_X = [[6, 6, 6, 6], [4, 5, 5, 4], [2, 4, 4, 2], [2, 4, 4, 2]]


@pytest.mark.parametrize("mod", [cc, reference], ids=["core", "reference"])
def test_section1_correlation_1d(mod):
    np.testing.assert_array_equal(mod.correlate(X1, W1), [2, 5, 8, 11, 14, 17])
    # The same through the deep-learning layer: one image, one channel, one filter.
    y = mod.conv1d(np.array(X1)[None, None], np.array(W1)[None, None])
    np.testing.assert_array_equal(y, [[[2, 5, 8, 11, 14, 17]]])
    assert y.shape[-1] == cc.shapes.conv_output_size(7, 2) == 6


@pytest.mark.parametrize("mod", [cc, reference], ids=["core", "reference"])
def test_section1_true_convolution_flips_the_kernel(mod):
    # s(t) = sum_a x(a) w(t - a): the kernel flipped, [2, 1] slid along x.
    np.testing.assert_array_equal(mod.convolve(X1, W1), [1, 4, 7, 10, 13, 16])
    np.testing.assert_array_equal(mod.convolve(X1, W1, "full"), [0, 1, 4, 7, 10, 13, 16, 12])


def test_section1_output_length_formula():
    # o = floor((i - k + 2p) / s) + 1
    assert cc.shapes.conv_output_size(7, 2) == 6
    for i in range(1, 30):
        for k in range(1, i + 1):
            for p in range(3):
                for s in range(1, 4):
                    assert cc.shapes.conv_output_size(i, k, s, p) == (i - k + 2 * p) // s + 1
    # Dilation: the kernel's reach is d*(k-1) + 1.
    assert cc.shapes.dilated_kernel_size(3, 2) == 5
    assert cc.shapes.conv_output_size(7, 3, dilation=2) == 3


@pytest.mark.parametrize("mod", [cc, reference], ids=["core", "reference"])
def test_section2_correlation_2d(mod):
    np.testing.assert_array_equal(mod.correlate(X2, W2), [[19, 25], [37, 43]])
    y = mod.conv2d(np.array(X2)[None, None], np.array(W2)[None, None])
    np.testing.assert_array_equal(y, [[[[19, 25], [37, 43]]]])


@pytest.mark.parametrize("mod", [cc, reference], ids=["core", "reference"])
def test_section2_filter_banks_with_bias(mod):
    # C input channels, F filters, each spanning all channels and adding its bias.
    x = np.arange(2 * 3 * 3, dtype=np.float64).reshape(2, 3, 3)
    w = np.stack([np.ones((2, 2, 2)), -np.ones((2, 2, 2))])
    y = mod.conv2d(x, w, np.array([10.0, 0.5]))
    window = lambda i, j: x[:, i:i + 2, j:j + 2].sum()  # noqa: E731
    want = [[[window(i, j) + 10 for j in range(2)] for i in range(2)],
            [[-window(i, j) + 0.5 for j in range(2)] for i in range(2)]]
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("mod", [cc, reference], ids=["core", "reference"])
def test_section3_padding_modes(mod):
    x = np.arange(1, 8, dtype=np.float64)[None, None]  # 7 samples
    w = np.ones((1, 1, 3))
    assert mod.conv1d(x, w, padding="valid").shape[-1] == 5
    assert mod.conv1d(x, w, padding="same").shape[-1] == 7
    assert mod.conv1d(x, w, padding="full").shape[-1] == 9
    for s in (1, 2, 3, 4):  # 'same' gives ceil(I / S) for every stride
        assert mod.conv1d(x, w, padding="same", stride=s).shape[-1] == -(-7 // s)
    # 'same' with an even kernel: the extra zero goes at the end.
    np.testing.assert_array_equal(mod.conv1d(x, np.ones((1, 1, 2)), padding="same")[0, 0],
                                  [3, 5, 7, 9, 11, 13, 7])
    np.testing.assert_array_equal(mod.conv1d(x, w, padding="full")[0, 0],
                                  [1, 3, 6, 9, 12, 15, 18, 13, 7])


@pytest.mark.parametrize("mod", [cc, reference], ids=["core", "reference"])
def test_section4_activations(mod):
    z = np.array([-3.0, -1.0, -0.0, 0.0, 0.5, 2.0, 50.0])
    np.testing.assert_array_equal(mod.relu(z), np.maximum(z, 0))
    np.testing.assert_array_equal(mod.leaky_relu(z, 0.1), np.maximum(0.1 * z, z))
    # The standard ELU: z for z > 0 (the lecture's max(alpha*(e^z - 1), z) would give e^50 - 1).
    np.testing.assert_allclose(mod.elu(z, 1.0), np.where(z > 0, z, np.expm1(z)), rtol=1e-15)
    assert mod.elu(np.array([50.0]))[0] == 50.0


@pytest.mark.parametrize("mod", [cc, reference], ids=["core", "reference"])
def test_section6_pooling(mod):
    x = np.array(POOL_X)[None]
    np.testing.assert_array_equal(mod.max_pool2d(x, 2, 2), [[[6, 6], [4, 4]]])
    np.testing.assert_array_equal(mod.avg_pool2d(x, 2, 2), [[[5.25, 5.25], [3, 3]]])
    np.testing.assert_array_equal(mod.sum_pool2d(x, 2, 2), [[[21, 21], [12, 12]]])
    # stride=None means the kernel size.
    np.testing.assert_array_equal(mod.max_pool2d(x, 2), mod.max_pool2d(x, 2, 2))
