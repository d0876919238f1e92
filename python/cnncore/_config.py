"""Threads and build configuration."""

from __future__ import annotations

import platform
import sys

import numpy as np

from . import _core
from ._common import as_int
from ._version import __version__


def get_num_threads() -> int:
    """The number of threads cnncore's kernels use, as seen from the calling thread.

    The default is OpenMP's (``OMP_NUM_THREADS``, else the number of cores). A limit set with
    ``threadpoolctl.threadpool_limits`` on the calling thread is honoured.
    """
    return _core.get_num_threads()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (``n >= 1``) in every later call, from whichever Python thread it comes.

    Results do not depend on the thread count: every output element is computed by one thread in
    a fixed order, so 1 and 2 threads give bitwise identical results.
    """
    n = as_int(n, "n", "set_num_threads")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    if n > 4096:
        raise ValueError(f"set_num_threads: n must be at most 4096, got {n}")
    _core.set_num_threads(n)


def show_config(print_out: bool = True) -> dict:
    """Report the version, compiler, OpenMP, SIMD level and threads; return them as a dict.

    >>> import cnncore as cc
    >>> info = cc.show_config(print_out=False)
    >>> info["version"] == cc.__version__, info["openmp"] in (True, False)
    (True, True)
    """
    core = dict(_core.config())
    info = {
        "version": __version__,
        "compiler": core["compiler"],
        "openmp": core["openmp"],
        "openmp_version": core.get("openmp_version"),
        "simd_in_use": core["simd_in_use"],
        "simd_levels": list(_core.simd_levels()),
        "cpu_features": core["cpu_features"],
        "num_threads": _core.get_num_threads(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    if print_out:
        width = max(len(k) for k in info)
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return info
