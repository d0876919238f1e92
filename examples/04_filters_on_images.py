"""The lecture's exercise: classic filters on a real photo, in grey and then in RGB.

Filters the sample photo (or the image file given as the first argument) with every named filter,
first in grey and then on the three RGB channels, and saves each result and one gallery picture
into a folder (the second argument, default ./filters-output). Needs Pillow:
pip install "cnncore[image]".

Run: python examples/04_filters_on_images.py [IMAGE] [OUTPUT_FOLDER]
"""

import os
import sys

import numpy as np

import cnncore as cc
from cnncore import filters

image = cc.read_image(sys.argv[1]) if len(sys.argv) > 1 else cc.sample_image()
out = sys.argv[2] if len(sys.argv) > 2 else "filters-output"
os.makedirs(out, exist_ok=True)
grey = cc.to_grey(image)
print(f"image {image.shape}, grey {grey.shape}; writing into {out}/")

for name, description in filters.available().items():
    kernel = filters.get(name)
    g = cc.filter2d(grey, kernel, border="reflect")    # one channel
    rgb = cc.filter2d(image, kernel, border="reflect")  # each of R, G, B with the same kernel
    # The RGB result is the grey filter applied to each channel:
    assert np.array_equal(rgb[..., 0], cc.filter2d(image[..., 0], kernel, border="reflect"))
    mode = filters.display_mode(name)                   # signed edges are shown around grey
    cc.save_image(os.path.join(out, f"{name}-grey.png"), cc.to_uint8(g, mode))
    cc.save_image(os.path.join(out, f"{name}-rgb.png"), cc.to_uint8(rgb, mode))
    print(f"  {name:<17} {kernel.shape[0]}x{kernel.shape[1]}  result {g.min():8.1f} .. "
          f"{g.max():7.1f}  ({description})")

# A bigger blur, and a kernel of our own: a diagonal edge detector.
cc.save_image(os.path.join(out, "gaussian_blur_15.png"),
              cc.to_uint8(cc.filter2d(image, filters.gaussian_blur(15, 4.0), "reflect")))
diagonal = np.array([[0, 1, 2], [-1, 0, 1], [-2, -1, 0]])
cc.save_image(os.path.join(out, "diagonal.png"),
              cc.to_uint8(cc.filter2d(grey, diagonal, "reflect"), "centered"))

# Everything side by side in one picture.
cc.gallery(image, path=os.path.join(out, "gallery.png"))
print(f"gallery: {os.path.join(out, 'gallery.png')}")
