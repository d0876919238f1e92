"""Image files through Pillow (the ``[image]`` extra): read, save, and the shipped sample photo.

Pillow is imported only when one of these functions is called, so ``import cnncore`` works
without it.
"""

from __future__ import annotations

import os
import struct
import zlib
from importlib import resources

import numpy as np

from ._image import _as_image, to_grey

INSTALL_HINT = 'pip install "cnncore[image]"'
SAMPLE = "astronaut.png"


def pillow(fname):
    """The ``PIL.Image`` module, or an ImportError that says how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            f"{fname}: image files need Pillow, which is not installed: {INSTALL_HINT}"
        ) from None
    return Image


def _to_array(im):
    """A Pillow image as uint8 (H, W), (H, W, 3) or (H, W, 4)."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and a.max(initial=0) > 255):
            a = a / 257.0  # 16 bits to 8: 65535 -> 255
        return np.rint(np.clip(a, 0, 255)).astype(np.uint8)
    if mode in ("1", "L"):
        target = "L"
    elif mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in im.info:
        target = "RGBA"
    else:  # RGB, P, CMYK, YCbCr, LAB, HSV, RGBX, ...
        target = "RGB"
    if mode != target:
        im = im.convert(target)
    return np.asarray(im, dtype=np.uint8).copy()


def read_image(path, grey=False):
    """Read an image file (anything Pillow reads) as a uint8 array, channels last.

    Parameters
    ----------
    path : str or os.PathLike
    grey : bool
        Convert to grey with :func:`cnncore.to_grey` (ITU-R 601 weights, alpha dropped).

    Returns
    -------
    ndarray of uint8
        ``(H, W)`` for grey and black-and-white files; ``(H, W, 4)`` for files with transparency
        (RGBA, grey + alpha, palettes with a transparent colour); ``(H, W, 3)`` for everything
        else (RGB, palettes, CMYK, YCbCr, ...). 16-bit grey is scaled to 8 bits (``v / 257``,
        rounded); 32-bit integer and float grey are clipped to 0..255. An EXIF orientation tag
        (photos from phones) is applied; of an animation or a multi-page file, the first frame.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        No such file, or a folder.
    OSError
        Not an image, or a damaged one (a truncated PNG, say); the message names the file.
    ImportError
        Pillow is not installed (``pip install "cnncore[image]"``).

    Examples
    --------
    >>> import cnncore as cc, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "photo.png")
    >>> cc.save_image(path, cc.sample_image())
    >>> cc.read_image(path).shape, cc.read_image(path, grey=True).shape
    ((512, 512, 3), (512, 512))
    """
    fname = "read_image"
    Image = pillow(fname)
    from PIL import ImageOps

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{fname}: no such file: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{fname}: {path} is a folder, not an image file")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            arr = _to_array(im)
    except Image.UnidentifiedImageError:
        raise OSError(f"{fname}: {path} is not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
            Image.DecompressionBombError) as exc:
        raise OSError(f"{fname}: {path} is damaged or unreadable ({exc})") from None
    if arr.size == 0:
        raise OSError(f"{fname}: {path} is an empty image (shape {arr.shape})")
    return to_grey(arr) if grey else arr


def save_image(path, image):
    """Save a uint8 image to a file, in the format its extension names (PNG for ``.png``).

    Parameters
    ----------
    path : str or os.PathLike
        ``.png`` keeps every pixel exactly; Pillow knows many others (``.jpg``, ``.bmp``, ...).
    image : array_like of uint8, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        Convert a filter's result first with :func:`cnncore.to_uint8`.

    Examples
    --------
    >>> import numpy as np, cnncore as cc, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ramp.png")
    >>> cc.save_image(path, np.arange(256, dtype=np.uint8).reshape(16, 16))
    >>> int(cc.read_image(path)[15, 15])
    255
    """
    fname = "save_image"
    img = _as_image(image, fname)
    if img.dtype != np.uint8:
        raise TypeError(
            f"{fname}: image must be uint8, got {img.dtype}; convert a filter's result with "
            f"cnncore.to_uint8(result, mode)"
        )
    Image = pillow(fname)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    path = os.fspath(path)
    try:
        Image.fromarray(np.ascontiguousarray(img)).save(path)
    except ValueError as exc:  # Pillow's "unknown file extension"
        raise ValueError(f"{fname}: cannot save {path}: {exc}") from None
    except OSError as exc:
        raise OSError(f"{fname}: cannot save {path}: {exc}") from None


def sample_image(grey=False):
    """The sample photograph shipped with cnncore: astronaut Eileen Collins, 512 x 512 RGB.

    A public-domain NASA photograph (NASA Great Images database, <https://flic.kr/p/r9qvLn>),
    the one scikit-image ships as ``skimage.data.astronaut()``, pixel for pixel. Its source and
    licence are in ``cnncore/data/README.md``. Needs Pillow.

    Parameters
    ----------
    grey : bool
        Return it in grey (:func:`cnncore.to_grey`).

    Returns
    -------
    ndarray of uint8, shape (512, 512, 3), or (512, 512) when ``grey``

    Examples
    --------
    >>> import cnncore as cc
    >>> img = cc.sample_image()
    >>> img.shape, img.dtype
    ((512, 512, 3), dtype('uint8'))
    """
    Image = pillow("sample_image")
    with resources.files("cnncore").joinpath("data").joinpath(SAMPLE).open("rb") as f:
        with Image.open(f) as im:
            arr = _to_array(im)
    return to_grey(arr) if grey else arr
