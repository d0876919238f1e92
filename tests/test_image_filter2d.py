"""filter2d against OpenCV and scipy.ndimage, its conventions, dtypes and errors; to_uint8; to_grey.

Every named kernel and a few custom ones (even-sized, non-square, larger than the image) are run
through every border, on grey, RGB and RGBA images, uint8 and float; each result is compared with
``cv2.filter2D`` and ``scipy.ndimage.correlate`` (skipped when not installed) within the float32
bound of conftest.assert_close, exactly where the data are integers and the sums exact.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import cnncore as cc
from cnncore import _image, filters

from conftest import assert_close, optional

cv2 = optional("cv2")
ndimage = optional("scipy.ndimage")

BORDERS = ["zeros", "reflect", "replicate", "wrap"]
NDIMAGE_MODE = {"zeros": "constant", "reflect": "mirror", "replicate": "nearest", "wrap": "wrap"}
CV2_BORDER = {} if cv2 is None else {
    "zeros": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101,
    "replicate": cv2.BORDER_REPLICATE,
}

_rng = np.random.default_rng(42)
KERNELS = {name: filters.get(name) for name in filters.available()}
KERNELS.update({
    "prewitt_v": filters.vertical_edges("prewitt"),
    "prewitt_h": filters.horizontal_edges("prewitt"),
    "edges4": filters.edges(4),
    "gauss7_s2": filters.gaussian_blur(7, 2.0),
    "box4x4": filters.box_blur(4),
    "box2x3": filters.box_blur((2, 3)),
    "custom3x5": _rng.normal(size=(3, 5)),
    "custom1x2": np.array([[1.0, 2.0]]),
    "custom2x1": np.array([[1.0], [-3.0]]),
    "custom1x1": np.array([[2.5]]),
    "large9x11": _rng.normal(size=(9, 11)),  # larger than the 6 x 7 image: borders reflect again
})
LAYOUTS = {"grey": (6, 7), "rgb": (6, 7, 3), "rgba": (6, 7, 4), "grey1": (6, 7, 1)}
DTYPES = ["uint8", "float32", "float64"]


def _image_of(layout, dtype, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, LAYOUTS[layout])
    if dtype == "uint8":
        return img.astype(np.uint8)
    return (img / 255.0 + rng.normal(0, 0.01, img.shape)).astype(dtype)


def _colour(img):
    return img[..., :3] if img.ndim == 3 and img.shape[2] == 4 else img


def _planes(img, dtype=np.float64):
    """(H, W, C) colour planes, alpha dropped."""
    c = _colour(img)
    return (c[..., None] if c.ndim == 2 else c).astype(dtype)


def _ndimage_filter(img, k, border):
    p = _planes(img)
    return np.stack([ndimage.correlate(p[..., c], k, mode=NDIMAGE_MODE[border], cval=0.0)
                     for c in range(p.shape[2])], axis=2)


def _check(y, img, k, ref, case):
    """y (colour channels only) against a reference, bound scaled by the sum of |terms|."""
    kind = "float"
    ref_abs = _ndimage_filter(np.abs(img.astype(np.float64)), np.abs(k), case[-1]) if ndimage \
        else np.full(ref.shape, np.abs(k).sum() * np.abs(_planes(img)).max())
    # Both sides round (each a float32 sum for float32 results): twice the one-sided bound.
    assert_close(_planes(y, y.dtype), ref, 2 * ref_abs, k.size, kind, str(case))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("border", BORDERS)
def test_matches_scipy_ndimage_correlate(border, layout, dtype, simd):
    if ndimage is None:
        pytest.skip("SciPy is not installed (pip install '.[test]')")
    for seed, (name, k) in enumerate(KERNELS.items()):
        img = _image_of(layout, dtype, seed)
        y = cc.filter2d(img, k, border)
        assert y.shape == img.shape and y.dtype == np.result_type(img, np.float32)
        _check(y, img, k, _ndimage_filter(img, k, border), (name, layout, dtype, border))
        if layout == "rgba":
            assert np.array_equal(y[..., 3], img[..., 3].astype(y.dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("border", ["zeros", "reflect", "replicate"])
def test_matches_opencv_filter2d(border, layout, dtype, simd):
    if cv2 is None:
        pytest.skip("OpenCV is not installed (pip install opencv-python-headless)")
    for seed, (name, k) in enumerate(KERNELS.items()):
        img = _image_of(layout, dtype, seed)
        y = cc.filter2d(img, k, border)
        # ddepth: float32 out for uint8 and float32 (no saturation), float64 for float64.
        ddepth = cv2.CV_64F if dtype == "float64" else cv2.CV_32F
        src = np.ascontiguousarray(_colour(img))
        ref = cv2.filter2D(src, ddepth, k.astype(np.float64), borderType=CV2_BORDER[border])
        ref = ref.reshape(src.shape)  # OpenCV drops a trailing axis of 1
        ref = ref[..., None] if ref.ndim == 2 else ref
        if ndimage is None:
            _check(y, img, k, ref, (name, layout, dtype, border))
            continue
        case = (name, layout, dtype, border)
        ref_abs = _ndimage_filter(np.abs(img.astype(np.float64)), np.abs(k), border)
        # OpenCV computes in float32 for CV_32F and may use a DFT for large kernels: allow
        # its rounding and ours, each bounded by the sum's length.
        assert_close(_planes(y, y.dtype), ref.astype(np.float64), 3 * ref_abs, k.size, "float",
                     str(case))


def test_opencv_refuses_border_wrap_which_filter2d_accepts():
    img = np.arange(20.0).reshape(4, 5)
    y = cc.filter2d(img, filters.box_blur(3), "wrap")
    manual = sum(np.roll(np.roll(img, -a, 0), -b, 1) for a in (-1, 0, 1) for b in (-1, 0, 1)) / 9
    assert np.allclose(y, manual, rtol=1e-14, atol=0)
    if cv2 is not None:
        with pytest.raises(cv2.error):
            cv2.filter2D(img, -1, filters.box_blur(3), borderType=cv2.BORDER_WRAP)


def test_centre_convention_pinned_by_a_single_tap():
    """A kernel with one 1 at (a, b) shifts the image by (a - kh // 2, b - kw // 2)."""
    img = np.arange(1.0, 1 + 8 * 9).reshape(8, 9)
    for kh, kw in [(1, 1), (2, 2), (3, 5), (4, 4), (5, 2), (1, 6)]:
        for a in range(kh):
            for b in range(kw):
                k = np.zeros((kh, kw))
                k[a, b] = 1
                y = cc.filter2d(img, k, "wrap")
                want = np.roll(img, (kh // 2 - a, kw // 2 - b), axis=(0, 1))
                assert np.array_equal(y, want), (kh, kw, a, b)


@pytest.mark.parametrize("border, row", [
    ("zeros", [0, 0, 0, 1, 2, 3, 4, 0, 0, 0]),
    ("reflect", [4, 3, 2, 1, 2, 3, 4, 3, 2, 1]),
    ("replicate", [1, 1, 1, 1, 2, 3, 4, 4, 4, 4]),
    ("wrap", [2, 3, 4, 1, 2, 3, 4, 1, 2, 3]),
])
def test_each_border_pads_as_its_table_says(border, row):
    """A 1 x 7 kernel with one tap per position reads the padded row a window at a time."""
    img = np.array([[1.0, 2.0, 3.0, 4.0]])
    for tap in range(7):
        k = np.zeros((1, 7))
        k[0, tap] = 1
        assert cc.filter2d(img, k, border)[0].tolist() == row[tap:tap + 4], (border, tap)


def test_kernels_far_larger_than_the_image_reflect_and_wrap_again(simd):
    img = np.array([[1.0, 2.0, 3.0]])
    k = np.zeros((1, 15))
    k[0, 0] = 1  # reads 7 samples to the left
    # reflect: ... 2 1 2 3 2 1 [2 3] ... period 4, index -7 is 2; wrap: period 3, index -7 is 3
    assert cc.filter2d(img, k, "reflect")[0].tolist() == [2.0, 3.0, 2.0]
    assert cc.filter2d(img, k, "wrap")[0].tolist() == [3.0, 1.0, 2.0]
    assert cc.filter2d(img, k, "replicate")[0].tolist() == [1.0, 1.0, 1.0]
    assert cc.filter2d(np.array([[5.0]]), np.ones((5, 5)), "reflect").tolist() == [[125.0]]
    if ndimage is not None:
        img = np.arange(6.0).reshape(2, 3)
        k = np.random.default_rng(0).normal(size=(13, 17))
        for border in BORDERS:
            assert np.allclose(cc.filter2d(img, k, border),
                               ndimage.correlate(img, k, mode=NDIMAGE_MODE[border]), atol=1e-12)


@pytest.mark.parametrize("name", list(filters.available()))
@pytest.mark.parametrize("border", BORDERS)
def test_rgb_result_is_the_grey_filter_on_each_channel(name, border):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (9, 11, 3)).astype(np.uint8)
    k = filters.get(name)
    y = cc.filter2d(rgb, k, border)
    for c in range(3):
        assert np.array_equal(y[..., c], cc.filter2d(rgb[..., c], k, border)), c
    rgba = np.concatenate([rgb, rng.integers(0, 256, (9, 11, 1)).astype(np.uint8)], axis=2)
    ya = cc.filter2d(rgba, k, border)
    assert np.array_equal(ya[..., :3], y)
    assert np.array_equal(ya[..., 3], rgba[..., 3].astype(np.float32))


def test_integer_images_and_kernels_are_exact():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    k = rng.integers(-3, 4, (5, 3))
    y = cc.filter2d(img, k, "replicate")
    if ndimage is not None:
        want = _ndimage_filter(img, k.astype(np.float64), "replicate")
        assert np.array_equal(y.astype(np.float64), want)


@pytest.mark.parametrize("dtype, kernel, want", [
    (np.uint8, [[0, 1, 0]], np.float32),
    (np.uint8, np.array([[0.5, 0.5]], dtype=np.float64), np.float32),
    (np.int16, [[1.0]], np.float32),
    (np.uint16, [[1.0]], np.float32),
    (np.bool_, [[1.0]], np.float32),
    (np.float16, [[1.0]], np.float32),
    (np.float32, np.array([[1.0]], dtype=np.float64), np.float32),
    (np.float64, np.array([[1]], dtype=np.float32), np.float64),
    (np.int64, [[1]], np.float64),
    (np.longdouble, [[1.0]], np.longdouble),
])
def test_result_dtype_is_the_images_and_the_kernel_follows(dtype, kernel, want):
    img = np.ones((4, 5), dtype=dtype)
    y = cc.filter2d(img, kernel)
    assert y.dtype == want
    assert y.flags.c_contiguous


def test_float32_kernel_weights_are_rounded_like_the_image():
    """The kernel is cast to the result's dtype: 0.1 becomes float32(0.1) for a uint8 image."""
    img = np.full((3, 3), 10, dtype=np.uint8)
    y = cc.filter2d(img, [[0.1]])
    assert y[1, 1] == np.float32(0.1) * np.float32(10)


def test_layouts_give_the_contiguous_result_and_inputs_are_untouched():
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (12, 14, 3)).astype(np.uint8)
    k = rng.normal(size=(3, 4))
    want = cc.filter2d(base, k, "reflect")
    ro = base.copy()
    ro.flags.writeable = False
    for variant in (np.asfortranarray(base), ro, base.astype(">f8"), base[::-1, ::-1][::-1, ::-1],
                    np.ascontiguousarray(base[:, :, ::-1])[:, :, ::-1],
                    np.pad(base, ((0, 0), (0, 0), (0, 1)))[..., :3]):
        got = cc.filter2d(variant, np.asfortranarray(k[::1]), "reflect")
        assert np.allclose(got, want, rtol=1e-6, atol=1e-4)
    kcopy = k.copy()
    bcopy = base.copy()
    cc.filter2d(base, k)
    assert np.array_equal(k, kcopy) and np.array_equal(base, bcopy)
    assert cc.filter2d(base.tolist(), k.tolist()).dtype == np.float64  # lists are int64 and float64


def test_nan_stays_local():
    img = np.zeros((7, 7))
    img[3, 3] = np.nan
    y = cc.filter2d(img, filters.box_blur(3), "reflect")
    assert np.isnan(y[2:5, 2:5]).all()
    assert np.count_nonzero(np.isnan(y)) == 9


@pytest.mark.parametrize("image, kernel, border, exc, match", [
    (np.zeros(5), [[1]], "zeros", ValueError, r"filter2d: image must be \(H, W\) grey, \(H, W, 3\) "
     r"RGB or \(H, W, 4\) RGBA, channels last; got 1-D with shape \(5,\)"),
    (np.zeros((2, 3, 4, 3)), [[1]], "zeros", ValueError, r"filter2d: image .* got 4-D"),
    (np.zeros((4, 4, 2)), [[1]], "zeros", ValueError,
     r"filter2d: image must have 1 \(grey\), 3 \(RGB\) or 4 \(RGBA\) channels in its last axis, "
     r"got 2"),
    (np.zeros((4, 4, 5)), [[1]], "zeros", ValueError, r"filter2d: image must have .* got 5"),
    (np.zeros((3, 8, 8)), [[1]], "zeros", ValueError, r"got 8 .*numpy.moveaxis"),
    (np.zeros((0, 4)), [[1]], "zeros", ValueError, r"filter2d: image must not be empty, got shape"),
    (np.zeros((4, 0, 3)), [[1]], "zeros", ValueError, r"filter2d: image must not be empty"),
    (np.zeros((4, 4)), [1, 2, 1], "zeros", ValueError,
     r"filter2d: kernel must be 2-D \(k_h, k_w\), got 1-D with shape \(3,\)"),
    (np.zeros((4, 4)), np.ones((1, 3, 3)), "zeros", ValueError, r"filter2d: kernel must be 2-D"),
    (np.zeros((4, 4)), np.ones((0, 3)), "zeros", ValueError, r"filter2d: kernel must not be empty"),
    (np.zeros((4, 4)), [[1]], "mirror", ValueError,
     r"filter2d: border must be one of \('zeros', 'reflect', 'replicate', 'wrap'\), got 'mirror'"),
    (np.zeros((4, 4)), [[1]], "constant", ValueError, r"filter2d: border must be one of"),
    (np.zeros((4, 4)), [[1]], None, ValueError, r"filter2d: border must be one of .* got None"),
    (np.zeros((4, 4), complex), [[1]], "zeros", TypeError,
     r"filter2d: image must hold real numbers .* got dtype complex128"),
    (np.zeros((4, 4)), [[1j]], "zeros", TypeError, r"filter2d: kernel must hold real numbers"),
    (np.array([["a", "b"]]), [[1]], "zeros", TypeError, r"filter2d: image must hold real numbers"),
    (np.zeros((2, 2), object), [[1]], "zeros", TypeError, r"filter2d: image must hold real"),
    ([[1, 2], [3]], [[1]], "zeros", ValueError, r"filter2d: image could not be converted"),
])
def test_errors_name_the_argument(image, kernel, border, exc, match):
    with pytest.raises(exc, match=match):
        cc.filter2d(image, kernel, border)


# to_uint8 ---------------------------------------------------------------------------------------


def test_to_uint8_modes():
    r = np.array([[-300.0, -40.0, 0.0, 20.0, 127.4, 127.6, 400.0]])
    assert cc.to_uint8(r).tolist() == [[0, 0, 0, 20, 127, 128, 255]]
    assert cc.to_uint8(r / 255, white=1).tolist() == [[0, 0, 0, 20, 127, 128, 255]]
    c = cc.to_uint8(r, "centered")                            # scale 400
    assert c[0, 2] == 128 and c[0, 6] == 255 and c[0, 0] == round(128 - 127 * 0.75)
    assert cc.to_uint8(r, "centered", scale=40)[0].tolist() == [0, 1, 128, 192, 255, 255, 255]
    m = cc.to_uint8(r, "magnitude")
    assert m[0, 2] == 0 and m[0, 6] == 255 and m[0, 0] == round(255 * 0.75)
    n = cc.to_uint8(r, "normalize")
    assert n[0, 0] == 0 and n[0, 6] == 255 and n[0, 2] == round(255 * 300 / 700)
    for mode in ("centered", "magnitude", "normalize", "clip"):
        flat = cc.to_uint8(np.zeros((3, 3)), mode)
        assert flat.dtype == np.uint8 and flat.shape == (3, 3)
        assert (flat == (128 if mode == "centered" else 0)).all()


def test_to_uint8_colour_shares_one_scale_and_alpha_is_clipped():
    r = np.zeros((2, 2, 4))
    r[..., 0], r[..., 1], r[..., 2], r[..., 3] = 100.0, -50.0, 0.0, 200.0
    c = cc.to_uint8(r, "centered")
    assert c[0, 0].tolist() == [255, round(128 - 63.5), 128, 200]
    assert cc.to_uint8(r, "magnitude")[0, 0].tolist() == [255, 128, 0, 200]
    assert cc.to_uint8(r[..., :3], "normalize")[0, 0].tolist() == [255, 0, 85]


def test_to_uint8_non_finite():
    r = np.array([[np.nan, np.inf, -np.inf, 10.0]])
    for mode in ("clip", "centered", "magnitude", "normalize"):
        y = cc.to_uint8(r, mode)
        assert y[0, 0] == 0 and y[0, 1] == 255 and y[0, 2] == (0 if mode != "magnitude" else 255)
    assert cc.to_uint8(np.full((2, 2), np.nan), "normalize").tolist() == [[0, 0], [0, 0]]


def test_to_uint8_on_a_filtered_uint8_image_round_trips():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (10, 10, 4)).astype(np.uint8)
    assert np.array_equal(cc.to_uint8(cc.filter2d(img, filters.identity())), img)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(mode="signed"), ValueError, r"to_uint8: mode must be one of \('clip', 'centered', "
                                      r"'magnitude', 'normalize'\), got 'signed'"),
    (dict(mode="centered", scale=0), ValueError, r"to_uint8: scale must be a finite number > 0"),
    (dict(mode="centered", scale=-1.0), ValueError, r"to_uint8: scale must be a finite number"),
    (dict(scale="big"), TypeError, r"to_uint8: scale must be a real number"),
    (dict(white=float("inf")), ValueError, r"to_uint8: white must be a finite number > 0"),
    (dict(white=True), TypeError, r"to_uint8: white must be a real number"),
])
def test_to_uint8_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cc.to_uint8(np.zeros((2, 2)), **kwargs)
    with pytest.raises(ValueError, match=r"to_uint8: result must be \(H, W\) grey"):
        cc.to_uint8(np.zeros(3))


