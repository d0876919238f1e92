"""Images as they come: filter2d, grey conversion, and results turned back into pictures.

An image is a NumPy array with channels last, as Pillow, OpenCV and scikit-image give it:
``(H, W)`` grey, ``(H, W, 1)`` grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA. The filtering itself
is a 2-D correlation computed by the C++ core, which extends the edges by the border rule itself.
"""

from __future__ import annotations

import math

import numpy as np

from . import _core
from ._common import (
    as_input,
    as_real,
    check_output_size,
    compute_dtype,
    core_call,
    finish,
    to_core,
)

# filter2d's border names -> numpy.pad's mode (the table in filter2d's docstring).
_BORDERS = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "wrap": "wrap"}
_DISPLAY_MODES = ("clip", "centered", "magnitude", "normalize")


def _as_image(image, fname, name="image"):
    """``image`` as a real ndarray of shape (H, W) or (H, W, C) with C in 1, 3, 4; not empty."""
    img = as_input(image, name, fname)
    if img.ndim not in (2, 3):
        raise ValueError(
            f"{fname}: {name} must be (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, channels last; "
            f"got {img.ndim}-D with shape {img.shape}"
        )
    if img.ndim == 3 and img.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"{fname}: {name} must have 1 (grey), 3 (RGB) or 4 (RGBA) channels in its last axis, "
            f"got {img.shape[2]} (shape {img.shape}); a channels-first array needs "
            f"numpy.moveaxis(image, 0, -1)"
        )
    if img.size == 0:
        raise ValueError(f"{fname}: {name} must not be empty, got shape {img.shape}")
    return img


