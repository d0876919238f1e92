"""What fuzzing found (fuzz/fuzz_ops.py, scripts/fuzz.sh), kept as tests, and the fuzz decoder itself.

- Fixed findings: each reproducer as it was minimised, with the behaviour now promised.
- The decoder: a few hundred inputs from a fixed seed through ``fuzz_ops.one_input``, in-process,
  so that CI runs every check the fuzzer makes (on far fewer inputs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cnncore as cc
from cnncore import _common, _core

FUZZ_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "fuzz")


@pytest.fixture
def fuzz_ops(monkeypatch):
    sys.path.insert(0, FUZZ_DIR)
    try:
        import fuzz_ops as mod
    finally:
        sys.path.remove(FUZZ_DIR)
    # The fuzzer's memory limit (its script sets CNNCORE_MAX_BYTES, read when cnncore is imported):
    # the decoder asks for paddings up to 2**31, whose results must be refused, not allocated.
    monkeypatch.setattr(_common, "MAX_BYTES", 32 << 20)
    level = _core.simd_level()
    yield mod
    # one_input picks the dispatch level and the thread count: back to the defaults.
    _core.set_simd_level(level)
    _core.set_num_threads(0)


# ---- fixed -------------------------------------------------------------------------------------

# An empty batch needs no memory, so the size check let any output extents through: 2**62 and
# more reached the core (pybind11's "incompatible function arguments" TypeError for >= 2**63,
# the core's "conv: output extents must be >= 1"), or NumPy refused the shape ("array is too
# big"), none of them naming the function.
# Beyond NumPy's index range and the core's: the first check to see it raises, naming the function.
_HUGE_EMPTY = r"(output size \d+ .*beyond the supported range|the result of shape .* is empty, but)"
EMPTY_BATCH_HUGE = [   # (fname, args, kwargs, error, message)
    ("conv2d", (np.zeros((0, 2, 4, 4)), np.ones((2, 1, 1, 2))),
     dict(stride=4, padding=2**31, dilation=2, groups=2),
     MemoryError, r"the result of shape \(0, 2, 1073741825, 1073741825\) is empty"),
    ("conv2d", (np.zeros((0, 3, 5, 5)), np.ones((6, 1, 4, 2))),
     dict(stride=2, padding=((7, 2), (5, 2**63 - 1)), groups=3),
     (OverflowError, MemoryError), _HUGE_EMPTY),
    ("conv2d", (np.zeros((0, 2, 3, 9)), np.ones((2, 1, 4, 5), bool)),
     dict(stride=2, padding=((4, 0), (0, 2**64)), dilation=2, groups=2),
     (OverflowError, MemoryError), _HUGE_EMPTY),
    ("conv1d", (np.zeros((0, 3, 2), np.float32), np.ones((2, 3, 2), np.float32)),
     dict(padding="full", dilation=2**62 - 1),
     (OverflowError, MemoryError), _HUGE_EMPTY),
]


@pytest.mark.parametrize("fname, args, kwargs, error, message", EMPTY_BATCH_HUGE)
def test_empty_batch_with_huge_output_extents_is_refused_by_name(fname, args, kwargs, error,
                                                                 message):
    with pytest.raises(error, match=rf"^{fname}: {message}"):
        getattr(cc, fname)(*args, **kwargs)


def test_empty_batch_with_reasonable_extents_still_works():
    y = cc.conv2d(np.zeros((0, 2, 4, 4)), np.ones((2, 1, 1, 2)), stride=4, padding=2**10, groups=2)
    assert y.shape == (0, 2, 513, 513) and y.dtype == np.float64


# (out - 1)*stride + dilation*(k - 1) + padding beyond the core's int64 bound came back as the
# core's "conv: stride, dilation and padding are too large for int64 indexing".
@pytest.mark.parametrize("call, fname", [
    (lambda: cc.conv1d(np.ones((1, 1, 1)), np.ones((1, 1, 1)), padding=2**62 - 1,
                       stride=2**62 - 1), "conv1d"),
    (lambda: cc.max_pool1d(np.ones((1, 1, 1)), 2**62 - 2, stride=2**62 - 3, padding=2**61 - 1),
     "max_pool1d"),
])
def test_window_reach_beyond_int64_is_refused_by_name(call, fname):
    with pytest.raises(OverflowError, match=rf"^{fname}: window reach .* beyond the supported range"):
        call()


# ---- found by fuzzing, fixed in conv.cpp, common.h and engine.cpp -------------------------------


def test_engine_with_an_empty_dense_layer_raises_instead_of_aborting():
    code = textwrap.dedent("""
        import numpy as np, cnncore as cc
        from cnncore import _core
        cc.set_num_threads(2)
        e = _core.Engine(1)
        try:   # refused when added now (it was accepted, and run() aborted the process)
            e.add_dense(np.zeros((0, 1), np.float32), None)   # 1 input -> 0 outputs
            e.add_dense(np.zeros((0, 0), np.float32), None)   # 0 inputs
            e.run(np.zeros((5, 1), np.float32))
        except ValueError as exc:
            print("ValueError:", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ValueError:" in out.stdout


def test_inf_weight_on_the_padding_gives_nan_as_pytorch():
    x = np.ones((1, 2, 1))
    w = np.ones((1, 2, 2))
    w[0, 0, 0] = np.inf
    expected = cc.reference.conv1d(x, w, padding=1)   # PyTorch 2.13 gives the same: [nan, inf]
    np.testing.assert_array_equal(expected, [[[np.nan, np.inf]]])
    np.testing.assert_array_equal(cc.conv1d(x, w, padding=1), expected)


def _without_asan_log(env):
    """The environment for a subprocess expected to fail under the sanitized build: its report
    goes to its own stderr (captured here), not to scripts/sanitize.sh's report files."""
    env = dict(env)
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = ":".join(o for o in env["ASAN_OPTIONS"].split(":")
                                       if not o.startswith("log_path="))
    return env


def test_gemm_path_with_a_window_reach_of_2_to_the_60():
    if "avx2" not in _core.simd_levels():
        pytest.skip("the GEMM path needs AVX2")
    code = textwrap.dedent("""
        import numpy as np, cnncore as cc
        x = np.ones((1, 4, 1), np.float32)   # 4 channels, 1 sample
        w = np.ones((8, 4, 2), np.float32)   # 8 filters: the GEMM path; 2 taps 2**60 - 1 apart
        y = cc.conv1d(x, w, padding=(2**59, 2**59 - 1), dilation=2**60 - 1)
        print(y.shape, y.ravel().tolist())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=_without_asan_log(os.environ))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(1, 8, 1) " + str([0.0] * 8)   # neither tap reaches x


# Fixed in plane_filter.cpp: a strip of border-extended rows sized by the dilated reach (a 2 GB
# allocation for one output at dilation 2**27; std::bad_alloc at 2**40; at 2**61 in 2-D, a signed
# overflow in the size, caught by UBSan). Huge reaches now read the input tap by tap.
def test_huge_dilation_with_same_padding_does_not_allocate_the_padding():
    # 'same' pads 2**41 - 1 before; of the five taps only the middle one lands in x (at x[1]).
    for dtype in (np.float32, np.float64):
        y = cc.conv1d(np.ones((1, 1, 3), dtype), np.arange(1, 6, dtype=dtype)[None, None],
                      padding="same", dilation=2**40, stride=3)
        np.testing.assert_array_equal(y, [[[3.0]]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dilation", [2**61 - 2, 2**40 + 1, 2**31])
def test_depthwise_2d_with_huge_dilation(dilation, dtype):
    x = np.arange(1.0, 7.0, dtype=dtype).reshape(1, 2, 1, 3)
    w = np.ones((2, 1, 2, 2), dtype)
    # Padded by the dilation before, nothing after: one output row, three columns; of the taps
    # (a, b), only (1, 1) lands in x, right on x[0, f, 0, j]. So y == x.
    y = cc.conv2d(x, w, padding=((dilation, 0), (dilation, 0)), dilation=dilation, groups=2)
    np.testing.assert_array_equal(y, x)


# Fixed in pool.cpp: the AVX2 pooling's row buffer spans every window's columns, so a kernel far
# larger than the input (allowed: padding up to half the kernel) allocated its whole width:
# 2.4 GB and 3 s for one output at kernel_size=2**28, std::bad_alloc at 2**40; through
# _core.Engine with an inconsistent geometry, 16 GB at dilation 2**32.
@pytest.mark.parametrize("level", _core.simd_levels())
@pytest.mark.parametrize("k", [2**28, 2**40])
def test_pooling_with_a_kernel_far_larger_than_the_input(level, k):
    before = _core.simd_level()
    _core.set_simd_level(level)
    try:
        x = np.arange(1.0, 4.0, dtype=np.float32).reshape(1, 1, 3)
        # One window: [-k/2, k/2) holds the whole input; its size k is the divisor by default.
        assert cc.max_pool1d(x, k, padding=k // 2).tolist() == [[[3.0]]]
        assert cc.sum_pool1d(x, k, padding=k // 2).tolist() == [[[6.0]]]
        assert cc.avg_pool1d(x, k, padding=k // 2).tolist() == [[[np.float32(6.0 / k)]]]
        assert cc.avg_pool1d(x, k, padding=k // 2, count_include_pad=False).tolist() == [[[2.0]]]
        e = _core.Engine(1)   # a geometry the Python layer would refuse: out of 1, dilation 2**32
        e.add_pool("max", 1, (1, 1, 1), (1, 1, 1), (1, 3, 2), (1, 3, 2), (0, 0, 1), (1, 3, 0),
                   (1, 1, 2**32), True)
        assert e.run(np.ones((1, 1), np.float32)).tolist() == [[-np.inf]]
    finally:
        _core.set_simd_level(before)


# Fixed in conv_gemm_avx2.cpp: with a negative padding (the core takes one: the windows start
# inside the row; the Python layer never passes it, _core.conv and _core.Engine do), the zero-padded
# strip's copy started writing before the strip: a heap-buffer-overflow (ASan) that glibc
# reported later as "double free or corruption".
@pytest.mark.parametrize("pad_w", [-1, -3, -7])
def test_gemm_strip_with_a_negative_padding(pad_w):
    x = np.arange(10, dtype=np.float32).reshape(1, 1, 1, 1, 10)
    w = np.ones((8, 1, 1, 1, 2), np.float32)   # 8 filters: the GEMM path on AVX2
    out = (1, 1, 9 + pad_w)   # window o: x[o - pad_w] and x[o - pad_w + 1], inside x
    args = (x, w, None, (1, 1, 1), (0, 0, pad_w), (1, 1, 1), out, 1)
    ref = _core.conv(*args, "reference")
    for level in _core.simd_levels():
        before = _core.simd_level()
        _core.set_simd_level(level)
        try:
            np.testing.assert_array_equal(_core.conv(*args, "auto"), ref)
        finally:
            _core.set_simd_level(before)
    # Output o sums x[o - pad_w] and x[o - pad_w + 1].
    np.testing.assert_array_equal(ref[0, 0, 0, 0], [2 * (o - pad_w) + 1 for o in range(out[2])])


# ---- the decoder --------------------------------------------------------------------------------

# Inputs the fuzzer saved (literals, not files): the Engine abort above, now steered around.
SAVED_INPUTS = [
    b"\xff\xff\xff\xfd\x08J\xf2\x17\x17\x17\x17\x00\x00\x00\x00" + b"\x17" * 16 + b"\x97",
    b"",
]


@pytest.mark.parametrize("data", SAVED_INPUTS)
def test_saved_inputs_replay_without_finding(fuzz_ops, data):
    fuzz_ops.one_input(data)


def test_fuzz_decoder_on_seeded_random_inputs(fuzz_ops):
    """400 inputs: every check the fuzzer makes, and enough of them reach a compared result."""
    rng = np.random.default_rng(20240611)
    fuzz_ops.STATS.clear()
    for _ in range(400):
        fuzz_ops.one_input(rng.bytes(int(rng.integers(0, 512))))
    stats = dict(fuzz_ops.STATS)
    # About 120, 300 and 80 on an AVX2 machine: most random bytes make a call that must fail.
    assert stats.get("returned", 0) >= 60, stats
    assert stats.get("refused", 0) >= 100, stats
    assert stats.get("compared", 0) >= 30, stats


def test_fuzz_checks_can_fail(fuzz_ops):
    """The oracle is not vacuous: a wrong value, a stray NaN or a wrong shape is a Finding."""
    ref = np.array([1.0, 2.0, np.inf, np.nan])
    fuzz_ops.assert_close(ref.copy(), ref, np.abs(ref), 1, "same")
    for bad in ([1.0, 2.001, np.inf, np.nan], [1.0, np.nan, np.inf, np.nan],
                [1.0, 2.0, -np.inf, np.nan], [1.0, 2.0, np.inf, 0.0], [1.0, 2.0, np.inf]):
        with pytest.raises(fuzz_ops.Finding):
            fuzz_ops.assert_close(np.array(bad), ref, np.abs(ref), 1, "bad")
    with pytest.raises(fuzz_ops.Finding, match="unexpected IndexError"):
        fuzz_ops._call("f", lambda: [][1], (), {})
    with pytest.raises(fuzz_ops.Finding, match="without the function's name"):
        fuzz_ops._call("conv2d", lambda: cc.relu("x"), (), {})


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("where", [0, 65535, 65536, -1])
def test_one_non_finite_weight_among_many_is_found(threads, where):
    # The weights' finiteness is checked in blocks of 64K, on every thread: a single infinite
    # weight in any block (first, the last of the first, the first of the second, the very last)
    # must send the call to the literal kernel, where it meets the padding as NaN (w * 0).
    w = np.full((64, 128, 3, 3), 0.01, np.float32)   # 73,728 weights: two blocks
    w.reshape(-1)[where] = np.inf
    x = np.ones((1, 128, 6, 6), np.float32)
    before = cc.get_num_threads()
    cc.set_num_threads(threads)
    try:
        got = cc.conv2d(x, w, padding=1)
    finally:
        cc.set_num_threads(before)
    want = cc.reference.conv2d(x, w, padding=1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-4)  # float32 sums of 1,152 terms
    assert np.isnan(got).any() and np.isinf(got).any()
