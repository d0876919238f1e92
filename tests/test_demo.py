"""``cnncore demo`` with NumPy alone (PyTorch, Pillow and the network made unavailable), its PNG
files, and ``cnncore summary`` on the lecture's model and on model files."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

from cnncore import nn
from cnncore.cli import build_parser, main
from cnncore.nn._png import PNG_SIGNATURE, draw_text, write_png

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def read_png(path):
    """Parse a PNG written by write_png: check its chunks and CRCs, return the pixels."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == PNG_SIGNATURE
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and colour in (0, 2)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    channels = 1 if colour == 0 else 3
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + width * channels)
    assert not rows[:, 0].any()  # filter type 0 on every row
    pixels = rows[:, 1:].reshape(height, width, channels)
    return pixels[..., 0] if channels == 1 else pixels


# A child interpreter in which PyTorch, Pillow, mlxtend and onnxruntime cannot be imported and no
# socket can be opened: the demo must work with NumPy and cnncore alone.
NO_EXTRAS = textwrap.dedent("""
    import socket, sys
    for name in ("torch", "PIL", "mlxtend", "onnxruntime", "scipy", "matplotlib"):
        sys.modules[name] = None
    def no_network(*args, **kwargs):
        raise OSError("the network is disabled in this test")
    socket.socket = socket.create_connection = no_network
    from cnncore.cli import main
    code = main(sys.argv[1:])
    assert "torch" not in sys.modules or sys.modules["torch"] is None
    sys.exit(code)
""")


