"""The command line for images: `cnncore filter`, `cnncore gallery` and `cnncore shape`.

Bad input must give one line on stderr, a non-zero exit status and no traceback; each case runs the
real command in a subprocess. The `shape` sweep runs in-process (cnncore.cli.main) for speed.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import cnncore as cc
from cnncore import filters, shapes
from cnncore.cli import main
from cnncore.cli.images import Progress

from conftest import optional

needs_pillow = pytest.mark.skipif(optional("PIL") is None,
                                  reason="Pillow is not installed (pip install '.[image]')")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnncore", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(out, *fragments):
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert re.match(r"cnncore \w+: error: ", lines[0]), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder with two good images, one bad one and a note."""
    if optional("PIL") is None:
        pytest.skip("Pillow is not installed (pip install '.[image]')")
    d = tmp_path_factory.mktemp("photos")
    img = cc.sample_image()
    cc.save_image(d / "a.png", img[100:228, 150:278])
    cc.save_image(d / "b.jpg", img[300:364, 300:380])
    (d / "bad.png").write_text("not an image at all\n")
    (d / "notes.txt").write_text("a note\n")
    return d


@pytest.mark.parametrize("command", ["filter", "gallery", "shape", None])
def test_help_on_each_subcommand(command):
    out = run(*([command] if command else []), "--help")
    assert out.returncode == 0 and out.stderr == ""
    assert "usage: cnncore" in out.stdout
    if command:
        assert command in out.stdout.splitlines()[0]


def test_the_console_script_runs_too():
    script = os.path.join(os.path.dirname(sys.executable), "cnncore")
    if not os.path.exists(script):
        pytest.skip("no cnncore script beside this Python")
    out = subprocess.run([script, "shape", "--input", "7", "--kernel", "2"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "output size: 6" in out.stdout


def test_filter_list():
    out = run("filter", "--list")
    assert out.returncode == 0
    names = [line.split()[0] for line in out.stdout.splitlines()]
    assert names == list(filters.available())


@needs_pillow
def test_filter_one_file_by_name_matches_the_library(photos, tmp_path):
    out = run("filter", "gaussian_blur", photos / "a.png", "--size", "7", "--sigma", "1.5",
              "-o", tmp_path / "g.png", "--border", "replicate")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "g.png")
    img = cc.read_image(photos / "a.png")
    want = cc.to_uint8(cc.filter2d(img, filters.gaussian_blur(7, 1.5), "replicate"))
    assert np.array_equal(cc.read_image(tmp_path / "g.png"), want)


@needs_pillow
@pytest.mark.parametrize("kernel", ["0,-1,0; -1,5,-1; 0,-1,0", "0 -1 0;-1 5 -1;0 -1 0",
                                    "[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]"])
def test_filter_with_a_kernel_as_numbers(photos, tmp_path, kernel):
    out = run("filter", kernel, photos / "a.png", "-o", tmp_path / "k.png", "--grey")
    assert out.returncode == 0, out.stderr
    img = cc.read_image(photos / "a.png", grey=True)
    want = cc.to_uint8(cc.filter2d(img, filters.sharpen(), "reflect"))
    assert np.array_equal(cc.read_image(tmp_path / "k.png"), want)


@needs_pillow
def test_filter_display_modes_parameters_and_a_kernel_starting_with_minus(photos, tmp_path):
    out = run("filter", "--display", "magnitude", "--scale", "100", "-o", tmp_path / "m.png",
              "--", "-1,0,1", photos / "a.png")
    assert out.returncode == 0, out.stderr
    img = cc.read_image(photos / "a.png")
    want = cc.to_uint8(cc.filter2d(img, [[-1, 0, 1]], "reflect"), "magnitude", scale=100)
    assert np.array_equal(cc.read_image(tmp_path / "m.png"), want)
    out = run("filter", "vertical_edges", "--kind", "prewitt", photos / "a.png", "-o",
              tmp_path / "v.png")
    assert out.returncode == 0, out.stderr
    want = cc.to_uint8(cc.filter2d(img, filters.vertical_edges("prewitt"), "reflect"), "centered")
    assert np.array_equal(cc.read_image(tmp_path / "v.png"), want)
    out = run("filter", "box_blur", "--size", "2x5", photos / "a.png", "-o", tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "a-box_blur.png").exists()


@needs_pillow
def test_filter_a_folder_with_one_bad_file(photos, tmp_path):
    out = run("filter", "edges", photos, "-o", tmp_path / "out", "--progress")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "b.png"]
    errors = [line for line in out.stderr.replace("\r", "\n").splitlines() if "error" in line]
    assert len(errors) == 1 and "bad.png" in errors[0] and "not an image" in errors[0]
    assert "skipping 1 file(s) that are not images by name: notes.txt" in out.stderr
    assert "3/3" in out.stderr and "[" + "#" * Progress.WIDTH + "]" in out.stderr  # the bar
    assert out.stdout.strip() == f"2 of 3 images filtered with edges into {tmp_path / 'out'}"
    b = cc.read_image(photos / "b.jpg")
    want = cc.to_uint8(cc.filter2d(b, filters.edges(), "reflect"))
    assert np.array_equal(cc.read_image(tmp_path / "out" / "b.png"), want)
    # Without --progress and not on a terminal: no bar.
    quiet = run("filter", "edges", photos, "-o", tmp_path / "out2")
    assert "#" not in quiet.stderr and quiet.returncode == 1


