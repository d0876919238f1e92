"""Max, average and sum pooling against cnncore.reference over 2,400 generated cases."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import reference, shapes

from cases import pool_cases
from conftest import assert_close

CHUNKS = 24  # x 100 cases


def call(mod, c, x):
    name = f"{c['kind']}_pool{c['nd']}d"
    f = getattr(mod, name)
    if c["kind"] == "max":
        return f(x, c["kernel_size"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"])
    if c["kind"] == "avg":
        return f(x, c["kernel_size"], c["stride"], c["padding"], c["ceil_mode"], c["count_include_pad"])
    return f(x, c["kernel_size"], c["stride"], c["padding"], c["ceil_mode"])


def run_case(c):
    x, nd = c["x"], c["nd"]
    y = call(cc, c, x)
    assert y.dtype == np.result_type(x, np.float32), c["case"]
    assert y.flags.c_contiguous
    *_, outs = shapes.pool_output_shape(
        x.shape[-nd:], c["kernel_size"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"]
    )
    assert y.shape == x.shape[:-nd] + tuple(outs), f"{c['case']}: {y.shape} vs shapes {outs}"
    x64 = x.astype(np.float64)
    r = call(reference, c, x64)
    assert r.shape == y.shape, f"{c['case']}: reference shape {r.shape} != {y.shape}"
    if c["kind"] == "max":
        # No arithmetic: the same element, exactly, NaN included.
        np.testing.assert_array_equal(y, r.astype(y.dtype), err_msg=c["case"])
    else:
        terms = int(np.prod(np.broadcast_to(c["kernel_size"], (nd,))))
        assert_close(y, r, call(reference, c, np.abs(x64)), terms,
                     "float" if c["kind"] == "avg" else c["dtype"], c["case"])
    return y


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_pool_matches_reference(chunk, simd):
    for c in pool_cases(100, seed=5000 + chunk):
        run_case(c)


def test_sum_pool_is_avg_times_window():
    rng = np.random.default_rng(3)
    x = rng.integers(-9, 10, (2, 3, 11, 13)).astype(np.float64)
    for k, s, p in [(2, 2, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0)), (5, 1, "same")]:
        total = int(np.prod(np.broadcast_to(k, (2,))))
        np.testing.assert_allclose(
            cc.sum_pool2d(x, k, s, p), cc.avg_pool2d(x, k, s, p, count_include_pad=True) * total,
            rtol=1e-14, atol=1e-12,
        )