def filter2d(image, kernel, border="zeros"):
    """Filter an image with a 2-D kernel: grey, RGB or RGBA, uint8 or float, channels last.

    ``out[i, j] = sum_a sum_b kernel[a, b] * padded[i + a, j + b]``, with the image padded by
    ``k_h // 2`` rows on top, ``(k_h - 1) // 2`` below, ``k_w // 2`` columns on the left and
    ``(k_w - 1) // 2`` on the right: the kernel's centre is at ``(k_h // 2, k_w // 2)`` and the
    output has the image's height and width. This is a correlation (the kernel is not flipped),
    with exactly the centre and borders of ``cv2.filter2D`` and ``scipy.ndimage.correlate``;
    for a symmetric kernel it is also the convolution.

    Parameters
    ----------
    image : array_like, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        Any real dtype. Every colour channel is filtered with the same kernel; the alpha channel
        of an RGBA image is passed through unchanged. An empty image is a ValueError.
    kernel : array_like, shape (k_h, k_w)
        Any size >= 1, even ones included, including larger than the image (an empty kernel
        is a ValueError). See
        :mod:`cnncore.filters` for the classic ones.
    border : {'zeros', 'reflect', 'replicate', 'wrap'}
        What lies beyond the edges, for an image row ``a b c d``:

        ============  ===============  =====================  =================  ================
        border        padded row       OpenCV                 scipy.ndimage      numpy.pad
        ============  ===============  =====================  =================  ================
        'zeros'       ``0 0|abcd|0 0`` ``BORDER_CONSTANT``    ``'constant'``     ``'constant'``
        'reflect'     ``c b|abcd|c b`` ``BORDER_REFLECT_101`` ``'mirror'``       ``'reflect'``
        'replicate'   ``a a|abcd|d d`` ``BORDER_REPLICATE``   ``'nearest'``      ``'edge'``
        'wrap'        ``c d|abcd|a b`` ``BORDER_WRAP`` [1]_   ``'wrap'``         ``'wrap'``
        ============  ===============  =====================  =================  ================

        'reflect' mirrors about the edge pixel without repeating it; beware that scipy.ndimage's
        own ``'reflect'`` repeats it (``b a|abcd|d c``, OpenCV's ``BORDER_REFLECT``). A kernel
        larger than the image reflects (or wraps) again and again, as all three libraries do.

    Returns
    -------
    ndarray, the image's shape
        dtype ``numpy.result_type(image, numpy.float32)``: float32 for a uint8 (or any 8- or 16-bit
        integer) image, float64 for a float64 image. The kernel is a parameter, like OpenCV's
        ``ddepth``: it is cast to that dtype, so a float64 (or list) kernel does not turn a uint8
        image's result into float64. Values are not clipped: see :func:`to_uint8`.

    .. [1] ``cv2.filter2D`` refuses ``BORDER_WRAP``; ``cv2.copyMakeBorder`` accepts it.

    Examples
    --------
    >>> import numpy as np, cnncore as cc
    >>> img = np.array([[0, 0, 9, 9]] * 3, dtype=np.uint8)       # a vertical step edge
    >>> cc.filter2d(img, cc.filters.vertical_edges(), border="replicate")
    array([[ 0., 36., 36.,  0.],
           [ 0., 36., 36.,  0.],
           [ 0., 36., 36.,  0.]], dtype=float32)
    >>> cc.filter2d(img, [[1, 1]], border="zeros")[0]             # even kernel: centre at column 1
    array([ 0.,  0.,  9., 18.], dtype=float32)
    >>> rgba = np.zeros((2, 2, 4), np.uint8); rgba[..., 3] = 200
    >>> cc.filter2d(rgba, cc.filters.box_blur(3))[..., 3]         # alpha passed through
    array([[200., 200.],
           [200., 200.]], dtype=float32)
    """
    fname = "filter2d"
    img = _as_image(image, fname)
    k = as_input(kernel, "kernel", fname)
    if k.ndim != 2:
        raise ValueError(
            f"{fname}: kernel must be 2-D (k_h, k_w), got {k.ndim}-D with shape {k.shape}"
        )
    if k.size == 0:
        raise ValueError(f"{fname}: kernel must not be empty, got shape {k.shape}")
    if not isinstance(border, str) or border not in _BORDERS:
        raise ValueError(f"{fname}: border must be one of {tuple(_BORDERS)}, got {border!r}")

    rtype = np.result_type(img, np.float32)
    ctype = compute_dtype(rtype)
    planes = img[..., None] if img.ndim == 2 else img
    h, w, c = planes.shape
    check_output_size(fname, planes.shape, rtype.itemsize)
    # Channels last, a row holds its pixels' c channels side by side: the core filters the
    # (H, W * c) rows with the kernel's columns c apart, extending the edges by the border rule
    # as it goes (no padded copy of the image, no transposes).
    x = to_core(planes, ctype, fname, "image").reshape(h, w * c)
    y = finish(core_call(fname, _core.filter2d, x, to_core(k, ctype, fname, "kernel"), c, border),
               rtype)
    out = y.reshape(h, w, c)
    if c == 4:
        out[..., 3] = planes[..., 3]  # alpha passes through
    return out.reshape(img.shape)


def to_grey(image):
    """Grey from RGB(A) with the ITU-R 601 luma weights: ``0.299 R + 0.587 G + 0.114 B``.

    The weights of Pillow's ``convert('L')`` and of OpenCV's ``COLOR_RGB2GRAY``. Alpha is
    ignored. A grey image is returned as a copy.

    Parameters
    ----------
    image : array_like, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)

    Returns
    -------
    ndarray, shape (H, W)
        uint8 for a uint8 image, rounded exactly as Pillow does (so ``to_grey(a)`` equals
        ``numpy.asarray(Image.fromarray(a).convert('L'))``); otherwise
        ``numpy.result_type(image, numpy.float32)``, not rounded.

    Examples
    --------
    >>> import numpy as np, cnncore as cc
    >>> cc.to_grey(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8))
    array([[ 76, 150,  29]], dtype=uint8)
    """
    fname = "to_grey"
    img = _as_image(image, fname)
    if img.ndim == 2 or img.shape[2] == 1:
        return np.array(img.reshape(img.shape[:2]))
    r, g, b = (img[..., c] for c in range(3))
    if img.dtype == np.uint8:
        # Pillow's fixed-point arithmetic: the weights times 2**16, rounded to nearest.
        r, g, b = (c.astype(np.uint32) for c in (r, g, b))
        return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)
    rtype = np.result_type(img, np.float32)
    r, g, b = (c.astype(rtype) for c in (r, g, b))
    return (0.299 * r + 0.587 * g + 0.114 * b).astype(rtype)