@needs_pillow
def test_filter_a_good_folder_exits_zero(photos, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    for name in ("a.png", "b.jpg"):
        (good / name).write_bytes((photos / name).read_bytes())
    out = run("filter", "sharpen", good)
    assert out.returncode == 0 and out.stderr == ""
    assert sorted(os.listdir(tmp_path / "good-sharpen")) == ["a.png", "b.png"]


@needs_pillow
def test_bad_input_gives_one_line_and_a_non_zero_status(photos, tmp_path):
    full = (photos / "a.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(full[: len(full) // 3])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello\n")
    (tmp_path / "nothing").mkdir()
    a = photos / "a.png"
    cases = [
        (("filter", "sharpen", tmp_path / "missing.png"), ["no such file", "missing.png"]),
        (("filter", "sharpen", tmp_path / "text.png"), ["text.png", "not an image"]),
        (("filter", "sharpen", tmp_path / "truncated.png"), ["truncated.png", "damaged"]),
        (("filter", "sharpen", tmp_path / "empty.png"), ["empty.png"]),
        (("filter", "sharpen", tmp_path / "nothing"), ["holds no image files"]),
        (("filter", "blurr", a), ["unknown filter 'blurr'", "sharpen"]),
        (("filter", "1,2;3", a), ["row 2 has 1 number(s) but row 1 has 2"]),
        (("filter", "1,x,3", a), ["'x' in row 1 is not a number"]),
        (("filter", "[[1, 2]", a), ["is not a list of rows"]),
        (("filter", "1,2;;3,4", a), ["row 2 is empty"]),
        (("filter", "1/0", a), ["'1/0' in row 1 is not a number"]),
        (("filter", "sharpen", a, "--size", "3"), ["'sharpen' takes no parameters"]),
        (("filter", "gaussian_blur", a, "--size", "4"), ["gaussian_blur: size must be odd"]),
        (("filter", "gaussian_blur", a, "--sigma", "-1"), ["sigma must be a finite number > 0"]),
        (("filter", "sharpen", a, "-o", tmp_path / "x.unknownext"), ["cannot save"]),
        (("filter", "sharpen", photos, "-o", photos), ["must not be the input folder"]),
        (("gallery", tmp_path / "missing.png"), ["no such file"]),
        (("gallery", tmp_path / "truncated.png", "-o", tmp_path / "g.png"), ["truncated.png"]),
        (("gallery", "--filters", "sharpen,blurr", "-o", tmp_path / "g.png"), ["unknown name"]),
        (("shape", "--input", "5", "--kernel", "9"), ["kernel of size 9", "padded input"]),
        (("shape", "--input", "0", "--kernel", "1"), ["input size must be >= 1"]),
        (("shape", "--input", "5", "5", "--kernel", "3", "3", "3"), ["--kernel takes"]),
        (("shape", "--input", "5", "--kernel", "3", "--padding", "x"), ["--padding: 'x'"]),
        (("shape", "--input", "5", "--kernel", "3", "--pool", "--padding", "2"),
         ["at most half the kernel"]),
        (("shape", "-i", "1", "2", "3", "4", "-k", "1"), ["1, 2 or 3 sizes"]),
    ]
    for args, fragments in cases:
        assert_one_line_error(run(*args, cwd=tmp_path), *fragments)
    assert not (tmp_path / "g.png").exists()


def test_a_missing_pillow_is_one_line_too(tmp_path):
    code = ("import sys; sys.modules['PIL'] = None\n"
            "from cnncore.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    for args in (["gallery"], ["filter", "sharpen", "x.png"]):
        out = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert_one_line_error(out, 'pip install "cnncore[image]"')


@needs_pillow
def test_gallery_on_the_shipped_photo_and_on_a_user_image(photos, tmp_path):
    out = run("gallery", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    g = cc.read_image(tmp_path / "gallery.png")
    n = len(filters.available())  # the original + every filter but identity
    assert g.shape == (8 + 2 * (22 + 256 + 8), 8 + n * (256 + 8), 3)
    assert out.stdout.strip() == f"gallery.png ({g.shape[1]} x {g.shape[0]})"
    out = run("gallery", photos / "b.jpg", "-o", tmp_path / "mine.png", "--filters",
              "sharpen, edges", "--panel-size", "0")
    assert out.returncode == 0, out.stderr
    g = cc.read_image(tmp_path / "mine.png")
    assert g.shape == (8 + 2 * (22 + 64 + 8), 8 + 3 * (80 + 8), 3)
    assert np.array_equal(g, cc.gallery(photos / "b.jpg", ["sharpen", "edges"], panel_size=None))


def test_progress_bar_text():
    class Sink:
        text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    sink = Sink()
    bar = Progress(4, True, sink)
    bar.update(1, "a.png")
    assert "\r[" + "#" * 7 + "." * 23 + "] 1/4 a.png" in sink.text
    bar.close()
    assert sink.text.endswith("] 4/4 done" + " " * 36 + "\n")
    off = Sink()
    Progress(4, False, off).update(1)
    assert off.text == ""


# cnncore shape ----------------------------------------------------------------------------------


def test_shape_prints_the_lectures_answer():
    out = run("shape", "--input", "7", "--kernel", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "output size: 6"
    assert "o = floor((7 + 0 + 0 - 1*(2 - 1) - 1) / 1) + 1 = 6" in out.stdout
    out = run("shape", "--input", "28", "28", "--kernel", "5", "5", "--padding", "same")
    assert "height: padding 2 before, 2 after" in out.stdout
    assert out.stdout.splitlines()[-1] == "output size: 28 x 28"


def _shape_lines(capsys, args):
    assert main(["shape", *map(str, args)]) == 0
    return capsys.readouterr().out.splitlines()


def test_shape_agrees_with_cnncore_shapes_on_a_sweep(capsys):
    pads = ["valid", "same", "full", 0, 1, 2, (0, 1), (2, 0)]
    count = 0
    for i, k, s, d, p in itertools.product([1, 4, 7, 10], [1, 2, 3, 5], [1, 2, 3], [1, 2], pads):
        spec = f"{p[0]},{p[1]}" if isinstance(p, tuple) else str(p)
        try:
            before, after = shapes.resolve_padding(p, i, k, s, d)
            want = shapes.conv_output_size(i, k, s, p, d)
        except ValueError as exc:
            assert main(["shape", "-i", str(i), "-k", str(k), "-s", str(s), "-d", str(d),
                         "-p", spec]) == 1
            assert str(exc) in capsys.readouterr().err
            continue
        lines = _shape_lines(capsys, ["-i", i, "-k", k, "-s", s, "-d", d, "-p", spec])
        assert lines[-1] == f"output size: {want}"
        assert f"length: padding {before} before, {after} after;" in lines[-2]
        assert lines[-2].endswith(f"floor(({i} + {before} + {after} - {d}*({k} - 1) - 1) / {s})"
                                  f" + 1 = {want}")
        count += 1
    assert count > 500


def test_shape_in_2d_and_3d_and_pooling_agrees_with_cnncore_shapes(capsys):
    rng = np.random.default_rng(0)
    for _ in range(150):
        n = int(rng.integers(1, 4))
        i = [int(v) for v in rng.integers(4, 30, n)]
        k = [int(v) for v in rng.integers(1, 4, n)]
        s = [int(v) for v in rng.integers(1, 4, n)]
        d = [int(v) for v in rng.integers(1, 3, n)]
        p = [str(rng.choice(["valid", "same", "full", "1", "0,2"])) for _ in range(n)]
        spec = [v if v in shapes.PADDING_MODES else (tuple(map(int, v.split(","))) if "," in v
                                                      else int(v)) for v in p]
        outs = [shapes.conv_output_size(*a) for a in zip(i, k, s, spec, d)]
        lines = _shape_lines(capsys, ["-i", *i, "-k", *k, "-s", *s, "-d", *d, "-p", *p])
        assert lines[-1] == "output size: " + " x ".join(map(str, outs))
        assert len(lines) == 3 + n
        # Pooling, explicit padding within half the kernel.
        pp = [str(min(1, kk // 2)) for kk in k]
        ceil = bool(rng.integers(0, 2))
        _, _, _, _, pouts = shapes.pool_output_shape(i, k, None, [int(v) for v in pp], d, ceil)
        lines = _shape_lines(capsys, ["-i", *i, "-k", *k, "-d", *d, "-p", *pp, "--pool"]
                             + (["--ceil-mode"] if ceil else []))
        assert lines[-1] == "output size: " + " x ".join(map(str, pouts))
        assert ("ceil((" if ceil else "floor((") in lines[-2]


def test_docstring_examples_run():
    import doctest

    from cnncore.cli import images

    result = doctest.testmod(images, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0
