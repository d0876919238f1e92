"""The gallery: an image and its filtered versions side by side, grey and RGB, as one picture."""

from __future__ import annotations

import os

import numpy as np

from . import filters as _filters
from ._image import _as_image, filter2d, to_grey, to_uint8
from ._imageio import pillow, read_image, sample_image, save_image

TITLE_HEIGHT = 22
GAP = 8
FONT_SIZE = 14


def _entries(spec, fname):
    """``filters`` as a list of (title, kernel, display mode)."""
    if spec is None:
        spec = [name for name in _filters.available() if name != "identity"]
    elif isinstance(spec, dict):
        spec = list(spec.items())
    elif isinstance(spec, str):
        spec = [spec]
    entries = []
    for item in spec:
        if isinstance(item, str):
            if item not in _filters.available():
                raise ValueError(
                    f"{fname}: filters has an unknown name {item!r}; the named filters are "
                    f"{', '.join(_filters.available())}"
                )
            entries.append((item, _filters.get(item), _filters.display_mode(item)))
        elif isinstance(item, (tuple, list)) and len(item) in (2, 3) and isinstance(item[0], str):
            mode = item[2] if len(item) == 3 else "clip"
            entries.append((item[0], item[1], mode))
        else:
            raise TypeError(
                f"{fname}: filters must hold filter names or (title, kernel[, display mode]) "
                f"tuples, got {item!r}"
            )
    return entries


def _fit(img, panel_size, Image, fname):
    """``img`` (uint8) shrunk to fit a ``panel_size`` square, keeping its proportions."""
    if panel_size is None:
        return img
    if isinstance(panel_size, (bool, np.bool_)) or not isinstance(panel_size, (int, np.integer)):
        raise TypeError(f"{fname}: panel_size must be an int or None, got {panel_size!r}")
    if panel_size < 8:
        raise ValueError(f"{fname}: panel_size must be >= 8, got {panel_size}")
    h, w = img.shape[:2]
    if max(h, w) <= panel_size:
        return img
    f = panel_size / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    resampling = getattr(Image, "Resampling", Image)
    return np.asarray(Image.fromarray(img).resize(size, resampling.LANCZOS))


def _font(ImageFont):
    try:
        return ImageFont.load_default(size=FONT_SIZE)
    except TypeError:  # Pillow < 10.1: one bitmap font size only
        return ImageFont.load_default()


def gallery(image=None, filters=None, path=None, *, panel_size=256, border="reflect"):
    """The image and each filter's result side by side, grey and RGB, as one picture.

    One row filters the image in grey (:func:`cnncore.to_grey`), the next filters its three RGB
    channels; each row starts with the original, and every panel is titled with its filter's
    name. Each result is shown with the filter's display mode (:func:`cnncore.filters.display_mode`:
    ``'centered'`` for the signed derivatives, ``'clip'`` otherwise; see :func:`cnncore.to_uint8`).

    Parameters
    ----------
    image : array_like, str, os.PathLike or None
        An image on the 0..255 scale (``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``; alpha is
        dropped), an image file, or None for :func:`cnncore.sample_image`. A grey image gives
        the grey row only.
    filters : list, dict or None
        Filter names (see :func:`cnncore.filters.available`), ``(title, kernel)`` or
        ``(title, kernel, display mode)`` tuples, or a dict from title to kernel. Default: every
        named filter but ``identity``, with its default parameters.
    path : str or os.PathLike, optional
        Where to save the gallery (PNG for a ``.png`` name).
    panel_size : int or None
        The image is first shrunk to fit a ``panel_size`` square (default 256 pixels), so that the
        kernels act at the scale the gallery shows; None keeps its size.
    border : str
        :func:`cnncore.filter2d`'s border; ``'reflect'`` keeps blurs free of a dark frame.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
        The gallery picture (also saved to ``path`` when given).

    Examples
    --------
    >>> import cnncore as cc
    >>> g = cc.gallery(filters=["vertical_edges", "sharpen"], panel_size=64)
    >>> g.shape
    (196, 224, 3)
    """
    fname = "gallery"
    Image = pillow(fname)
    from PIL import ImageDraw, ImageFont

    if image is None:
        img = sample_image()
    elif isinstance(image, (str, os.PathLike)):
        img = read_image(image)
    else:
        img = to_uint8(_as_image(image, fname))
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    entries = _entries(filters, fname)
    img = _fit(img, panel_size, Image, fname)

    rows = [("grey", to_grey(img))] if img.ndim == 2 else [("grey", to_grey(img)), ("RGB", img)]
    panels = []
    for label, src in rows:
        row = [(f"original ({label})", src)]
        for title, kernel, mode in entries:
            row.append((title, to_uint8(filter2d(src, kernel, border=border), mode)))
        panels.append(row)

    h, w = img.shape[:2]
    cell_h, cell_w = TITLE_HEIGHT + h, w
    width = GAP + len(panels[0]) * (cell_w + GAP)
    height = GAP + len(panels) * (cell_h + GAP)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font(ImageFont)
    for r, row in enumerate(panels):
        for c, (title, pic) in enumerate(row):
            x0, y0 = GAP + c * (cell_w + GAP), GAP + r * (cell_h + GAP)
            canvas.paste(Image.fromarray(pic).convert("RGB"), (x0, y0 + TITLE_HEIGHT))
            left, top, right, bottom = draw.textbbox((0, 0), title, font=font)
            tx = x0 + max(0, (cell_w - (right - left)) // 2)
            ty = y0 + (TITLE_HEIGHT - (bottom - top)) // 2 - top
            draw.text((tx, ty), title, fill="black", font=font)
    out = np.asarray(canvas).copy()
    if path is not None:
        save_image(path, out)
    return out