def test_demo_runs_with_numpy_alone_and_reads_the_digits(tmp_path):
    out_dir = tmp_path / "pictures" / "demo"
    result = subprocess.run(
        [sys.executable, "-I", "-c", NO_EXTRAS, "demo", "--out", str(out_dir)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "171,158" in out and "CONV2  Conv2D 5x5, 32 filters" in out  # the table first
    found = re.search(r"^accuracy: (0\.\d+) \((\d+) of 1,000 right\)$", out, re.M)
    accuracy = float(found.group(1))
    assert accuracy >= 0.96
    matrix = re.search(r"confusion matrix.*\n.*\n((?:.*\n){10})", out).group(1)
    counts = np.array([[int(v) for v in line.split()[1:]] for line in matrix.splitlines()])
    assert counts.shape == (10, 10) and counts.sum() == 1000
    assert np.trace(counts) / 1000 == pytest.approx(accuracy, abs=1e-3)
    rates = re.search(r"images per second: ([\d,]+) at batch 1, ([\d,]+) at batch 256", out)
    assert rates and all(int(r.replace(",", "")) > 0 for r in rates.groups())

    written = re.findall(r"^wrote (.+\.png):", out, re.M)
    assert [os.path.basename(p) for p in written] == ["digits.png", "feature_maps.png"]
    digits, features = (read_png(p) for p in written)
    assert all(os.path.dirname(p) == str(out_dir) for p in written)
    assert digits.ndim == 3 and digits.shape[0] > 200 and digits.shape[1] > 500
    assert features.ndim == 2 and features.shape[0] > 100
    assert digits.std() > 10 and features.std() > 10  # pictures, not blank canvases


def test_demo_writes_to_cnncore_demo_by_default():
    assert build_parser().parse_args(["demo"]).out == "cnncore-demo"


def test_the_data_files_ship_inside_the_installed_package():
    from cnncore.nn.lecture import DIGITS_FILE, WEIGHTS_FILE, data_path

    import cnncore

    package_dir = os.path.dirname(os.path.abspath(cnncore.__file__))
    for name in (WEIGHTS_FILE, DIGITS_FILE, "README_MNIST.md"):
        path = data_path(name)
        assert os.path.dirname(os.path.dirname(path)) == package_dir
        assert os.path.getsize(path) > 0, name
    with open(data_path("README_MNIST.md"), encoding="utf-8") as f:
        text = f.read()
    assert "Yann LeCun" in text and "Corinna Cortes" in text and "CC BY-SA 3.0" in text


# ----------------------------------------------------------------------------------------------
# cnncore summary


def lecture_rows():
    return [(r.name, r.shape, r.size, r.params, r.macs)
            for r in nn.lecture_model(pretrained=False, seed=None).summary().rows]


def test_summary_of_the_lecture_model(capsys):
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Model: lecture (shapes per sample, (H, W, C))")
    assert re.search(r"^ +Total +171,158 +2,980,200$", out, re.M)
    assert main(["summary", "--order", "chw"]) == 0
    assert "(32, 7, 7)" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["lecture_model.json", "lecture_model.toml"])
def test_the_example_files_describe_the_lecture_model(capsys, name):
    if name.endswith(".toml") and sys.version_info < (3, 11):
        pytest.skip("TOML needs Python 3.11 (tomllib)")
    path = os.path.join(EXAMPLES, name)
    model = nn.load_model_file(path)
    rows = [(r.name, r.shape, r.size, r.params, r.macs) for r in model.summary().rows]
    assert rows == lecture_rows()
    assert main(["summary", path]) == 0
    assert main(["summary"]) == 0
    from_file, builtin = capsys.readouterr().out.split("Model: ")[1:]
    assert from_file == builtin


@pytest.mark.parametrize("name, content, match", [
    ("bad.json", '{"layers": [', r"bad.json: not valid JSON \(Expecting value: line 1"),
    ("bad.toml", "name = ", r"bad.toml: not valid TOML"),
    ("list.json", "[1, 2]", r"list.json: model config: expected a table \(dict\), got list"),
    ("unknown.json", '{"layers": [{"type": "Input", "shape": [4]}, {"type": "LSTM"}]}',
     r"unknown.json: model config: layers\[1\]: unknown layer type 'LSTM'"),
    ("fit.json", '{"layers": [{"type": "Input", "shape": [1, 4, 4]}, '
                 '{"type": "Conv2D", "name": "big", "filters": 2, "kernel_size": 7}]}',
     r"fit.json: Conv2D 'big': kernel \(dimension 0\) of size 7 with dilation 1 reaches 7"),
    ("float.json", '{"layers": [{"type": "Input", "shape": [4]}, {"type": "Dense", "units": 2.5}]}',
     r"float.json: model config: layers\[1\]: Dense: units must be a positive integer, got 2.5"),
    ("missing.json", None, r"No such file or directory"),
])
def test_summary_of_a_bad_file_is_one_line_on_stderr(tmp_path, capsys, name, content, match):
    if name.endswith(".toml") and sys.version_info < (3, 11):
        pytest.skip("TOML needs Python 3.11 (tomllib)")
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["summary", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnncore summary: error: ")
    assert re.search(match, lines[0]), lines[0]


# ----------------------------------------------------------------------------------------------
# The PNG writer and the digit font


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (33, 2), (4, 6, 3)])
def test_write_png_round_trips_the_pixels(tmp_path, shape):
    image = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    write_png(tmp_path / "a.png", image)
    np.testing.assert_array_equal(read_png(tmp_path / "a.png"), image)


@pytest.mark.parametrize("image, match", [
    (np.zeros((4, 4), np.float32),
     r"write_png: image must be uint8 \(H, W\) or \(H, W, 3\), got float32"),
    (np.zeros((4, 4, 4), np.uint8), r"got uint8 \(4, 4, 4\)"),
    (np.zeros((0, 4), np.uint8), r"write_png: image must not be empty"),
])
def test_write_png_refuses_other_images(tmp_path, image, match):
    with pytest.raises(ValueError, match=match):
        write_png(tmp_path / "a.png", image)


def test_draw_text_stamps_the_glyphs_and_clips():
    canvas = np.zeros((9, 14), np.uint8)
    draw_text(canvas, "10", 1, 1, 255)
    assert canvas[1:8, 1:6].astype(bool).tolist() == nn._png.FONT["1"].tolist()
    assert canvas[1:8, 7:12].astype(bool).tolist() == nn._png.FONT["0"].tolist()
    assert not canvas[0].any() and not canvas[:, 6].any()
    rgb = np.zeros((5, 5, 3), np.uint8)
    draw_text(rgb, "88", 2, 3, (1, 2, 3), scale=2)  # mostly outside: clipped, no error
    assert rgb.any() and set(map(tuple, rgb.reshape(-1, 3))) <= {(0, 0, 0), (1, 2, 3)}
