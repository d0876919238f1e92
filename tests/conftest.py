"""Shared helpers: tolerance rules and optional peers."""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

EPS32 = float(np.finfo(np.float32).eps)

# Hypothesis profiles, chosen by CNNCORE_HYPOTHESIS_PROFILE:
# - "default": 300 examples per test, derandomized (the examples follow from each test's name, so
#   every run, CI's included, checks the same ones) and no example database (nothing written);
# - "long": 10,000 examples per test, random, with the usual .hypothesis/ database (git-ignored)
#   so that a failure found once is replayed first on the next run.
try:
    from hypothesis import HealthCheck, settings as _hyp_settings
except ImportError:  # hypothesis is in the [test] extra; its tests skip without it
    pass
else:
    _quiet = [HealthCheck.too_slow, HealthCheck.data_too_large]
    _hyp_settings.register_profile(
        "default", max_examples=300, deadline=None, derandomize=True, database=None,
        print_blob=True, suppress_health_check=_quiet,
    )
    _hyp_settings.register_profile(
        "long", max_examples=10_000, deadline=None, print_blob=True, suppress_health_check=_quiet,
    )
    _hyp_settings.load_profile(os.environ.get("CNNCORE_HYPOTHESIS_PROFILE", "default"))


def optional(name):
    """The module `name`, or None when it is not installed (its tests then skip)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def assert_close(y, ref64, ref_abs, terms, kind, case=""):
    """Compare a result against a float64 reference, with a tolerance scaled by the sum's length.

    - integer-valued data (every `int*` kind and uint8): exactly equal;
    - float64: |y - ref| <= 1e-12 * ref_abs, relative to the sum of |terms| (the scale of the
      sum: relative to the result itself is impossible under cancellation);
    - float32 (and float16 inputs, computed in float32): |y - ref| <= (terms + 2) * eps32 * ref_abs,
      the bound of a recursive float32 sum of `terms` products.
    NaN must match NaN and infinities must match exactly in every mode.
    """
    y = np.asarray(y)
    ref64 = np.asarray(ref64, dtype=np.float64)
    assert y.shape == ref64.shape, f"{case}: shape {y.shape} != reference {ref64.shape}"
    yf = y.astype(np.float64)
    nan_y, nan_r = np.isnan(yf), np.isnan(ref64)
    assert np.array_equal(nan_y, nan_r), f"{case}: NaN positions differ"
    finite = np.isfinite(ref64)
    assert np.array_equal(yf[~finite & ~nan_r], ref64[~finite & ~nan_r]), f"{case}: infinities differ"
    yf, r, a = yf[finite], ref64[finite], np.asarray(ref_abs, dtype=np.float64)[finite]
    if kind.startswith("int") or kind == "uint8":
        bad = yf != r
        assert not bad.any(), f"{case}: integer-valued data not exact: {yf[bad][:5]} vs {r[bad][:5]}"
        return
    if y.dtype == np.float64:
        tol = 1e-12 * a
    else:
        tol = (terms + 2) * EPS32 * a
    err = np.abs(yf - r)
    bad = err > tol
    assert not bad.any(), (
        f"{case}: {bad.sum()} element(s) beyond tolerance; worst error {err.max():.3g}, "
        f"tolerance there {tol[np.argmax(err - tol)]:.3g}"
    )


@pytest.fixture
def torch():
    mod = optional("torch")
    if mod is None:
        pytest.skip("PyTorch is not installed (pip install torch==2.13.0)")
    mod.set_num_threads(1)
    return mod


@pytest.fixture
def scipy_signal():
    mod = optional("scipy.signal")
    if mod is None:
        pytest.skip("SciPy is not installed (pip install '.[test]')")
    return mod


def simd_levels():
    """Every dispatch level this machine and build offer ('generic' first)."""
    from cnncore import _core

    return list(_core.simd_levels())


@pytest.fixture(params=simd_levels())
def simd(request):
    """Run the test once per dispatch level, restoring the default afterwards."""
    from cnncore import _core

    before = _core.simd_level()
    _core.set_simd_level(request.param)
    yield request.param
    _core.set_simd_level(before)


# ---- opt-in slow tests: @pytest.mark.slow runs only with --run-slow or CNNCORE_SLOW=1 ----------


# Under AddressSanitizer (scripts/sanitize.sh preloads libasan) memory is not what it measures:
# freed blocks wait in ASan's quarantine (resident memory grows by design) and the shadow
# memory reserves terabytes of address space (a child under RLIMIT_AS cannot even start). The
# tests that measure resident memory or limit address space skip there; the ordinary run has
# them.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
no_asan = pytest.mark.skipif(UNDER_ASAN, reason="measures memory, which AddressSanitizer changes")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (or set CNNCORE_SLOW=1)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("CNNCORE_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or CNNCORE_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
