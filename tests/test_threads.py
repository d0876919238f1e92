"""Threads: 1 and 2 threads give bitwise identical results; the setting is honoured; the GIL is
released during kernels."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import cnncore as cc

from cases import conv_cases, pool_cases


@pytest.fixture
def restore_threads():
    before = cc.get_num_threads()
    yield
    cc.set_num_threads(before)


def _both(f):
    cc.set_num_threads(1)
    a = f()
    cc.set_num_threads(2)
    b = f()
    return a, b


def test_set_and_get(restore_threads):
    cc.set_num_threads(1)
    assert cc.get_num_threads() == 1
    cc.set_num_threads(2)
    assert cc.get_num_threads() == 2
    seen = []
    t = threading.Thread(target=lambda: seen.append(cc.get_num_threads()))
    t.start()
    t.join()
    assert seen == [2]  # holds for whichever Python thread calls


@pytest.mark.parametrize(
    "name, f",
    [
        ("conv2d-big", lambda x, w: cc.conv2d(x, w, padding=1)),
        ("conv2d-strided", lambda x, w: cc.conv2d(x, w, stride=2, dilation=2, padding="same")),
        ("conv2d-depthwise", lambda x, w: cc.conv2d(x, w[:, :1].repeat(1, 1), groups=16)),
        ("maxpool", lambda x, w: cc.max_pool2d(x, 3, 2, 1)),
        ("avgpool", lambda x, w: cc.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
        ("elu", lambda x, w: cc.elu(x)),
        ("correlate", lambda x, w: cc.correlate(x[0, 0], w[0, 0], "full")),
    ],
)
def test_one_and_two_threads_bitwise_identical(restore_threads, name, f):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 16, 37, 41)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    a, b = _both(lambda: f(x, w))
    assert a.tobytes() == b.tobytes()


def test_sweeps_bitwise_identical_across_threads(restore_threads):
    for nd in (1, 2, 3):
        for c in conv_cases(nd, 60, seed=31 + nd):
            f = {1: cc.conv1d, 2: cc.conv2d, 3: cc.conv3d}[nd]
            a, b = _both(lambda: f(c["x"], c["w"], c["bias"], stride=c["stride"], padding=c["padding"],
                                   dilation=c["dilation"], groups=c["groups"]))
            assert a.tobytes() == b.tobytes(), c["case"]
    for c in pool_cases(200, seed=32):
        f = getattr(cc, f"{c['kind']}_pool{c['nd']}d")
        a, b = _both(lambda: f(c["x"], c["kernel_size"], c["stride"], c["padding"]))
        assert a.tobytes() == b.tobytes(), c["case"]


def test_threadpoolctl_limits_take_effect(restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    cc.set_num_threads(2)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert cc.get_num_threads() == 1
    assert cc.get_num_threads() == 2


def test_gil_is_released_during_kernels(restore_threads):
    # While long convolutions run in another thread, this thread keeps running Python code.
    cc.set_num_threads(1)
    x = np.ones((1, 64, 192, 192), dtype=np.float64)  # float64: ~0.1 s or more a call
    w = np.ones((64, 64, 3, 3), dtype=np.float64)
    t0 = time.perf_counter()
    cc.conv2d(x, w, padding=1)
    single = time.perf_counter() - t0
    ticks = []
    done = threading.Event()

    def run():
        for _ in range(3):
            cc.conv2d(x, w, padding=1)
        done.set()

    th = threading.Thread(target=run)
    th.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    th.join()
    # With the GIL held during each call, this loop could tick only between calls (about 3 times).
    assert single > 0.02
    assert len(ticks) > 20, (single, len(ticks))


def test_concurrent_calls_match_serial(restore_threads):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 8, 20, 20)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    want = cc.conv2d(x, w, padding=1)
    errors = []

    def worker():
        for _ in range(30):
            if not np.array_equal(cc.conv2d(x, w, padding=1), want):
                errors.append("mismatch")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_model_predict_bitwise_identical_across_threads_and_batch_splits(restore_threads):
    # The compiled forward pass splits a batch across threads: every sample's numbers must not
    # depend on the split, nor on the batch it came in.
    from cnncore import nn

    model = nn.lecture_model()
    x = np.random.default_rng(3).random((37, 28, 28), dtype=np.float32)
    cc.set_num_threads(1)
    one = model.predict(x)
    cc.set_num_threads(2)
    two = model.predict(x)
    assert one.tobytes() == two.tobytes()
    singles = np.concatenate([model.predict(x[i:i + 1]) for i in range(5)])
    assert singles.tobytes() == two[:5].tobytes()
