"""Every bad argument raises a clear ValueError or TypeError naming the function and the argument,
and nothing crashes. Huge integers give the right answer or a clear error, never a wrong shape."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc


X1 = np.ones((1, 2, 10))
W1 = np.ones((3, 2, 3))
X2 = np.ones((1, 4, 8, 8))
W2 = np.ones((2, 4, 3, 3))
X3 = np.ones((1, 2, 5, 5, 5))
W3 = np.ones((2, 2, 2, 2, 2))

BAD_CALLS = [
    # (id, call, exception, a regex the message must match)
    ("stride-zero", lambda: cc.conv2d(X2, W2, stride=0), ValueError, r"conv2d: stride must be >= 1"),
    ("stride-negative", lambda: cc.conv1d(X1, W1, stride=-2), ValueError, r"conv1d: stride must be >= 1"),
    ("stride-one-dim-zero", lambda: cc.conv2d(X2, W2, stride=(1, 0)), ValueError, r"conv2d: stride .*\(1, 0\)"),
    ("stride-wrong-length", lambda: cc.conv2d(X2, W2, stride=(1, 1, 1)), ValueError, r"conv2d: stride must be an int or a sequence of 2"),
    ("stride-float", lambda: cc.conv2d(X2, W2, stride=1.5), TypeError, r"conv2d: stride must be an integer"),
    ("stride-str", lambda: cc.conv2d(X2, W2, stride="2"), TypeError, r"conv2d: stride must be an integer"),
    ("dilation-zero", lambda: cc.conv3d(X3, W3, dilation=0), ValueError, r"conv3d: dilation must be >= 1"),
    ("dilation-negative", lambda: cc.max_pool2d(X2, 2, dilation=-1), ValueError, r"max_pool2d: dilation must be >= 1"),
    ("kernel-size-zero", lambda: cc.max_pool2d(X2, 0), ValueError, r"max_pool2d: kernel_size must be >= 1"),
    ("kernel-size-negative", lambda: cc.avg_pool1d(X1, -3), ValueError, r"avg_pool1d: kernel_size must be >= 1"),
    ("kernel-empty", lambda: cc.conv2d(X2, np.ones((2, 4, 0, 3))), ValueError, r"conv2d: w has an empty kernel"),
    ("padding-negative", lambda: cc.conv2d(X2, W2, padding=-1), ValueError, r"conv2d: padding must be >= 0"),
    ("padding-unknown-mode", lambda: cc.conv2d(X2, W2, padding="half"), ValueError, r"conv2d: padding must be one of"),
    ("padding-bad-pairs", lambda: cc.conv2d(X2, W2, padding=((1, 2, 3), (0, 0))), ValueError, r"conv2d: padding"),
    ("padding-float", lambda: cc.conv1d(X1, W1, padding=1.0), TypeError, r"conv1d: padding must be an integer"),
    ("pool-padding-over-half", lambda: cc.max_pool2d(X2, 2, padding=2), ValueError, r"max_pool2d: padding must be at most half"),
    ("pool-padding-full", lambda: cc.avg_pool2d(X2, 2, padding="full"), ValueError, r"avg_pool2d: padding"),
    ("groups-not-dividing-channels", lambda: cc.conv2d(X2, np.ones((3, 2, 3, 3)), groups=3), ValueError, r"conv2d: groups=3 does not divide the 4 channels"),
    ("groups-not-dividing-filters", lambda: cc.conv2d(X2, np.ones((3, 2, 3, 3)), groups=2), ValueError, r"conv2d: groups=2 does not divide the 3 filters"),
    ("groups-zero", lambda: cc.conv2d(X2, W2, groups=0), ValueError, r"conv2d: groups must be >= 1"),
    ("groups-float", lambda: cc.conv2d(X2, W2, groups=2.0), TypeError, r"conv2d: groups must be an integer"),
    ("channel-mismatch", lambda: cc.conv2d(X2, np.ones((2, 3, 3, 3))), ValueError, r"conv2d: w has 3 input channels per group but x has 4 channels \(groups=1\)"),
    ("bias-wrong-length", lambda: cc.conv2d(X2, W2, np.ones(3)), ValueError, r"conv2d: bias must have shape \(2,\)"),
    ("bias-2d", lambda: cc.conv1d(X1, W1, np.ones((3, 1))), ValueError, r"conv1d: bias must have shape \(3,\)"),
    ("kernel-larger-than-input", lambda: cc.conv2d(np.ones((1, 4, 2, 2)), W2), ValueError, r"conv2d: kernel .* more than the padded input"),
    ("dilated-kernel-larger", lambda: cc.conv1d(X1, W1, dilation=5), ValueError, r"conv1d: kernel of size 3 with dilation 5 reaches 11"),
    ("pool-kernel-larger", lambda: cc.max_pool1d(X1, 11), ValueError, r"max_pool1d: kernel of size 11"),
    ("x-ndim-too-small", lambda: cc.conv2d(np.ones((8, 8)), W2), ValueError, r"conv2d: x must be 4-D \(N, C, H, W\) or 3-D"),
    ("x-ndim-too-large", lambda: cc.conv1d(np.ones((1, 1, 1, 5)), W1), ValueError, r"conv1d: x must be 3-D"),
    ("w-ndim", lambda: cc.conv2d(X2, np.ones((2, 4, 3))), ValueError, r"conv2d: w must be 4-D"),
    ("pool-x-ndim", lambda: cc.max_pool3d(np.ones((4, 4)), 2), ValueError, r"max_pool3d: x must be 5-D"),
    ("x-empty-spatial", lambda: cc.conv2d(np.ones((1, 4, 0, 8)), W2), ValueError, r"conv2d: x has an empty spatial dimension"),
    ("x-no-channels", lambda: cc.conv1d(np.ones((1, 0, 8)), np.ones((1, 0, 3))), ValueError, r"conv1d: x must have at least one channel"),
    ("x-complex", lambda: cc.conv2d(X2.astype(complex), W2), TypeError, r"conv2d: x must hold real numbers .* complex128"),
    ("w-complex", lambda: cc.conv1d(X1, W1 + 1j), TypeError, r"conv1d: w must hold real numbers"),
    ("x-object", lambda: cc.relu(np.array([1, None], dtype=object)), TypeError, r"relu: x must hold real numbers .* object"),
    ("x-string", lambda: cc.max_pool1d(np.array([["a", "b"]]), 1), TypeError, r"max_pool1d: x must hold real numbers"),
    ("x-datetime", lambda: cc.elu(np.array(["2026-01-01"], dtype="datetime64[D]")), TypeError, r"elu: x must hold real numbers"),
    ("x-ragged", lambda: cc.relu([[1, 2], [3]]), ValueError, r"relu: x could not be converted"),
    ("bias-string", lambda: cc.conv1d(X1, W1, ["a", "b", "c"]), TypeError, r"conv1d: bias must hold real numbers"),
    ("ceil-mode-string", lambda: cc.max_pool2d(X2, 2, ceil_mode="yes"), TypeError, r"max_pool2d: ceil_mode must be True or False"),
    ("count-include-pad-float", lambda: cc.avg_pool2d(X2, 2, count_include_pad=0.5), TypeError, r"avg_pool2d: count_include_pad"),
    ("slope-string", lambda: cc.leaky_relu(X1, "0.1"), TypeError, r"leaky_relu: negative_slope must be a real number"),
    ("alpha-complex", lambda: cc.elu(X1, 1j), TypeError, r"elu: alpha must be a real number"),
    ("signal-mode", lambda: cc.correlate([1, 2, 3], [1, 2], "middle"), ValueError, r"correlate: mode must be one of"),
    ("signal-ndim-mismatch", lambda: cc.convolve([1, 2, 3], [[1, 2]]), ValueError, r"convolve: w must have as many dimensions as x"),
    ("signal-3d", lambda: cc.correlate(np.ones((2, 2, 2)), np.ones((1, 1, 1))), ValueError, r"correlate: x must be 1-D or 2-D"),
    ("signal-empty", lambda: cc.correlate([], [1.0]), ValueError, r"correlate: x and w must not be empty"),
    ("signal-valid-mixed", lambda: cc.correlate(np.ones((5, 2)), np.ones((2, 5))), ValueError, r"correlate: in 'valid' mode"),
    ("threads-zero", lambda: cc.set_num_threads(0), ValueError, r"set_num_threads: n must be >= 1"),
    ("threads-float", lambda: cc.set_num_threads(2.0), TypeError, r"set_num_threads: n must be an integer"),
]


@pytest.mark.parametrize("call, exc, match", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_clearly(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_at_least_thirty_distinct_bad_calls():
    assert len({c[0] for c in BAD_CALLS}) == len(BAD_CALLS) >= 30


HUGE = [2**31, 2**31 - 1, 2**32, 2**63 - 1, 2**63, 2**64, 2**64 + 1]
OK_ERRORS = (ValueError, OverflowError, MemoryError)


def _pairs(v):
    """stride/dilation/padding argument as per-dimension values (pads as (before, after))."""
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


def _brute_conv2d(x, w, stride, padding, dilation, out_shape):
    """Each output element from the definition, in Python integers: no array is padded."""
    (sh, sw), (dh, dw) = _pairs(stride), _pairs(dilation)
    (ph, _), (pw, _) = [p if isinstance(p, tuple) else (p, p) for p in _pairs(padding)]
    H, W = x.shape[-2:]
    y = np.zeros(out_shape)
    for i in range(out_shape[-2]):
        for j in range(out_shape[-1]):
            for a in range(w.shape[-2]):
                for b in range(w.shape[-1]):
                    r, c = i * sh - ph + a * dh, j * sw - pw + b * dw
                    if 0 <= r < H and 0 <= c < W:
                        y[..., i, j] += w[0, 0, a, b] * x[0, 0, r, c]
    return y


def _conv2d_check(stride=1, padding=0, dilation=1):
    x = np.arange(64, dtype=np.float64).reshape(1, 1, 8, 8)
    w = np.arange(1, 10, dtype=np.float64).reshape(1, 1, 3, 3)
    try:
        y = cc.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    except OK_ERRORS as exc:
        assert str(exc).startswith("conv2d:"), exc
        return None
    want_shape = (1, 1) + tuple(
        cc.shapes.conv_output_size(8, 3, s, p, d)
        for s, p, d in zip(_pairs(stride), _pairs(padding), _pairs(dilation))
    )
    assert y.shape == want_shape
    np.testing.assert_array_equal(y, _brute_conv2d(x, w, stride, padding, dilation, want_shape))
    return y


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("arg", ["stride", "padding", "dilation"])
def test_huge_integer_arguments(arg, value):
    y = _conv2d_check(**{arg: value})
    if arg == "stride":
        assert y is not None and y.shape == (1, 1, 1, 1)  # one window: the top-left one
    # Mixed: a huge stride with a huge padding, per dimension.
    _conv2d_check(stride=(value, 1), padding=((value, 0), (1, 1)))


@pytest.mark.parametrize("value", HUGE)
def test_huge_values_elsewhere(value):
    x = np.ones((1, 1, 8, 8))
    # A one-tap kernel ignores its dilation: the result is the input.
    np.testing.assert_array_equal(cc.conv2d(x, np.ones((1, 1, 1, 1)), dilation=value), x)
    with pytest.raises(ValueError, match="max_pool2d: kernel"):
        cc.max_pool2d(x, value)
    np.testing.assert_array_equal(cc.max_pool2d(x, 2, stride=value), [[[[1.0]]]])
    with pytest.raises(ValueError, match="conv2d: groups"):
        cc.conv2d(x, np.ones((1, 1, 1, 1)), groups=value)
    with pytest.raises(OK_ERRORS):
        cc.sum_pool1d(np.ones((1, 4)), 2, padding=value)


def test_huge_output_raises_memory_error_before_allocating():
    with pytest.raises(MemoryError, match=r"conv1d: the result of shape .* needs \d+ bytes"):
        cc.conv1d(np.ones((1, 1, 8)), np.ones((1, 1, 1)), padding=2**40)


def test_nothing_crashed_and_the_next_call_works():
    np.testing.assert_array_equal(cc.correlate([0, 1, 2, 3, 4, 5, 6], [1, 2]), [2, 5, 8, 11, 14, 17])
