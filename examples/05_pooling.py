"""Pooling: max, average and sum over 2 x 2 windows, by hand and with cnncore.

Run: python examples/05_pooling.py
"""

import numpy as np

import cnncore as cc

x = np.array([[6, 6, 6, 6],
              [4, 5, 5, 4],
              [2, 4, 4, 2],
              [2, 4, 4, 2]], dtype=float)

# By hand: split into 2 x 2 blocks (stride 2) and reduce each block.
blocks = x.reshape(2, 2, 2, 2).swapaxes(1, 2)  # (block row, block col, 2, 2)
for name, reduce, core in [("max", np.max, cc.max_pool2d), ("average", np.mean, cc.avg_pool2d),
                           ("sum", np.sum, cc.sum_pool2d)]:
    by_hand = reduce(blocks, axis=(2, 3))
    pooled = core(x[None], 2)[0]  # the core wants channels first: (1, 4, 4)
    print(f"{name:<8} by hand {by_hand.tolist()}  core {pooled.tolist()}")
    assert np.array_equal(by_hand, pooled)

# Pooling after a convolution and ReLU, as in the lecture's network: 28 -> 28 -> 14.
rng = np.random.default_rng(0)
image = rng.random((1, 28, 28))
features = cc.relu(cc.conv2d(image, rng.standard_normal((16, 1, 5, 5)), padding=2))
print("conv 5x5 (16 filters, padding 2) + ReLU:", features.shape,
      "-> max pool 2x2:", cc.max_pool2d(features, 2).shape)
print("size: cnncore shape --input 28 28 --kernel 2 --pool ->",
      cc.shapes.pool_output_size(28, 2))
