"""1-D convolution, by hand and with cnncore: the lecture's first example.

Run: python examples/01_convolution_1d.py
"""

import numpy as np

import cnncore as cc

x = [0, 1, 2, 3, 4, 5, 6]  # the input signal
w = [1, 2]                 # the kernel

# By hand: slide the kernel along x; each output is the sum of products under it,
# z[i] = sum_a w[a] * x[i + a]. This is a cross-correlation, what deep learning calls convolution.
by_hand = [sum(w[a] * x[i + a] for a in range(len(w))) for i in range(len(x) - len(w) + 1)]
print("by hand:        ", by_hand)

# The C++ core, SciPy-style (no channels) and deep-learning style (batch, channels, length).
print("cc.correlate:   ", cc.correlate(x, w).tolist())
print("cc.conv1d:      ", cc.conv1d([[x]], [[w]])[0, 0].tolist())
assert cc.correlate(x, w).tolist() == by_hand == [2, 5, 8, 11, 14, 17]

# True convolution flips the kernel first: s(t) = sum_a x(a) w(t - a).
print("cc.convolve:    ", cc.convolve(x, w).tolist(), " = correlate with", w[::-1])
assert np.array_equal(cc.convolve(x, w), cc.correlate(x, w[::-1]))

# The output length: o = floor((i - k + 2p) / s) + 1 = floor((7 - 2 + 0) / 1) + 1 = 6.
print("output length:  ", cc.shapes.conv_output_size(len(x), len(w)))
