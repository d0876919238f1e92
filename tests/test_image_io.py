"""Image files through Pillow, the shipped sample photograph, and the gallery."""

from __future__ import annotations

import doctest
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

import cnncore as cc
from cnncore import _gallery, _imageio, filters

from conftest import optional

PIL = optional("PIL")
if PIL is None:
    pytest.skip("Pillow is not installed (pip install '.[image]')", allow_module_level=True)
from PIL import Image  # noqa: E402

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (20, 30, 3)).astype(np.uint8)
GREY = RNG.integers(0, 256, (20, 30)).astype(np.uint8)
RGBA = RNG.integers(0, 256, (20, 30, 4)).astype(np.uint8)


@pytest.mark.parametrize("image, ext", [
    (image, ext) for image in (GREY, RGB, RGBA) for ext in (".png", ".bmp", ".tif")
    if not (ext == ".bmp" and image.shape[-1] == 4)  # BMP has no alpha
])
def test_save_and_read_round_trip_exactly(tmp_path, image, ext):
    path = tmp_path / f"x{ext}"
    cc.save_image(path, image)
    back = cc.read_image(str(path))
    assert back.dtype == np.uint8 and back.shape == image.shape
    assert np.array_equal(back, image)


def test_save_accepts_a_channel_axis_of_one(tmp_path):
    cc.save_image(tmp_path / "g.png", GREY[..., None])
    assert np.array_equal(cc.read_image(tmp_path / "g.png"), GREY)


def _save_pil(tmp_path, im, name, **kwargs):
    path = tmp_path / name
    im.save(path, **kwargs)
    return path


def test_other_modes_are_converted_sensibly(tmp_path):
    # palette -> RGB; palette with a transparent colour -> RGBA
    p = Image.fromarray(RGB).quantize(16)
    got = cc.read_image(_save_pil(tmp_path, p, "p.png"))
    assert got.shape == (20, 30, 3) and np.array_equal(got, np.asarray(p.convert("RGB")))
    p.info["transparency"] = 0
    got = cc.read_image(_save_pil(tmp_path, p, "pt.png", transparency=0))
    assert got.shape == (20, 30, 4)
    assert set(np.unique(got[..., 3])) <= {0, 255} and (got[..., 3] == 0).any()
    # grey + alpha -> RGBA with equal colour channels
    la = Image.fromarray(np.dstack([GREY, GREY[::-1]]), "LA")
    got = cc.read_image(_save_pil(tmp_path, la, "la.png"))
    assert got.shape == (20, 30, 4) and np.array_equal(got[..., 0], GREY)
    assert np.array_equal(got[..., 1], GREY) and np.array_equal(got[..., 3], GREY[::-1])
    # black and white -> grey 0 / 255
    bw = Image.fromarray(GREY > 128)
    got = cc.read_image(_save_pil(tmp_path, bw, "bw.png"))
    assert got.shape == (20, 30) and set(np.unique(got)) == {0, 255}
    # 16-bit grey -> 8 bits, v / 257
    g16 = (GREY.astype(np.uint16) * 257 + 100).astype(np.uint16)
    got = cc.read_image(_save_pil(tmp_path, Image.fromarray(g16), "g16.png"))
    assert got.dtype == np.uint8 and np.array_equal(got, np.rint(g16 / 257).astype(np.uint8))
    # CMYK JPEG -> RGB
    cmyk = Image.fromarray(RGB).convert("CMYK")
    got = cc.read_image(_save_pil(tmp_path, cmyk, "c.jpg", quality=95))
    assert got.shape == (20, 30, 3)
    # grey=True: the ITU-R 601 luma, as Pillow's 'L'
    cc.save_image(tmp_path / "rgb.png", RGB)
    assert np.array_equal(cc.read_image(tmp_path / "rgb.png", grey=True),
                          np.asarray(Image.fromarray(RGB).convert("L")))


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(RGB)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "o.jpg", exif=exif, quality=100)
    got = cc.read_image(tmp_path / "o.jpg")
    assert got.shape == (30, 20, 3)


def _bad_files(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n")
    (tmp_path / "empty.png").write_bytes(b"")
    cc.save_image(tmp_path / "full.png", RNG.integers(0, 256, (64, 64, 3)).astype(np.uint8))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "header_only.png").write_bytes(data[:40])
    return ["notes.png", "empty.png", "truncated.png", "header_only.png"]


def test_bad_files_raise_oserror_naming_the_file(tmp_path):
    for name in _bad_files(tmp_path):
        with pytest.raises(OSError, match=r"read_image: .*" + name.replace(".", r"\.")):
            cc.read_image(tmp_path / name)
    with pytest.raises(FileNotFoundError, match=r"read_image: no such file: .*missing\.png"):
        cc.read_image(tmp_path / "missing.png")
    with pytest.raises(IsADirectoryError, match=r"read_image: .* is a folder"):
        cc.read_image(tmp_path)