# to_grey ----------------------------------------------------------------------------------------


def test_to_grey_uses_the_601_weights():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)
    g = cc.to_grey(rgb)
    exact = rgb.astype(np.float64) @ [0.299, 0.587, 0.114]
    assert g.dtype == np.uint8 and g.shape == (30, 40)
    assert np.abs(g - exact).max() <= 0.5 + 1e-3
    f = cc.to_grey(rgb.astype(np.float32) / 255)
    assert f.dtype == np.float32 and np.allclose(f * 255, exact, atol=1e-3)
    rgba = np.concatenate([rgb, np.zeros((30, 40, 1), np.uint8)], axis=2)
    assert np.array_equal(cc.to_grey(rgba), g)                   # alpha ignored
    assert np.array_equal(cc.to_grey(g), g) and cc.to_grey(g) is not g
    assert np.array_equal(cc.to_grey(g[..., None]), g)
    assert cc.to_grey(rgb.astype(np.int64)).dtype == np.float64
    if cv2 is not None:  # OpenCV's fixed point rounds differently by at most one level
        theirs = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        assert np.abs(cc.to_grey(rgb).astype(int) - theirs).max() <= 1


def test_to_grey_equals_pillow_exactly():
    pil = optional("PIL.Image")
    if pil is None:
        pytest.skip("Pillow is not installed (pip install '.[image]')")
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    assert np.array_equal(cc.to_grey(rgb), np.asarray(pil.fromarray(rgb).convert("L")))


def test_docstring_examples_run():
    result = doctest.testmod(_image, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10 and result.failed == 0
