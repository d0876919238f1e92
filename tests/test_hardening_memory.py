"""Memory limits: a call whose result or working memory would exceed the limit raises MemoryError
naming the bytes, before allocating; working memory stays bounded (tiles, strips, batches), not
proportional to padding or dilation; the 1x16x1024x1024 input with a 16 -> 1 31x31 kernel runs
under a 4 GiB address-space limit.

The limit is the physical memory, or CNNCORE_MAX_BYTES (read at import): the tests that set it,
or that limit the address space, run in a child process (tests/subproc.py)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import cnncore as cc

from conftest import no_asan

from subproc import run_script

MiB = 2**20


# ----------------------------------------------------------------------------------------------
# Every op family refuses a result (or a copy, or a batch's working memory) over CNNCORE_MAX_BYTES


LIMIT = 1_000_000

LIMIT_CHILD = r'''
import re
import sys
import tracemalloc

import numpy as np

import cnncore as cc
from cnncore import nn

LIMIT = int(sys.argv[1])
f32, f64 = np.float32, np.float64
rng = np.random.default_rng(0)
model = nn.lecture_model()          # its weights load under the limit (684 kB of float32)
digits = rng.integers(0, 256, (30_000, 28, 28), dtype=np.uint8)
sample = digits[:20]

# (name, function, its arguments, the bytes the message must name): each over the limit. The
# arrays are made here, before the allocations are traced.
REFUSED = [
    ("conv1d", cc.conv1d, (np.ones((1, 1, 8)), np.ones((1, 1, 1))), dict(padding=100_000),
     200_008 * 8),
    ("conv2d", cc.conv2d, (np.ones((1, 1, 4, 4), f32), np.ones((1, 1, 1, 1), f32)),
     dict(padding=300), 604 * 604 * 4),
    ("conv3d", cc.conv3d, (np.ones((1, 1, 2, 2, 2), f32), np.ones((1, 1, 1, 1, 1), f32)),
     dict(padding=40), 82**3 * 4),
    ("correlate", cc.correlate, (np.ones(200_000, f32), np.ones(200_000, f32), "full"), {},
     399_999 * 4),
    ("convolve", cc.convolve, (np.ones((400, 400), f32), np.ones((300, 300), f32), "full"), {},
     699 * 699 * 4),
    ("max_pool1d", cc.max_pool1d, (np.ones((2, 1, 200_000), f32), 3, 1, 1), {}, 400_000 * 4),
    ("max_pool2d", cc.max_pool2d, (np.ones((1, 600, 600), f32), 3, 1, 1), {}, 360_000 * 4),
    ("max_pool3d", cc.max_pool3d, (np.ones((1, 70, 70, 70), f32), 1), {}, 70**3 * 4),
    ("avg_pool1d", cc.avg_pool1d, (np.ones((1, 1, 300_000), f32), 1), {}, 300_000 * 4),
    ("avg_pool2d", cc.avg_pool2d, (np.ones((1, 1, 600, 600)), 2, 1, 1), {}, 601 * 601 * 8),
    ("avg_pool3d", cc.avg_pool3d, (np.ones((1, 70, 70, 70), f32), 1), {}, 70**3 * 4),
    ("sum_pool1d", cc.sum_pool1d, (np.ones((1, 1, 300_000), f32), 1), {}, 300_000 * 4),
    ("sum_pool2d", cc.sum_pool2d, (np.ones((1, 600, 600), f32), 1), {}, 360_000 * 4),
    ("sum_pool3d", cc.sum_pool3d, (np.ones((1, 70, 70, 70), f32), 1), {}, 70**3 * 4),
    ("relu", cc.relu, (np.ones(300_000, f32),), {}, 300_000 * 4),           # the one-call path
    ("leaky_relu", cc.leaky_relu, (np.ones((300, 1000)),), {}, 300_000 * 8),
    ("elu", cc.elu, (np.ones(300_000, np.int16),), {}, 300_000 * 4),        # converted
    ("relu", cc.relu, (np.ones(600_000, f32)[::2],), {}, 300_000 * 4),      # strided
    ("filter2d", cc.filter2d, (np.ones((700, 700), np.uint8), np.ones((3, 3))), {},
     700 * 700 * 4),
    ("filter2d", cc.filter2d, (np.ones((400, 400, 3), np.uint8), np.ones((3, 3))), {},
     400 * 400 * 3 * 4),
    ("predict", model.predict, (digits,), {}, 30_000 * 10 * 4),              # the result
    ("predict", model.predict, (sample,), dict(batch_size=20),              # a batch's memory
     20 * model._bytes_per_sample()),
    ("conv1d", cc.conv1d, (np.ones((1, 1, 200_000), np.int64), np.ones((1, 1, 1))),
     dict(stride=1000), 200_000 * 8),                                       # x's float64 copy
]

out = []
for fname, func, args, kwargs, want_bytes in REFUSED:
    tracemalloc.start()
    try:
        func(*args, **kwargs)
        outcome, msg = "returned", ""
    except MemoryError as exc:
        outcome, msg = "MemoryError", str(exc)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        outcome, msg = type(exc).__name__, str(exc)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out.append(dict(fname=fname, want_bytes=want_bytes, outcome=outcome, msg=msg, peak=peak))

# Under the limit, the same families still work (the limit refuses only what exceeds it).
x = rng.standard_normal((1, 2, 20, 20)).astype(f32)
w = rng.standard_normal((3, 2, 3, 3)).astype(f32)
ok = [
    cc.conv2d(x, w, padding=1).shape == (1, 3, 20, 20),
    cc.max_pool2d(x, 2).shape == (1, 2, 10, 10),
    cc.relu(np.ones(1000, f32)).shape == (1000,),
    cc.elu(np.ones(1000)).shape == (1000,),
    cc.correlate(x[0, 0], w[0, 0], "same").shape == (20, 20),
    cc.filter2d(np.ones((50, 50, 3), np.uint8), np.ones((3, 3))).shape == (50, 50, 3),
]
# The default batch shrinks to fit the limit; its results are those of one sample at a time.
default = model.predict(sample)
singles = np.concatenate([model.predict(sample[i:i + 1], batch_size=1) for i in range(20)])
ok.append(default.tobytes() == singles.tobytes())
report(dict(refused=out, ok=ok))
'''


def test_every_op_family_refuses_over_the_limit_before_allocating(tmp_path):
    res = run_script(tmp_path, LIMIT_CHILD, timeout=120, args=[LIMIT],
                     env={"CNNCORE_MAX_BYTES": str(LIMIT)})
    assert all(res["ok"]), res["ok"]
    families = set()
    for r in res["refused"]:
        case = f"{r['fname']} ({r['want_bytes']} bytes)"
        assert r["outcome"] == "MemoryError", f"{case}: {r['outcome']} {r['msg']}"
        assert r["msg"].startswith(r["fname"] + ": "), f"{case}: {r['msg']}"
        # The message names the bytes needed and the limit.
        assert f"needs {r['want_bytes']} bytes" in r["msg"], f"{case}: {r['msg']}"
        assert f"{LIMIT} bytes" in r["msg"], f"{case}: {r['msg']}"
        # Refused before allocating: far less than the result was ever allocated.
        assert r["peak"] < LIMIT // 4, f"{case}: {r['peak']} bytes allocated before refusing"
        families.add(r["fname"])
    assert len(families) == 19


@pytest.mark.parametrize("call", [
    lambda: cc.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 1, 1)), padding=2**21),
    lambda: cc.conv3d(np.ones((1, 1, 2, 2, 2), np.float32), np.ones((2, 1, 1, 1, 1), np.float32),
                      padding=2**15),
    lambda: cc.conv2d(np.ones((3, 4, 4)), np.ones((2**18, 3, 1, 1), np.float32), padding=2**10),
], ids=["conv2d-padding", "conv3d-padding", "conv2d-filters"])
def test_results_beyond_physical_memory_are_refused_in_process(call):
    # At the default limit (the machine's memory); test_errors.py checks conv1d the same way.
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError, match=r"conv[23]d: the result of shape .* needs \d+ bytes "
                                              r"\(.*\), more than the \d+ bytes"):
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB


# ----------------------------------------------------------------------------------------------
# Working memory: bounded by tiles, strips and batches; not by padding, stride or dilation


WORKSPACE_CHILD = r'''
import resource
import sys

resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # a runaway case cannot take the machine

import numpy as np

import cnncore as cc
from cnncore import nn, reference

case = sys.argv[1]
cc.set_num_threads(2)
rng = np.random.default_rng(0)
f32 = np.float32
expected = None
allowed = None  # the working memory the design allows beyond 64 MiB and the result

if case == "gemm-plain":                 # the dense kernel, padded: strips of a few rows
    x = rng.standard_normal((2, 64, 160, 160)).astype(f32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(f32)
    call = lambda: cc.conv2d(x, w, padding=1)
    inputs = (x, w)
elif case == "plane-plain":              # depthwise
    x = rng.standard_normal((2, 32, 300, 300)).astype(f32)
    w = rng.standard_normal((32, 1, 5, 5)).astype(f32)
    call = lambda: cc.conv2d(x, w, padding=2, groups=32)
    inputs = (x, w)
elif case == "pool-plain":
    x = rng.standard_normal((2, 32, 300, 300)).astype(f32)
    call = lambda: cc.max_pool2d(x, 3, 1, 1)
    inputs = (x,)
elif case == "predict":                  # the engine's two activation buffers, per batch
    model = nn.lecture_model()
    x = rng.random((3000, 28, 28), dtype=f32)
    call = lambda: model.predict(x)
    inputs = (x,)
    allowed = 1024 * model._bytes_per_sample()
elif case == "pool-long-row":           # a 1-D signal of 2**25 samples, windows of 64
    x = rng.standard_normal((1, 1, 2**25)).astype(f32)
    call = lambda: cc.max_pool1d(x, 64)
    inputs = (x,)
    expected = x.reshape(-1, 64).max(axis=1).reshape(1, 1, -1)
elif case == "gemm-strided-padded":      # a 1x1 kernel, stride 100, wide padding: 1 input pixel
    x = rng.standard_normal((1, 64, 1, 1)).astype(f32)
    w = rng.standard_normal((8, 64, 1, 1)).astype(f32)
    pad = 250_000
    call = lambda: cc.conv2d(x, w, stride=100, padding=((0, 0), (pad, pad)))
    inputs = (x, w)
    expected = np.zeros((1, 8, 1, 2 * pad // 100 + 1))
    expected[0, :, 0, pad // 100] = w[:, :, 0, 0].astype(float) @ x[0, :, 0, 0]
elif case == "gemm-same-dilated":        # 'same' with a huge dilation: only the centre tap counts
    x = rng.standard_normal((1, 4, 1, 10)).astype(f32)
    w = rng.standard_normal((8, 4, 1, 3)).astype(f32)
    call = lambda: cc.conv2d(x, w, padding="same", dilation=10**7)
    inputs = (x, w)
    expected = np.einsum("fc,cj->fj", w[:, :, 0, 1].astype(float), x[0, :, 0].astype(float))
    expected = expected[None, :, None, :]
elif case == "plane-same-dilated":
    x = rng.standard_normal((1, 1, 1, 10)).astype(f32)
    w = rng.standard_normal((1, 1, 1, 3)).astype(f32)
    call = lambda: cc.conv2d(x, w, padding="same", dilation=5 * 10**7)
    inputs = (x, w)
    expected = (w[0, 0, 0, 1].astype(float) * x).astype(float)
elif case == "pool-same-dilated":
    x = rng.standard_normal((1, 1, 10)).astype(f32)
    call = lambda: cc.max_pool1d(x, 3, stride=1, padding="same", dilation=5 * 10**7)
    inputs = (x,)
    expected = x.astype(float)
else:
    raise SystemExit(f"unknown case {case}")

in_bytes = sum(a.nbytes for a in inputs)
peak_reset = reset_peak()
before = rss_bytes()
try:
    y = call()
    err = None
except MemoryError as exc:
    y, err = None, str(exc)
peak = status_kb("VmHWM") - before
after = rss_bytes() - before
correct = None
if y is not None and expected is not None:
    correct = bool(np.allclose(y, expected, rtol=1e-5, atol=1e-5))
report(dict(err=err, peak=peak, after=after, peak_reset=peak_reset, in_bytes=in_bytes,
            out_bytes=0 if y is None else y.nbytes, allowed=allowed, correct=correct))
'''




@no_asan
@pytest.mark.parametrize("case", [
    "gemm-plain", "plane-plain", "pool-plain", "predict",
    "pool-long-row",
    "gemm-strided-padded",
    "gemm-same-dilated",
    "plane-same-dilated",
    "pool-same-dilated",
])
def test_working_memory_is_bounded(tmp_path, case):
    res = run_script(tmp_path, WORKSPACE_CHILD, timeout=120, args=[case])
    if not res["peak_reset"]:
        pytest.skip("/proc/self/clear_refs is not writable here: the peak cannot be measured")
    if res["err"] is not None:
        # Refusing is allowed, with the bytes named: never a bare std::bad_alloc.
        assert "bytes" in res["err"] and any(ch.isdigit() for ch in res["err"]), res["err"]
        return
    if res["correct"] is not None:
        assert res["correct"], case
    # The inputs here are native arrays (no converted copy): beyond the result itself, 64 MiB of
    # tiles and strips, plus what the design allows (the model's batch buffers).
    bound = 64 * MiB + res["out_bytes"] + (res["allowed"] or 0)
    assert res["peak"] <= bound, (
        f"{case}: the call's resident peak grew by {res['peak'] / MiB:.0f} MiB for "
        f"{res['in_bytes']} bytes in and {res['out_bytes']} out (bound {bound / MiB:.0f} MiB)")
    # What the call keeps after returning (per-thread scratch, engine buffers) is bounded alike.
    assert res["after"] - res["out_bytes"] <= 64 * MiB + (res["allowed"] or 0), (
        f"{case}: {(res['after'] - res['out_bytes']) / MiB:.0f} MiB still resident after the call")


# ----------------------------------------------------------------------------------------------
# The big convolution under a 4 GiB address-space limit


AS_CHILD = r'''
import resource
import sys
import time

LIMIT = 4 << 30
resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))  # before numpy and cnncore are imported

import numpy as np

import cnncore as cc

cc.set_num_threads(2)
base = status_kb("VmPeak")
rng = np.random.default_rng(7)
x = rng.standard_normal((1, 16, 1024, 1024), dtype=np.float32)
w = rng.standard_normal((1, 16, 31, 31), dtype=np.float32)
t = time.perf_counter()
y = cc.conv2d(x, w, padding="same")
seconds = time.perf_counter() - t
assert y.shape == (1, 1, 1024, 1024), y.shape

# A few outputs from their definition, in float64: corners, edges, the centre, random points.
x64 = np.pad(x[0].astype(np.float64), ((0, 0), (15, 15), (15, 15)))
w64 = w[0].astype(np.float64)
points = [(0, 0), (0, 1023), (1023, 0), (1023, 1023), (0, 511), (511, 0), (14, 15), (15, 14),
          (512, 512), (1008, 1009)] + [tuple(p) for p in rng.integers(0, 1024, (20, 2))]
worst = 0.0
for i, j in points:
    window = x64[:, i:i + 31, j:j + 31]
    want = float(np.sum(window * w64))
    scale = float(np.sum(np.abs(window * w64)))
    worst = max(worst, abs(float(y[0, 0, i, j]) - want) / scale)
report(dict(seconds=seconds, worst=worst, terms=16 * 31 * 31, base_vmpeak=base,
            vmpeak=status_kb("VmPeak"), limit=LIMIT))
'''


@no_asan
def test_big_convolution_under_4gib_address_space(tmp_path):
    # 'same' padding, float32, the direct path (one output channel), two threads; numpy's BLAS is
    # kept to one thread so that its buffers (not cnncore's) do not decide the outcome on a
    # machine with many cores.
    res = run_script(tmp_path, AS_CHILD, timeout=300, env={"OPENBLAS_NUM_THREADS": "1"})
    eps32 = float(np.finfo(np.float32).eps)
    assert res["worst"] <= (res["terms"] + 2) * eps32, res
    assert res["vmpeak"] <= res["limit"], res
