"""cnncore.shapes: the formulas, checked by brute force (counting windows that fit)."""

from __future__ import annotations

import itertools

import pytest

from cnncore import shapes


def windows(i, k, s, d, before, after, ceil_mode=False):
    """Count windows by sliding them: the definition the formula must agree with."""
    reach = d * (k - 1) + 1
    padded = i + before + after
    count = 0
    start = 0
    while start + reach <= padded:
        count += 1
        start += s
    last_covered = (count - 1) * s + reach - 1
    if ceil_mode and count > 0 and last_covered < padded - 1 and start < i + before:
        # elements left uncovered: a last, partial window, kept when it starts inside the input
        # or its leading padding
        count += 1
    return count


def test_conv_output_size_is_the_number_of_windows():
    for i, k, s, d, b, a in itertools.product(range(1, 12), range(1, 5), range(1, 4), range(1, 3),
                                              range(3), range(3)):
        if i + b + a < d * (k - 1) + 1:
            with pytest.raises(ValueError, match="conv_output_size"):
                shapes.conv_output_size(i, k, s, (b, a), d)
            continue
        assert shapes.conv_output_size(i, k, s, (b, a), d) == windows(i, k, s, d, b, a)


def test_pool_ceil_mode_matches_sliding():
    for i, k, s, p in itertools.product(range(1, 14), range(1, 5), range(1, 4), range(0, 3)):
        if p > k // 2 or i + 2 * p < k:
            continue
        for ceil in (False, True):
            assert shapes.pool_output_size(i, k, s, p, ceil_mode=ceil) == windows(i, k, s, 1, p, p, ceil)


def test_same_gives_ceil_i_over_s_and_extra_at_the_end():
    for i, k, s, d in itertools.product(range(1, 20), range(1, 7), range(1, 5), range(1, 4)):
        b, a = shapes.resolve_padding("same", i, k, s, d)
        assert a - b in (0, 1)
        total = max((-(-i // s) - 1) * s + d * (k - 1) + 1 - i, 0)
        assert b + a == total
        assert shapes.conv_output_size(i, k, s, "same", d) == -(-i // s)


def test_full_and_valid():
    assert shapes.resolve_padding("full", 7, 3) == (2, 2)
    assert shapes.resolve_padding("full", 7, 3, dilation=2) == (4, 4)
    assert shapes.resolve_padding("valid", 7, 3) == (0, 0)
    assert shapes.conv_output_size(7, 3, padding="full") == 9
    assert shapes.resolve_padding(3, 7, 3) == (3, 3)
    assert shapes.resolve_padding((1, 2), 7, 3) == (1, 2)


def test_signal_sizes_and_offsets():
    assert shapes.signal_output_size(7, 2, "valid") == 6
    assert shapes.signal_output_size(2, 7, "valid") == 6
    assert shapes.signal_output_size(7, 2, "same") == 7
    assert shapes.signal_output_size(7, 2, "full") == 8
    assert shapes.signal_offset(7, 4, "same") == 1
    assert shapes.signal_offset(7, 3, "same") == 1
    assert shapes.signal_offset(3, 7, "valid") == 2


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: shapes.conv_output_size(0, 3), ValueError, "input size must be >= 1"),
        (lambda: shapes.conv_output_size(5, 0), ValueError, "kernel size must be >= 1"),
        (lambda: shapes.conv_output_size(5, 3, stride=0), ValueError, "stride must be >= 1"),
        (lambda: shapes.conv_output_size(5, 3, dilation=-1), ValueError, "dilation must be >= 1"),
        (lambda: shapes.conv_output_size(5, 3, padding=-1), ValueError, "padding must be >= 0"),
        (lambda: shapes.conv_output_size(5, 3, padding="half"), ValueError, "padding must be one of"),
        (lambda: shapes.conv_output_size(5, 3, padding=(1, 2, 3)), ValueError, "pair"),
        (lambda: shapes.conv_output_size(5.0, 3), TypeError, "must be an integer"),
        (lambda: shapes.conv_output_size(5, True), TypeError, "bool"),
        (lambda: shapes.conv_output_size(2, 3), ValueError, "more than the padded input"),
        (lambda: shapes.signal_output_size(5, 3, "middle"), ValueError, "mode must be one of"),
        (lambda: shapes.pool_output_size(5, 2, stride=0), ValueError, "stride must be >= 1"),
    ],
)
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_huge_values_are_exact():
    # Python integers: no overflow anywhere in the arithmetic.
    assert shapes.conv_output_size(10, 3, stride=2**64) == 1
    assert shapes.conv_output_size(2**70, 3) == 2**70 - 2
    assert shapes.conv_output_size(10, 1, dilation=2**63) == 10
    with pytest.raises(ValueError):
        shapes.conv_output_size(10, 3, dilation=2**63)