def _finite_max_abs(values):
    finite = values[np.isfinite(values)]
    return float(np.max(np.abs(finite))) if finite.size else 0.0


def to_uint8(result, mode="clip", *, scale=None, white=255):
    """A filter's result as a uint8 picture to show or save.

    Parameters
    ----------
    result : array_like, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        Typically :func:`filter2d`'s output. The colour channels are mapped together (one scale
        for all three, so colours keep their balance); an alpha channel (the 4th) is mapped as in
        ``'clip'`` mode.
    mode : {'clip', 'centered', 'magnitude', 'normalize'}
        - ``'clip'``: the values as they are, ``white`` shown as 255; below 0 is black, above
          ``white`` is white. Right for blurs, sharpen and emboss, whose results stay on the
          image's scale.
        - ``'centered'``: a signed response centred on zero: ``128 + 127 * r / scale``, so zero is
          mid-grey (128), ``+scale`` white (255) and ``-scale`` nearly black (1). Right for the
          derivative filters, whose sign says which way the brightness changes.
        - ``'magnitude'``: ``255 * |r| / scale``: black where there is no response, whatever
          its sign.
        - ``'normalize'``: the smallest value to 0 and the largest to 255 (a constant result gives
          0 everywhere).
    scale : float, optional
        For ``'centered'`` and ``'magnitude'``: the response shown at full intensity; larger ones
        saturate. Default: the largest absolute (finite) value of the result.
    white : float
        For ``'clip'`` and alpha: the value shown as white, 255 for images read from 8-bit files
        (the default), 1 for images in [0, 1].

    Returns
    -------
    ndarray of uint8, the shape of ``result``
        Rounded to the nearest integer. NaN is shown as 0.

    Examples
    --------
    >>> import numpy as np, cnncore as cc
    >>> r = np.array([[-40.0, 0.0, 20.0, 400.0]])
    >>> cc.to_uint8(r)
    array([[  0,   0,  20, 255]], dtype=uint8)
    >>> cc.to_uint8(r, "centered", scale=40)
    array([[  1, 128, 192, 255]], dtype=uint8)
    >>> cc.to_uint8(r, "magnitude", scale=40)
    array([[255,   0, 128, 255]], dtype=uint8)
    >>> cc.to_uint8(r, "normalize")
    array([[  0,  23,  35, 255]], dtype=uint8)
    """
    fname = "to_uint8"
    res = _as_image(result, fname, "result")
    if not isinstance(mode, str) or mode not in _DISPLAY_MODES:
        raise ValueError(f"{fname}: mode must be one of {_DISPLAY_MODES}, got {mode!r}")
    for name, value in (("scale", scale), ("white", white)):
        if value is not None and not (math.isfinite(as_real(value, name, fname)) and value > 0):
            raise ValueError(f"{fname}: {name} must be a finite number > 0, got {value!r}")
    has_alpha = res.ndim == 3 and res.shape[2] == 4
    values = (res[..., :3] if has_alpha else res).astype(np.float64)
    if mode == "clip":
        mapped = values * (255.0 / float(white))
    elif mode == "normalize":
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        mapped = (values - lo) * (255.0 / (hi - lo)) if hi > lo else values - lo
    else:
        s = _finite_max_abs(values) if scale is None else float(scale)
        t = values / s if s > 0 else np.zeros_like(values)
        mapped = 128.0 + 127.0 * t if mode == "centered" else 255.0 * np.abs(t)
    out = np.empty(res.shape, dtype=np.uint8)
    channels = [(slice(0, 3) if has_alpha else slice(None), mapped)]
    if has_alpha:
        channels.append((3, res[..., 3].astype(np.float64) * (255.0 / float(white))))
    for where, v in channels:
        v = np.nan_to_num(v, nan=0.0, posinf=255.0, neginf=0.0)
        out[..., where] = np.rint(np.clip(v, 0.0, 255.0)).astype(np.uint8)
    return out
