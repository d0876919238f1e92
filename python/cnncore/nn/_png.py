"""A dependency-free PNG writer and a small bitmap font for digits: pictures with NumPy alone.

``write_png`` writes 8-bit greyscale ``(H, W)`` or RGB ``(H, W, 3)`` arrays (PNG colour types 0
and 2, no interlace, filter 0 on every row) with :mod:`zlib` and :mod:`struct`.
``draw_text`` stamps digits and a few signs from a 5x7 bitmap font onto such an array.

>>> import numpy as np, os, tempfile
>>> canvas = np.zeros((9, 13), np.uint8)
>>> draw_text(canvas, "42", top=1, left=1, color=255)
>>> path = os.path.join(tempfile.mkdtemp(), "42.png")
>>> write_png(path, canvas)
>>> with open(path, "rb") as f:
...     f.read(8) == PNG_SIGNATURE
True
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

__all__ = ["PNG_SIGNATURE", "write_png", "draw_text", "FONT", "GLYPH_HEIGHT", "GLYPH_WIDTH"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# 5x7 glyphs, one string per row, '#' for ink.
_GLYPHS = {
    "0": [" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "],
    "1": ["  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
    "2": [" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"],
    "3": ["#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "],
    "4": ["   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "],
    "5": ["#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "],
    "6": ["  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "],
    "7": ["#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "],
    "8": [" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "],
    "9": [" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "],
    "/": ["    #", "    #", "   # ", "  #  ", " #   ", "#    ", "#    "],
    "?": [" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "],
    " ": ["     "] * 7,
}
GLYPH_HEIGHT, GLYPH_WIDTH = 7, 5
FONT = {ch: np.array([[c == "#" for c in row] for row in rows]) for ch, rows in _GLYPHS.items()}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png(path, image) -> None:
    """Write a uint8 image, ``(H, W)`` grey or ``(H, W, 3)`` RGB, to ``path`` as a PNG.

    Raises ``ValueError`` for any other shape or dtype.
    """
    image = np.asarray(image)
    grey_or_rgb = image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    if image.dtype != np.uint8 or not grey_or_rgb:
        raise ValueError(
            f"write_png: image must be uint8 (H, W) or (H, W, 3), got {image.dtype} {image.shape}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"write_png: image must not be empty, got shape {image.shape}")
    height, width = image.shape[:2]
    colour_type = 0 if image.ndim == 2 else 2
    rows = np.ascontiguousarray(image).reshape(height, -1)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows])  # filter type 0 before each row
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    data = (PNG_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)) + _chunk(b"IEND", b""))
    with open(os.fspath(path), "wb") as f:
        f.write(data)


def draw_text(canvas: np.ndarray, text: str, top: int, left: int, color, scale: int = 1) -> None:
    """Stamp ``text`` (digits, ``/``, ``?`` and spaces) onto ``canvas`` in place.

    Each glyph is 5x7 pixels times ``scale``, with one column (times ``scale``) between glyphs;
    ``color`` is a grey level or an RGB triple matching the canvas. Parts falling outside the
    canvas are clipped.
    """
    step = (GLYPH_WIDTH + 1) * scale
    for i, ch in enumerate(text):
        glyph = FONT.get(ch, FONT["?"])
        mask = np.kron(glyph, np.ones((scale, scale), bool))
        y0, x0 = top, left + i * step
        y1, x1 = min(y0 + mask.shape[0], canvas.shape[0]), min(x0 + mask.shape[1], canvas.shape[1])
        if y0 >= canvas.shape[0] or x0 >= canvas.shape[1] or y1 <= max(y0, 0) or x1 <= max(x0, 0):
            continue
        ys, xs = max(y0, 0), max(x0, 0)
        region = canvas[ys:y1, xs:x1]
        region[mask[ys - y0:y1 - y0, xs - x0:x1 - x0]] = color
