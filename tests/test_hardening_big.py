"""Arrays of more than 2**31 elements compute correctly to the last element (one slow test: an
8.6 GB float32 input, about 9 GB at the peak; run in a child process that reports its time and
peak memory)."""

from __future__ import annotations

import os

import pytest

from subproc import run_script

BIG_CHILD = r'''
import resource
import time

# 14 GiB of address space: an unplanned allocation fails as MemoryError here instead of calling
# the OOM killer onto the machine.
resource.setrlimit(resource.RLIMIT_AS, (14 << 30, 14 << 30))

import numpy as np

import cnncore as cc
from cnncore import _core

t_start = time.perf_counter()
L = 2**31 + 1061                    # past 2**31 elements; the last window of 64 holds only 37
M = 1_000_003                       # values i % M: exact in float32, never periodic in 64
x = np.empty((1, 1, L), np.float32)
flat = x.reshape(-1)
step = 2**26
for a in range(0, L, step):
    b = min(L, a + step)
    flat[a:b] = np.arange(a, b, dtype=np.int64) % M
t_fill = time.perf_counter() - t_start
times, checks = {}, {}


def pool_check(name, f, xv, rows, width):
    # kernel = stride = 64, the partial last window of each row kept (ceil_mode).
    t = time.perf_counter()
    y = f(xv, 64, ceil_mode=True).reshape(rows, -1)
    times[name] = time.perf_counter() - t
    x2 = xv.reshape(rows, width)
    nwin = width // 64
    want = np.empty((rows, nwin + 1))
    rb = max(1, 2**18 // nwin)                  # numpy's answer in blocks of <= 2**24 samples
    wb = min(nwin, 2**18)
    for r0 in range(0, rows, rb):
        for w0 in range(0, nwin, wb):
            w1 = min(nwin, w0 + wb)
            block = x2[r0:r0 + rb, w0 * 64:w1 * 64].reshape(-1, w1 - w0, 64)
            want[r0:r0 + rb, w0:w1] = (block.max(axis=2) if "max" in name
                                       else block.astype(np.float64).mean(axis=2))
        tail = x2[r0:r0 + rb, nwin * 64:].astype(np.float64)
        # the ceil_mode window divides by what it holds (PyTorch's rule)
        want[r0:r0 + rb, nwin] = tail.max(axis=1) if "max" in name else tail.mean(axis=1)
    equal = bool(np.array_equal(y, want))
    worst = float((np.abs(y - want) / np.maximum(want, 1.0)).max())
    checks[name] = dict(shape=list(y.shape), want_shape=[rows, width // 64 + 1], equal=equal,
                        worst_rel=worst, last=float(y[-1, -1]),
                        want_last=float(want[-1, -1]))


# One row of more than 2**31 samples, on the portable kernels and on the default ones (whose
# row buffers cover a chunk of columns, not the row), then 1024 rows of 2**21 + 1 samples
# (2**31 + 1024 in all) on the default kernels.
level = _core.simd_level()
_core.set_simd_level("generic")
pool_check("max_pool1d-row", cc.max_pool1d, x, 1, L)
pool_check("avg_pool1d-row", cc.avg_pool1d, x, 1, L)
_core.set_simd_level(level)
pool_check("max_pool1d-row-" + level, cc.max_pool1d, x, 1, L)
pool_check("avg_pool1d-row-" + level, cc.avg_pool1d, x, 1, L)
rows, width = 1024, 2**21 + 1
xr = flat[:rows * width].reshape(rows, 1, width)
pool_check("max_pool1d-rows", cc.max_pool1d, xr, rows, width)
pool_check("avg_pool1d-rows", cc.avg_pool1d, xr, rows, width)

# conv1d with stride 64 over the long row: the dense kernel (8 filters) and the direct one (1).
rng = np.random.default_rng(0)
for name, filters in (("conv1d-gemm", 8), ("conv1d-direct", 1)):
    w = rng.integers(-3, 4, (filters, 1, 5)).astype(np.float32)
    t = time.perf_counter()
    y = cc.conv1d(x, w, stride=64)[0]
    times[name] = time.perf_counter() - t
    n_out = (L - 5) // 64 + 1
    idx = np.concatenate([np.arange(n_out - 2000, n_out), rng.integers(0, n_out, 20_000)])
    win = np.stack([flat[idx * 64 + k] for k in range(5)], axis=1).astype(np.float64)
    want = win @ w[:, 0, :].astype(np.float64).T          # (points, filters)
    # Values below 10**6 times integers of at most 3, five terms: every partial sum stays below
    # 1.5e7 < 2**24, so float32 is exact and the comparison is equality.
    checks[name] = dict(shape=[y.shape[-1]], want_shape=[n_out],
                        equal=bool(np.array_equal(y[:, idx].T.astype(np.float64), want)),
                        last=y[:, -1].tolist(), want_last=want[1999].tolist())
    del y

report(dict(times=times, fill_seconds=t_fill, total_seconds=time.perf_counter() - t_start,
            peak_bytes=status_kb("VmHWM"), checks=checks))
'''


def _free_memory():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="needs Linux /proc")
def test_more_than_2_31_elements_to_the_last_element(tmp_path):
    if _free_memory() < 12 * 2**30:
        pytest.skip("needs about 11 GB of free memory")
    res = run_script(tmp_path, BIG_CHILD, timeout=1800)
    print("more than 2**31 elements:", res)
    c = res["checks"]
    for name, check in c.items():
        assert check["shape"] == check["want_shape"], (name, check)
        assert check["last"] == check["want_last"] or "avg" in name, (name, check)
    for name in ("max_pool1d-row", "max_pool1d-rows", "conv1d-gemm", "conv1d-direct"):
        assert c[name]["equal"], (name, c[name])
    for name in ("avg_pool1d-row", "avg_pool1d-rows"):
        assert c[name]["worst_rel"] <= 66 * 2**-23, (name, c[name])  # a float32 sum of 64
