"""cnncore.filters: the classic kernels, and what they do to an image that a person can see."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import cnncore as cc
from cnncore import filters

from conftest import optional

cv2 = optional("cv2")

NAMES = list(filters.available())


def test_available_lists_every_filter_with_a_description_and_a_display_mode():
    assert NAMES == ["vertical_edges", "horizontal_edges", "edges", "dark_edges", "box_blur",
                     "gaussian_blur", "sharpen", "emboss", "identity"]
    for name, text in filters.available().items():
        assert isinstance(text, str) and 10 < len(text) < 80, name
        assert filters.display_mode(name) in ("clip", "centered")
        k = filters.get(name)
        assert k.dtype == np.float64 and k.ndim == 2 and k.flags.c_contiguous, name
        assert getattr(filters, name)().tolist() == k.tolist()
        assert len(getattr(filters, name).__doc__) > 200, name


def test_the_documented_matrices():
    assert filters.vertical_edges().tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert filters.horizontal_edges().tolist() == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    assert filters.vertical_edges("prewitt").tolist() == [[-1, 0, 1]] * 3
    assert filters.horizontal_edges("prewitt").tolist() == [[-1] * 3, [0] * 3, [1] * 3]
    assert filters.edges().tolist() == [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]
    assert filters.edges(4).tolist() == [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]
    assert filters.dark_edges().tolist() == (-filters.edges()).tolist()
    assert filters.dark_edges(4).tolist() == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    assert filters.sharpen().tolist() == [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    assert filters.emboss().tolist() == [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]
    assert np.array_equal(filters.sharpen(), filters.identity() + filters.edges(4))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, (2, 5), [3, 1]])
def test_box_blur_is_a_normalised_window_of_any_size(size):
    k = filters.box_blur(size)
    shape = (size, size) if isinstance(size, int) else tuple(size)
    assert k.shape == shape
    assert np.allclose(k, 1 / np.prod(shape)) and np.isclose(k.sum(), 1)


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9, 15, 31])
@pytest.mark.parametrize("sigma", [None, 0.3, 1.0, 2.5, 10.0])
def test_gaussian_blur(size, sigma):
    k = filters.gaussian_blur(size, sigma)
    assert k.shape == (size, size)
    assert np.isclose(k.sum(), 1, rtol=0, atol=1e-14)
    assert np.array_equal(k, k.T) and np.array_equal(k, k[::-1, ::-1])
    assert k[size // 2, size // 2] == k.max()
    s = 0.3 * ((size - 1) * 0.5 - 1) + 0.8 if sigma is None else sigma
    x = np.arange(size) - size // 2
    g = np.exp(-(x**2) / (2 * s**2))
    assert np.allclose(k, np.outer(g, g) / g.sum() ** 2, rtol=1e-13, atol=1e-300)
    if cv2 is not None:
        g1 = cv2.getGaussianKernel(size, s, ktype=cv2.CV_64F)
        assert np.allclose(k, g1 @ g1.T, rtol=1e-12, atol=1e-15)


def test_gaussian_default_sigma_is_opencvs_rule():
    for size, sigma in [(3, 0.8), (5, 1.1), (7, 1.4), (9, 1.7)]:
        assert np.allclose(filters.gaussian_blur(size), filters.gaussian_blur(size, sigma))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: filters.box_blur(0), ValueError, r"box_blur: size must be >= 1, got 0"),
        (lambda: filters.box_blur(-3), ValueError, r"box_blur: size must be >= 1, got -3"),
        (lambda: filters.box_blur(2.5), TypeError, r"box_blur: size must be an integer, got float"),
        (lambda: filters.box_blur(True), TypeError, r"box_blur: size must be an integer, got bool"),
        (lambda: filters.box_blur((1, 2, 3)), ValueError, r"box_blur: size must be an int or a"),
        (lambda: filters.box_blur((3, 0)), ValueError, r"box_blur: size must be >= 1, got 0"),
        (lambda: filters.gaussian_blur(4), ValueError, r"gaussian_blur: size must be odd .* got 4"),
        (lambda: filters.gaussian_blur(0), ValueError, r"gaussian_blur: size must be >= 1"),
        (lambda: filters.gaussian_blur("5"), TypeError, r"gaussian_blur: size must be an integer"),
        (lambda: filters.gaussian_blur(5, 0), ValueError, r"gaussian_blur: sigma must be a finite "
                                                          r"number > 0, got 0"),
        (lambda: filters.gaussian_blur(5, -1.0), ValueError, r"gaussian_blur: sigma .* got -1.0"),
        (lambda: filters.gaussian_blur(5, float("nan")), ValueError, r"gaussian_blur: sigma"),
        (lambda: filters.gaussian_blur(5, float("inf")), ValueError, r"gaussian_blur: sigma"),
        (lambda: filters.gaussian_blur(5, "1"), TypeError, r"gaussian_blur: sigma must be a real"),
        (lambda: filters.gaussian_blur(5, 1j), TypeError, r"gaussian_blur: sigma must be a real"),
        (lambda: filters.vertical_edges("scharr"), ValueError,
         r"vertical_edges: kind must be one of \('sobel', 'prewitt'\), got 'scharr'"),
        (lambda: filters.horizontal_edges(None), ValueError, r"horizontal_edges: kind must be"),
        (lambda: filters.edges(6), ValueError, r"edges: neighbours must be 4 or 8, got 6"),
        (lambda: filters.dark_edges(True), ValueError, r"dark_edges: neighbours must be 4 or 8"),
        (lambda: filters.get("blur"), ValueError, r"filters.get: name must be one of .*box_blur.*"
                                                  r"got 'blur'"),
        (lambda: filters.get(3), ValueError, r"filters.get: name must be one of"),
        (lambda: filters.get("sharpen", size=3), TypeError,
         r"filters.get: filter 'sharpen' takes no parameters, got size"),
        (lambda: filters.get("box_blur", sigma=3), TypeError,
         r"filters.get: filter 'box_blur' takes only size, got sigma"),
        (lambda: filters.display_mode("blur"), ValueError, r"filters.display_mode: name must be"),
    ],
)
def test_bad_parameters_name_the_function_and_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_get_passes_parameters():
    assert np.array_equal(filters.get("gaussian_blur", size=7, sigma=2.0),
                          filters.gaussian_blur(7, 2.0))
    assert np.array_equal(filters.get("vertical_edges", kind="prewitt"),
                          filters.vertical_edges("prewitt"))
    assert np.array_equal(filters.get("edges", neighbours=4), filters.edges(4))


def test_docstring_examples_run():
    result = doctest.testmod(filters, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10 and result.failed == 0


# What a person would see ------------------------------------------------------------------------


def _step(vertical=True, dark=30, light=200, size=16):
    """A grey image, dark on one side of a step edge and light on the other."""
    img = np.full((size, size), dark, dtype=np.uint8)
    if vertical:
        img[:, size // 2:] = light
    else:
        img[size // 2:, :] = light
    return img


@pytest.mark.parametrize("kind", ["sobel", "prewitt"])
@pytest.mark.parametrize("border", ["zeros", "reflect", "replicate"])
def test_a_vertical_step_edge_shows_with_vertical_edges_and_not_with_horizontal_edges(kind, border):
    img = _step(vertical=True)
    v = cc.filter2d(img, filters.vertical_edges(kind), border)
    h = cc.filter2d(img, filters.horizontal_edges(kind), border)
    inner = (slice(1, -1), slice(1, -1))  # away from the image's borders
    weight = 4 if kind == "sobel" else 3
    # The response lies along the step (columns 7 and 8), positive: dark to light, left to right.
    assert np.all(v[inner][:, [6, 7]] == weight * 170)
    assert np.all(v[inner][:, :6] == 0) and np.all(v[inner][:, 8:] == 0)
    assert np.all(h[inner] == 0)
    # And the other way round for a horizontal step.
    img = _step(vertical=False)
    assert np.all(cc.filter2d(img, filters.vertical_edges(kind), border)[inner] == 0)
    h = cc.filter2d(img, filters.horizontal_edges(kind), border)
    assert np.all(h[inner][[6, 7]] == weight * 170)


def test_edges_respond_in_every_direction_and_dark_edges_to_dark_lines():
    img = np.full((15, 15), 200.0)
    img[7, :] = 20.0  # a thin dark horizontal line
    img[:, 3] = 20.0  # and a vertical one
    for k in (filters.edges(), filters.edges(4)):
        e = cc.filter2d(img, k, "replicate")
        assert e[7, 10] < 0 and e[10, 3] < 0          # dark lines: negative for edges
        assert e[6, 10] > 0 and e[10, 4] > 0          # their bright sides: positive
        assert e[11, 11] == 0                         # flat: nothing
    d = cc.filter2d(img, filters.dark_edges(), "replicate")
    shown = cc.to_uint8(d)                            # 'clip': the dark lines drawn bright
    assert shown[7, 10] == 255 and shown[10, 3] == 255
    assert shown[6, 10] == 0 and shown[11, 11] == 0


@pytest.mark.parametrize("picture", ["noise", "photo"])
def test_blurs_lower_the_variance_and_sharpen_raises_it(picture):
    rng = np.random.default_rng(0)
    if picture == "noise":
        img, factor = rng.integers(0, 256, (100, 100)).astype(np.uint8), 0.5
    else:
        if optional("PIL") is None:
            pytest.skip("Pillow is not installed (pip install '.[image]')")
        img, factor = cc.sample_image(grey=True)[180:330, 180:330], 0.98
    var = img.astype(np.float64).var()
    for k in (filters.box_blur(3), filters.box_blur(5), filters.gaussian_blur(5),
              filters.gaussian_blur(9, 3.0)):
        y = cc.filter2d(img, k, "reflect")
        assert y.var() < factor * var
        assert abs(y.mean() - img.mean()) < 1       # the weights add up to 1: same brightness
    assert cc.filter2d(img, filters.box_blur(7), "reflect").var() < cc.filter2d(
        img, filters.box_blur(3), "reflect").var()
    s = cc.filter2d(img, filters.sharpen(), "reflect")
    assert s.var() > var / factor and abs(s.mean() - img.mean()) < 1
    flat = np.full((9, 9), 77.0)
    for name in ("box_blur", "gaussian_blur", "sharpen", "emboss", "identity"):
        assert np.allclose(cc.filter2d(flat, filters.get(name), "replicate"), 77.0)


def test_emboss_lights_a_raised_shape_from_the_top_left():
    img = np.zeros((12, 12))
    img[4:8, 4:8] = 100.0  # a light square on black
    y = cc.filter2d(img, filters.emboss())
    assert y[4, 4] > 100 > 0 > y[7, 7]         # its top-left edge lit, its bottom-right in shadow
    assert y[5:7, 5:7].tolist() == [[100.0] * 2] * 2
