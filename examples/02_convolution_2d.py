"""2-D convolution, by hand and with cnncore, then with several channels and filters.

Run: python examples/02_convolution_2d.py
"""

import numpy as np

import cnncore as cc

x = np.arange(9).reshape(3, 3)       # [[0 1 2] [3 4 5] [6 7 8]]
w = np.array([[0, 1], [2, 3]])

# By hand: the kernel visits every 2 x 2 window; each output is the sum of the products.
out = np.zeros((2, 2))
for i in range(2):
    for j in range(2):
        out[i, j] = np.sum(x[i:i + 2, j:j + 2] * w)
print("by hand:\n", out)
print("cc.correlate:\n", cc.correlate(x, w))
assert np.array_equal(cc.correlate(x, w), out) and out.tolist() == [[19, 25], [37, 43]]

# A convolution layer: an RGB image (3 channels) and 4 filters of 3 x 3 x 3 give 4 feature maps.
# Each filter sums over all input channels: y[f] = sum_c correlate(x[c], w[f, c]) + bias[f].
rng = np.random.default_rng(0)
image = rng.random((3, 8, 8))              # (channels, height, width)
filters = rng.standard_normal((4, 3, 3, 3))
bias = np.array([0.0, 0.5, -0.5, 1.0])
y = cc.conv2d(image, filters, bias)
print("conv2d: input", image.shape, "filters", filters.shape, "-> output", y.shape)
manual = np.stack([sum(cc.correlate(image[c], filters[f, c]) for c in range(3)) + bias[f]
                   for f in range(4)])
assert np.allclose(y, manual)
print("each output map is the sum over channels of 2-D correlations, plus the bias: checked")
