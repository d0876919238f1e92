"""``cnncore lecture``: the lecture's worked examples, computed by the core and checked."""

from __future__ import annotations

import time

import numpy as np


def _check(label, got, want):
    ok = np.array_equal(np.asarray(got), np.asarray(want))
    print(f"  {label:<44} {np.asarray(got).tolist()}  {'ok' if ok else 'MISMATCH'}")
    return ok


def lecture(args) -> int:
    import cnncore as cc
    from cnncore import reference

    ok = True
    print("1. Convolution in 1D (cross-correlation, as the lecture and deep learning use it)")
    x, w = [0, 1, 2, 3, 4, 5, 6], [1, 2]
    ok &= _check("correlate([0..6], [1, 2])", cc.correlate(x, w), [2, 5, 8, 11, 14, 17])
    ok &= _check("convolve([0..6], [1, 2])  (kernel flipped)", cc.convolve(x, w), [1, 4, 7, 10, 13, 16])
    print(f"  output length o = floor((i - k + 2p)/s) + 1 = {cc.shapes.conv_output_size(7, 2)}")

    print("2. Convolution in 2D")
    x2, w2 = [[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]]
    ok &= _check("correlate(3x3, 2x2)", cc.correlate(x2, w2), [[19, 25], [37, 43]])

    print("3. Stride and padding (7 inputs, kernel 3)")
    sig = np.arange(1, 8, dtype=np.float64)[None, None]
    ker = np.ones((1, 1, 3))
    for pad in ("valid", "same", "full", 1):
        for stride in (1, 2):
            y = cc.conv1d(sig, ker, stride=stride, padding=pad)
            before, after = cc.shapes.resolve_padding(pad, 7, 3, stride)
            print(f"  padding={pad!r:<8} stride={stride}: pads ({before}, {after}) -> "
                  f"{y.shape[-1]} outputs {y[0, 0].tolist()}")

    print("4. Activations on [-2, -0.5, 0, 1.5]")
    z = np.array([-2.0, -0.5, 0.0, 1.5])
    print(f"  relu        {cc.relu(z).tolist()}")
    print(f"  leaky_relu  {cc.leaky_relu(z, 0.1).round(4).tolist()}")
    print(f"  elu         {cc.elu(z).round(4).tolist()}  (standard ELU: z for z > 0)")

    print("6. Pooling, 2x2 window, stride 2")
    p = np.array([[6, 6, 6, 6], [4, 5, 5, 4], [2, 4, 4, 2], [2, 4, 4, 2]])[None]
    ok &= _check("max", cc.max_pool2d(p, 2)[0], [[6, 6], [4, 4]])
    ok &= _check("average", cc.avg_pool2d(p, 2)[0], [[5.25, 5.25], [3, 3]])
    ok &= _check("sum", cc.sum_pool2d(p, 2)[0], [[21, 21], [12, 12]])

    print("The lecture's network, layer by layer, on a batch of 64 random 28x28 images")
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    layers = [
        ("CONV1 5x5, 16 filters", rng.standard_normal((16, 1, 5, 5), dtype=np.float32) * 0.2),
        ("CONV2 5x5, 32 filters", rng.standard_normal((32, 16, 5, 5), dtype=np.float32) * 0.05),
    ]
    for name, wl in layers:
        t0 = time.perf_counter()
        y = cc.relu(cc.conv2d(x, wl, padding=2))
        t_core = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = reference.relu(reference.conv2d(x, wl, padding=2))
        t_ref = time.perf_counter() - t0
        err = float(np.max(np.abs(y - r)))
        pooled = cc.max_pool2d(y, 2)
        print(f"  {name}: {tuple(x.shape[1:])} -> {tuple(y.shape[1:])} -> pool {tuple(pooled.shape[1:])}"
              f"  core {t_core * 1e3:.1f} ms, reference {t_ref * 1e3:.1f} ms, max diff {err:.2g}")
        x = pooled
    print(f"\n{'all examples match the lecture' if ok else 'SOME EXAMPLES DO NOT MATCH'} "
          f"({cc.get_num_threads()} thread(s))")
    return 0 if ok else 1


def register(sub) -> None:
    p = sub.add_parser(
        "lecture", help="the lecture's examples, computed by the core and checked (the default)",
        description="Walk through the lecture's worked examples, computed by the C++ core and "
                    "checked against the expected numbers, then time the lecture's two "
                    "convolution layers against the NumPy reference.")
    p.set_defaults(func=lecture)
