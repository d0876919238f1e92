"""The package itself: configuration report, public names, docstring examples, command line."""

from __future__ import annotations

import doctest
import subprocess
import sys

import pytest

import cnncore as cc

API_NAMES = """conv1d conv2d conv3d correlate convolve max_pool1d max_pool2d max_pool3d avg_pool1d
avg_pool2d avg_pool3d sum_pool1d sum_pool2d sum_pool3d relu leaky_relu elu get_num_threads
set_num_threads show_config shapes reference""".split()


def test_every_api_name_exists_in_core_and_reference():
    for name in API_NAMES:
        assert hasattr(cc, name), name
    for name in API_NAMES[:17]:
        assert callable(getattr(cc.reference, name)), name
    for name in ("conv_output_size", "resolve_padding", "pool_output_size"):
        assert callable(getattr(cc.shapes, name))


def test_show_config_reports_the_build(capsys):
    info = cc.show_config()
    out = capsys.readouterr().out
    assert info["version"] == cc.__version__
    assert isinstance(info["openmp"], bool)
    assert info["simd_in_use"] in ("generic", "sse2", "neon", "avx2+fma", "avx512f+avx2+fma")
    assert info["simd_levels"][0] == "generic"
    assert info["num_threads"] == cc.get_num_threads() >= 1
    assert info["compiler"] and info["compiler"] in out
    for key in ("version", "compiler", "openmp", "simd_in_use"):
        assert key in out


@pytest.mark.parametrize(
    "module",
    ["cnncore", "cnncore.shapes", "cnncore._conv", "cnncore._pool", "cnncore._signal",
     "cnncore._activation", "cnncore._config", "cnncore.reference"],
)
def test_docstring_examples_run(module):
    mod = sys.modules.get(module) or __import__(module, fromlist=["_"])
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_public_function_is_documented():
    for name in API_NAMES[:20]:
        doc = getattr(cc, name).__doc__
        assert doc and len(doc) > 40, name


def test_command_line_lecture_walkthrough():
    out = subprocess.run([sys.executable, "-m", "cnncore", "lecture"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "all examples match the lecture" in out.stdout
    assert "[2.0, 5.0, 8.0, 11.0, 14.0, 17.0]  ok" in out.stdout


def test_command_line_config():
    out = subprocess.run([sys.executable, "-m", "cnncore", "config"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "openmp" in out.stdout
