"""Leaks: repeated calls of every op family, and of bad calls that raise, do not grow the resident
memory. The criterion is 10,000 calls under 10 MB (the slow test, on two threads: OpenMP teams
included); by default 2,000 calls under 2 MB, the same rate, on one thread (on a busy machine a
small call that wakes a second thread can take milliseconds)."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

import cnncore as cc

from conftest import no_asan
from cnncore import nn

MB = 10**6
rng = np.random.default_rng(42)
f32 = np.float32

X1 = rng.standard_normal((2, 3, 50)).astype(f32)
W1 = rng.standard_normal((4, 3, 5)).astype(f32)
X2 = rng.standard_normal((2, 3, 12, 12)).astype(f32)
W2 = rng.standard_normal((16, 3, 3, 3)).astype(f32)
X3 = rng.standard_normal((1, 2, 5, 6, 7))
W3 = rng.standard_normal((3, 2, 2, 2, 2))
IMG = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
MODEL = nn.lecture_model()
DIGITS = rng.random((4, 28, 28), dtype=f32)

CALLS = [
    ("conv1d", lambda: cc.conv1d(X1, W1, padding=2)),
    ("conv1d-list-input", lambda: cc.conv1d(X1[0].tolist(), W1)),                 # converted
    ("conv2d-gemm", lambda: cc.conv2d(X2, W2, np.ones(16, f32), padding=1)),
    ("conv2d-depthwise", lambda: cc.conv2d(X2, W2[:6, :1], groups=3, padding="same")),
    ("conv2d-strided-view", lambda: cc.conv2d(X2[:, :, ::2, ::-1], W2, stride=2)),
    ("conv2d-int", lambda: cc.conv2d(X2.astype(np.int16), W2.astype(np.int64))),
    ("conv3d", lambda: cc.conv3d(X3, W3, padding=1)),
    ("correlate", lambda: cc.correlate(X2[0, 0], W2[0, 0], "full")),
    ("convolve", lambda: cc.convolve(X1[0, 0], W1[0, 0], "same")),
    ("max_pool1d", lambda: cc.max_pool1d(X1, 3, 2, 1)),
    ("max_pool2d", lambda: cc.max_pool2d(X2, 3, 1, 1, ceil_mode=True)),
    ("max_pool3d", lambda: cc.max_pool3d(X3, 2)),
    ("avg_pool1d", lambda: cc.avg_pool1d(X1, 4, 2, 2)),
    ("avg_pool2d", lambda: cc.avg_pool2d(X2, 3, 2, 1, count_include_pad=False)),
    ("avg_pool3d", lambda: cc.avg_pool3d(X3, 2, 1)),
    ("sum_pool1d", lambda: cc.sum_pool1d(X1, 3)),
    ("sum_pool2d", lambda: cc.sum_pool2d(X2, 2)),
    ("sum_pool3d", lambda: cc.sum_pool3d(X3, (1, 2, 3))),
    ("relu", lambda: cc.relu(X2)),
    ("relu-list", lambda: cc.relu([-1.0, 2.0, 3.0])),
    ("leaky_relu", lambda: cc.leaky_relu(X3, 0.1)),
    ("elu", lambda: cc.elu(X2, 0.5)),
    ("filter2d", lambda: cc.filter2d(IMG, np.ones((3, 3)) / 9, border="reflect")),
    ("filter2d-grey", lambda: cc.filter2d(IMG[..., 0], [[1, -1]], border="wrap")),
    ("predict", lambda: MODEL.predict(DIGITS)),
    ("predict-one", lambda: MODEL.predict(DIGITS[:1])),
]

BAD_CALLS = [
    ("conv2d-channels", lambda: cc.conv2d(X2, W2[:, :2]), ValueError),
    ("conv1d-stride", lambda: cc.conv1d(X1, W1, stride=0), ValueError),
    ("conv3d-kernel", lambda: cc.conv3d(X3, np.ones((1, 2, 9, 9, 9))), ValueError),
    ("conv2d-complex", lambda: cc.conv2d(X2.astype(complex), W2), TypeError),
    ("conv1d-huge-output", lambda: cc.conv1d(X1, W1, padding=2**40), MemoryError),
    ("correlate-mode", lambda: cc.correlate(X1[0, 0], W1[0, 0], "middle"), ValueError),
    ("max_pool2d-kernel", lambda: cc.max_pool2d(X2, 40), ValueError),
    ("avg_pool1d-padding", lambda: cc.avg_pool1d(X1, 2, padding=5), ValueError),
    ("relu-object", lambda: cc.relu(np.array([1, None], dtype=object)), TypeError),
    ("elu-alpha", lambda: cc.elu(X2, "1"), TypeError),
    ("filter2d-border", lambda: cc.filter2d(IMG, np.ones((3, 3)), border="mirror"), ValueError),
    ("predict-shape", lambda: MODEL.predict(np.zeros((2, 27, 28))), ValueError),
    ("set_num_threads", lambda: cc.set_num_threads(0), ValueError),
]


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _growth(call, n, exc=None):
    def once():
        if exc is None:
            call()
        else:
            try:
                call()
            except exc:
                pass
            else:
                raise AssertionError("the bad call did not raise")

    for _ in range(200):  # warm up: caches, per-thread scratch, the allocator's pools
        once()
    gc.collect()
    before = _rss()
    for _ in range(n):
        once()
    gc.collect()
    return _rss() - before


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")


@pytest.fixture
def threads(request):
    before = cc.get_num_threads()
    cc.set_num_threads(request.param)
    yield request.param
    cc.set_num_threads(before)


@needs_proc
@no_asan
@pytest.mark.parametrize("threads", [1], indirect=True)
@pytest.mark.parametrize("name, call", CALLS, ids=[c[0] for c in CALLS])
def test_no_leak_2000_calls(threads, name, call):
    growth = _growth(call, 2000)
    assert growth < 2 * MB, f"{name}: RSS grew by {growth / MB:.2f} MB over 2,000 calls"


@needs_proc
@no_asan
@pytest.mark.parametrize("threads", [1], indirect=True)
@pytest.mark.parametrize("name, call, exc", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_no_leak_2000_bad_calls(threads, name, call, exc):
    growth = _growth(call, 2000, exc)
    assert growth < 2 * MB, f"{name}: RSS grew by {growth / MB:.2f} MB over 2,000 bad calls"


@needs_proc
@pytest.mark.slow
@no_asan
@pytest.mark.parametrize("threads", [2], indirect=True)
def test_no_leak_10000_calls_of_each(threads):
    report = {}
    for name, call in CALLS:
        report[name] = _growth(call, 10_000)
    for name, call, exc in BAD_CALLS:
        report["bad-" + name] = _growth(call, 10_000, exc)
    print("RSS growth over 10,000 calls (MB):",
          {k: round(v / MB, 2) for k, v in report.items()})
    bad = {k: v for k, v in report.items() if v >= 10 * MB}
    assert not bad, bad
