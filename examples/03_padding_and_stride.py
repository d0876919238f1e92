"""Padding and stride: how they change the output size, with the formula and the numbers.

Run: python examples/03_padding_and_stride.py
"""

import numpy as np

import cnncore as cc
from cnncore import shapes

x = np.arange(1, 8, dtype=float)[None, None]  # 7 inputs, (batch, channels, length)
w = np.ones((1, 1, 3))                        # a kernel of 3 that sums its window

print("input:", x[0, 0].tolist(), " kernel: [1, 1, 1]")
for padding in ["valid", "same", "full", 1, (0, 2)]:
    for stride in [1, 2]:
        before, after = shapes.resolve_padding(padding, 7, 3, stride)
        y = cc.conv1d(x, w, stride=stride, padding=padding)
        o = shapes.conv_output_size(7, 3, stride, padding)
        print(f"padding={padding!r:<8} stride={stride}: zeros ({before} before, {after} after), "
              f"o = floor((7 + {before} + {after} - 3) / {stride}) + 1 = {o}: {y[0, 0].tolist()}")
        assert y.shape[-1] == o

# In 2-D, the lecture's network keeps 28 x 28 with a 5 x 5 kernel and padding 2 ('same').
print("28 x 28, kernel 5, padding 2:", shapes.conv_output_size(28, 5, padding=2))
print("the same with the command line:  cnncore shape --input 28 28 --kernel 5 5 --padding 2")

# Padding for images: what lies beyond the border changes the result near it.
img = np.array([[1.0, 2.0, 3.0, 4.0]])
for border in ["zeros", "reflect", "replicate", "wrap"]:
    print(f"filter2d border={border!r:<12}", cc.filter2d(img, [[1, 1, 1]], border)[0].tolist())
