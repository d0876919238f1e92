"""relu, leaky_relu and elu against cnncore.reference over 2,400 generated cases."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import reference

from cases import activation_cases

CHUNKS = 24


def call(mod, c, x):
    f = getattr(mod, c["kind"])
    if c["param"] is None:
        return f(x)
    return f(x, c["param"])


def run_case(c):
    x = c["x"]
    y = call(cc, c, x)
    assert y.dtype == np.result_type(x, np.float32), c["case"]
    assert y.shape == x.shape
    r = call(reference, c, x.astype(np.float64))
    if c["kind"] == "relu":
        np.testing.assert_array_equal(y, r.astype(y.dtype), err_msg=c["case"])
    elif y.dtype == np.float64:
        np.testing.assert_allclose(y, r, rtol=1e-14, atol=0, err_msg=c["case"])
    else:
        # The core computes in float32 (slope and alpha rounded to float32, expm1 in float32):
        # a few float32 ulps from the float64 reference.
        np.testing.assert_allclose(y, r, rtol=4 * np.finfo(np.float32).eps, atol=1e-37,
                                   err_msg=c["case"])


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_activation_matches_reference(chunk, simd):
    for c in activation_cases(100, seed=9000 + chunk):
        run_case(c)