def test_save_errors(tmp_path):
    with pytest.raises(TypeError, match=r"save_image: image must be uint8, got float32; .*uint8"):
        cc.save_image(tmp_path / "x.png", RGB.astype(np.float32))
    with pytest.raises(ValueError, match=r"save_image: cannot save .*x\.nosuchformat"):
        cc.save_image(tmp_path / "x.nosuchformat", RGB)
    with pytest.raises(OSError, match=r"save_image: cannot save"):
        cc.save_image(tmp_path / "no" / "such" / "folder.png", RGB)
    with pytest.raises(ValueError, match=r"save_image: image must have 1 \(grey\), 3 \(RGB\)"):
        cc.save_image(tmp_path / "x.png", np.zeros((4, 4, 2), np.uint8))


def test_sample_image_is_the_shipped_astronaut():
    img = cc.sample_image()
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    # The pixels of skimage.data.astronaut(), which this file reproduces exactly.
    assert hashlib.sha256(img.tobytes()).hexdigest()[:16] == ASTRONAUT_SHA256_16
    grey = cc.sample_image(grey=True)
    assert grey.shape == (512, 512) and np.array_equal(grey, cc.to_grey(img))
    here = os.path.dirname(cc.__file__)
    data = os.path.join(here, "data")
    assert os.path.getsize(os.path.join(data, "astronaut.png")) < 500_000
    with open(os.path.join(data, "README.md"), encoding="utf-8") as f:
        note = f.read()
    assert "public domain" in note and "https://flic.kr/p/r9qvLn" in note


ASTRONAUT_SHA256_16 = "a8c429c18afa7b0f"


def test_sample_image_loads_from_the_installed_package_outside_the_source_tree(tmp_path):
    code = ("import cnncore, os; img = cnncore.sample_image(); "
            "print(img.shape, os.path.dirname(cnncore.__file__))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("(512, 512, 3)")


def test_gallery_layout_panels_and_titles(tmp_path):
    img = cc.sample_image()
    names = ["vertical_edges", "sharpen", "gaussian_blur"]
    g = cc.gallery(img, names, tmp_path / "g.png", panel_size=96)
    gap, title = _gallery.GAP, _gallery.TITLE_HEIGHT
    assert g.shape == (gap + 2 * (title + 96 + gap), gap + 4 * (96 + gap), 3)
    assert np.array_equal(cc.read_image(tmp_path / "g.png"), g)
    small = np.asarray(Image.fromarray(img).resize((96, 96), Image.Resampling.LANCZOS))
    for r, src in enumerate([cc.to_grey(small), small]):
        y0 = gap + r * (title + 96 + gap) + title
        for c, name in enumerate([None] + names):
            x0 = gap + c * (96 + gap)
            panel = g[y0:y0 + 96, x0:x0 + 96]
            want = src if name is None else cc.to_uint8(
                cc.filter2d(src, filters.get(name), "reflect"), filters.display_mode(name))
            want = want if want.ndim == 3 else np.repeat(want[..., None], 3, axis=2)
            assert np.array_equal(panel, want), (r, name)
            strip = g[y0 - title:y0, x0:x0 + 96]
            assert (strip < 128).any(), f"no title above {name}"  # dark text on white


def test_gallery_defaults_grey_images_files_and_custom_kernels(tmp_path):
    g = cc.gallery(panel_size=64)  # the sample photo, every named filter but identity
    n = len(filters.available()) - 1
    assert g.shape == (8 + 2 * (22 + 64 + 8), 8 + (n + 1) * (64 + 8), 3)
    cc.save_image(tmp_path / "grey.png", GREY)
    g = cc.gallery(tmp_path / "grey.png", {"mine": [[1, -1]]}, panel_size=None)
    assert g.shape == (8 + 22 + 20 + 8, 8 + 2 * (30 + 8), 3)  # a grey image: one row
    g = cc.gallery(RGBA, [("diff", [[1, -1]], "centered"), "emboss"])
    assert g.shape[0] == 8 + 2 * (22 + 20 + 8)
    assert cc.gallery(str(tmp_path / "grey.png"), "sharpen").shape[1] == 8 + 2 * (30 + 8)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(filters=["blur"]), ValueError, r"gallery: filters has an unknown name 'blur'"),
    (dict(filters=[3]), TypeError, r"gallery: filters must hold filter names or \(title, kernel"),
    (dict(panel_size=4), ValueError, r"gallery: panel_size must be >= 8"),
    (dict(panel_size=1.5), TypeError, r"gallery: panel_size must be an int or None"),
    (dict(image=np.zeros((4, 4, 2))), ValueError, r"gallery: image must have 1 \(grey\)"),
])
def test_gallery_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cc.gallery(**kwargs)


def test_missing_pillow_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['PIL'] = None\n"
        "import numpy as np, cnncore as cc\n"
        "print(cc.filter2d(np.ones((3, 3)), cc.filters.sharpen()).sum())\n"
        "for call in (cc.sample_image, lambda: cc.read_image('x.png'), lambda: cc.gallery(),\n"
        "             lambda: cc.save_image('x.png', np.zeros((2, 2), np.uint8))):\n"
        "    try:\n"
        "        call()\n"
        "    except ImportError as exc:\n"
        "        print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "21.0"  # filter2d needs no Pillow
    assert len(lines) == 5
    for line, fname in zip(lines[1:], ["sample_image", "read_image", "gallery", "save_image"]):
        assert line == (f"{fname}: image files need Pillow, which is not installed: "
                        f'pip install "cnncore[image]"')


@pytest.mark.parametrize("module", [_imageio, _gallery])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0
