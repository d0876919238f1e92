"""Every script in examples/ runs, in a temporary folder, and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import optional

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
SCRIPTS = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py")) if os.path.isdir(
    EXAMPLES) else []
NEEDS_PILLOW = {"04_filters_on_images.py"}


def test_the_lecture_is_covered():
    assert SCRIPTS == ["01_convolution_1d.py", "02_convolution_2d.py",
                       "03_padding_and_stride.py", "04_filters_on_images.py", "05_pooling.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script, tmp_path):
    if script in NEEDS_PILLOW and optional("PIL") is None:
        pytest.skip("Pillow is not installed (pip install '.[image]')")
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, script)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert len(out.stdout.splitlines()) >= 4
    if script == "04_filters_on_images.py":
        written = set(os.listdir(tmp_path / "filters-output"))
        assert {"gallery.png", "sharpen-grey.png", "sharpen-rgb.png", "diagonal.png"} <= written
    else:
        assert os.listdir(tmp_path) == []  # writes nothing
