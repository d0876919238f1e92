"""correlate/convolve against cnncore.reference over 2,400 generated cases."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import reference, shapes

from cases import signal_cases
from conftest import assert_close

CHUNKS = 24


def run_case(c):
    x, w, mode = c["x"], c["w"], c["mode"]
    y = getattr(cc, c["func"])(x, w, mode)
    assert y.dtype == np.result_type(x, w, np.float32), c["case"]
    want = tuple(shapes.signal_output_size(a, b, mode) for a, b in zip(x.shape, w.shape))
    assert y.shape == want, f"{c['case']}: {y.shape} != shapes' {want}"
    ref = getattr(reference, c["func"])
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    r = ref(x64, w64, mode)
    assert_close(y, r, ref(np.abs(x64), np.abs(w64), mode), w.size, c["dtype"], c["case"])
    return y


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_signal_matches_reference(chunk):
    for c in signal_cases(100, seed=7000 + chunk):
        run_case(c)


def test_convolve_is_correlate_with_flipped_kernel():
    rng = np.random.default_rng(11)
    for shape_x, shape_w in [((17,), (4,)), ((6, 9), (3, 2)), ((3,), (8,)), ((4, 4), (5, 6))]:
        x = rng.integers(-5, 6, shape_x).astype(np.float64)
        w = rng.integers(-5, 6, shape_w).astype(np.float64)
        for mode in ("valid", "same", "full"):
            flipped = w[(slice(None, None, -1),) * w.ndim]
            np.testing.assert_array_equal(cc.convolve(x, w, mode), cc.correlate(x, flipped, mode))
