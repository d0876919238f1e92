"""conv1d/2d/3d against cnncore.reference over 2,400 generated cases per dimension."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import reference, shapes

from cases import conv_cases
from conftest import assert_close

CHUNKS = 24  # x 100 cases, per dimension
FUNCS = {1: cc.conv1d, 2: cc.conv2d, 3: cc.conv3d}
REFS = {1: reference.conv1d, 2: reference.conv2d, 3: reference.conv3d}


def run_case(c, func=None, ref=None):
    nd = c["nd"]
    func = func or FUNCS[nd]
    ref = ref or REFS[nd]
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    x, w, b = c["x"], c["w"], c["bias"]
    y = func(x, w, b, **kw)

    # dtype policy and shapes.
    want_dtype = np.result_type(x, w, np.float32) if b is None else np.result_type(x, w, b, np.float32)
    assert y.dtype == want_dtype, c["case"]
    assert y.flags.c_contiguous
    batched = x.ndim == nd + 2
    xs = x.shape if batched else (1,) + x.shape
    pads, outs, _, _ = shapes.conv_output_shape(xs[2:], w.shape[2:], c["stride"], c["padding"], c["dilation"])
    want_shape = ((xs[0],) if batched else ()) + (w.shape[0],) + tuple(outs)
    assert y.shape == want_shape, f"{c['case']}: {y.shape} != shapes' {want_shape}"

    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    r = ref(x64, w64, b64, **kw)
    assert r.shape == y.shape, f"{c['case']}: reference shape {r.shape} != {y.shape}"
    r_abs = ref(np.abs(x64), np.abs(w64), None if b is None else np.abs(b64), **kw)
    terms = w.shape[1] * int(np.prod(w.shape[2:])) + (b is not None)
    assert_close(y, r, r_abs, terms, c["dtype"], c["case"])
    return y


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_conv_matches_reference(nd, chunk, simd):
    for c in conv_cases(nd, 100, seed=1000 * nd + chunk):
        run_case(c)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_reference_kernel_of_core_agrees(nd):
    # The C++ reference kernel (kept as the oracle of the fast ones) against the NumPy reference.
    from cnncore._conv import conv_nd

    def core_ref(x, w, b, **kw):
        return conv_nd(f"conv{nd}d", nd, x, w, b, kw["stride"], kw["padding"], kw["dilation"],
                       kw["groups"], impl="reference")

    for c in conv_cases(nd, 150, seed=77 + nd):
        run_case(c, func=core_ref)
