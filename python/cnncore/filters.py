"""The classic image kernels, by name: edges, blurs, sharpen, emboss.

Each function returns a new 2-D float64 ndarray to pass to :func:`cnncore.filter2d`, which
*correlates* the image with it (the kernel is not flipped, as in ``cv2.filter2D`` and in deep
learning) with the kernel's centre at ``(k_h // 2, k_w // 2)``. With that convention the signs
below mean what their descriptions say: ``vertical_edges`` is positive where the image gets brighter
from left to right.

==================  ======================================================  ===============
name                what it shows                                           display
==================  ======================================================  ===============
vertical_edges      vertical edges: brightness changing left to right       ``'centered'``
horizontal_edges    horizontal edges: brightness changing top to bottom     ``'centered'``
edges               edges in every direction (negated Laplacian)            ``'clip'``
dark_edges          dark lines and the dark side of edges (Laplacian)       ``'clip'``
box_blur            the mean of a size x size window                        ``'clip'``
gaussian_blur       a Gaussian-weighted mean (smoother than the box)        ``'clip'``
sharpen             the image plus its negated 4-neighbour Laplacian        ``'clip'``
emboss              relief lit from the top left                            ``'clip'``
identity            the image unchanged                                     ``'clip'``
==================  ======================================================  ===============

The *display* column is the :func:`cnncore.to_uint8` mode that :func:`cnncore.gallery` and
``cnncore filter`` use by default: ``'centered'`` shows a signed response as grey 128 for zero,
lighter for positive and darker for negative.

>>> from cnncore import filters
>>> filters.sharpen()
array([[ 0., -1.,  0.],
       [-1.,  5., -1.],
       [ 0., -1.,  0.]])
>>> filters.get("box_blur", size=2)
array([[0.25, 0.25],
       [0.25, 0.25]])
>>> list(filters.available())[:3]
['vertical_edges', 'horizontal_edges', 'edges']
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from ._common import check_output_size

__all__ = [
    "vertical_edges",
    "horizontal_edges",
    "edges",
    "dark_edges",
    "box_blur",
    "gaussian_blur",
    "sharpen",
    "emboss",
    "identity",
    "available",
    "get",
    "display_mode",
]

_EDGE_KINDS = {
    # The derivative across the edge, and the smoothing along it.
    "sobel": ([-1.0, 0.0, 1.0], [1.0, 2.0, 1.0]),
    "prewitt": ([-1.0, 0.0, 1.0], [1.0, 1.0, 1.0]),
}


def _edge_parts(kind, fname):
    if not isinstance(kind, str) or kind not in _EDGE_KINDS:
        raise ValueError(f"{fname}: kind must be one of {tuple(_EDGE_KINDS)}, got {kind!r}")
    return _EDGE_KINDS[kind]


def _size(value, name, fname, *, odd=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fname}: {name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < 1:
        raise ValueError(f"{fname}: {name} must be >= 1, got {value}")
    if odd and value % 2 == 0:
        raise ValueError(f"{fname}: {name} must be odd (the kernel needs a centre), got {value}")
    return value


def vertical_edges(kind="sobel"):
    """Vertical edges: the horizontal derivative, smoothed vertically (Sobel or Prewitt).

    Positive where the image gets brighter from left to right, negative where it gets darker, zero
    on flat areas and on horizontal edges. The same kernel as ``cv2.Sobel(img, dx=1, dy=0)``.

    Parameters
    ----------
    kind : {'sobel', 'prewitt'}
        ``'sobel'`` weighs the centre row twice, ``'prewitt'`` weighs the three rows equally::

            sobel:  [[-1, 0, 1],      prewitt: [[-1, 0, 1],
                     [-2, 0, 2],                [-1, 0, 1],
                     [-1, 0, 1]]                [-1, 0, 1]]

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.vertical_edges()
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    >>> filters.vertical_edges("prewitt")
    array([[-1.,  0.,  1.],
           [-1.,  0.,  1.],
           [-1.,  0.,  1.]])
    """
    diff, smooth = _edge_parts(kind, "vertical_edges")
    return np.outer(smooth, diff)


def horizontal_edges(kind="sobel"):
    """Horizontal edges: the vertical derivative, smoothed horizontally (Sobel or Prewitt).

    The transpose of :func:`vertical_edges`: positive where the image gets brighter from top to
    bottom, zero on flat areas and on vertical edges.

    Parameters
    ----------
    kind : {'sobel', 'prewitt'}
        ::

            sobel:  [[-1, -2, -1],    prewitt: [[-1, -1, -1],
                     [ 0,  0,  0],              [ 0,  0,  0],
                     [ 1,  2,  1]]              [ 1,  1,  1]]

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.horizontal_edges()
    array([[-1., -2., -1.],
           [ 0.,  0.,  0.],
           [ 1.,  2.,  1.]])
    """
    diff, smooth = _edge_parts(kind, "horizontal_edges")
    return np.outer(diff, smooth)


def _laplacian(neighbours, fname):
    """The discrete Laplacian: centre -4 (4 neighbours) or -8 (8 neighbours), sum zero."""
    if isinstance(neighbours, (bool, np.bool_)) or neighbours not in (4, 8):
        raise ValueError(f"{fname}: neighbours must be 4 or 8, got {neighbours!r}")
    if neighbours == 4:
        return np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    k = np.ones((3, 3))
    k[1, 1] = -8.0
    return k


def edges(neighbours=8):
    """Edges in every direction: the negated Laplacian (the "outline" kernel).

    The centre minus its neighbours: zero on flat areas and on constant slopes, positive on the
    bright side of an edge and on thin bright lines, negative on the dark side. Shown with
    ``to_uint8(..., 'clip')`` it draws bright outlines on black.

    Parameters
    ----------
    neighbours : {8, 4}
        8 includes the diagonals (more even in every direction); 4 is the smaller stencil::

            8: [[-1, -1, -1],      4: [[ 0, -1,  0],
                [-1,  8, -1],          [-1,  4, -1],
                [-1, -1, -1]]          [ 0, -1,  0]]

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.edges()
    array([[-1., -1., -1.],
           [-1.,  8., -1.],
           [-1., -1., -1.]])
    """
    return -_laplacian(neighbours, "edges")


def dark_edges(neighbours=8):
    """Dark lines and the dark side of edges: the discrete Laplacian itself.

    Exactly ``-edges(neighbours)``: the neighbours minus the centre, so positive where a pixel is
    darker than its surroundings: on thin dark lines (a pencil stroke, a crease, an eyelash) and
    on the dark side of every edge. Shown with ``to_uint8(..., 'clip')`` it draws the image's
    dark lines as bright ones on black. ``scipy.ndimage.laplace`` and ``cv2.Laplacian(ksize=1)``
    compute the 4-neighbour version.

    Parameters
    ----------
    neighbours : {8, 4}
        ::

            8: [[1,  1, 1],        4: [[0,  1, 0],
                [1, -8, 1],            [1, -4, 1],
                [1,  1, 1]]            [0,  1, 0]]

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.dark_edges(4)
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]])
    """
    return _laplacian(neighbours, "dark_edges")


def box_blur(size=3):
    """Box blur: every output pixel the mean of a window, ``ones((h, w)) / (h * w)``.

    Parameters
    ----------
    size : int or (int, int)
        The window, ``size x size`` or ``(height, width)``; any size >= 1, even ones included (the
        centre is then at ``(h // 2, w // 2)``, as in OpenCV and scipy.ndimage).

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.box_blur(3) * 9
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]])
    >>> filters.box_blur((1, 4))
    array([[0.25, 0.25, 0.25, 0.25]])
    """
    fname = "box_blur"
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(
                f"{fname}: size must be an int or a (height, width) pair, got {size!r}"
            )
        h, w = (_size(s, "size", fname) for s in size)
    else:
        h = w = _size(size, "size", fname)
    check_output_size(fname, (h, w), 8, "size")
    return np.full((h, w), 1.0 / (h * w))


def gaussian_blur(size=5, sigma=None):
    """Gaussian blur: a normalised ``size x size`` Gaussian, ``exp(-(x^2 + y^2) / (2 sigma^2))``.

    The outer product of the 1-D kernel ``g[i] = exp(-(i - (size - 1)/2)^2 / (2 sigma^2))``
    divided by its sum, so the weights add up to 1 and flat areas keep their brightness: the kernel
    of ``cv2.getGaussianKernel(size, sigma)`` for ``sigma > 0``.

    Parameters
    ----------
    size : int
        Odd, >= 1. Most of the weight lies within ``3 sigma`` of the centre: ``size`` around
        ``6 sigma + 1`` keeps nearly all of the Gaussian.
    sigma : float, optional
        The standard deviation in pixels, > 0. Default: OpenCV's rule for a given size,
        ``0.3 * ((size - 1) * 0.5 - 1) + 0.8`` (1.1 for size 5, 1.4 for size 7). OpenCV itself,
        given ``sigma=0`` and a size up to 7, uses fixed binomial tables instead of this rule.

    Examples
    --------
    >>> from cnncore import filters
    >>> k = filters.gaussian_blur(3, sigma=1.0)
    >>> k.round(4)
    array([[0.0751, 0.1238, 0.0751],
           [0.1238, 0.2042, 0.1238],
           [0.0751, 0.1238, 0.0751]])
    >>> round(float(k.sum()), 12)
    1.0
    """
    fname = "gaussian_blur"
    size = _size(size, "size", fname, odd=True)
    check_output_size(fname, (size, size), 8, "size")
    if sigma is None:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    elif isinstance(sigma, (bool, np.bool_)) or not isinstance(sigma, numbers.Real):
        raise TypeError(
            f"{fname}: sigma must be a real number, got {type(sigma).__name__} {sigma!r}"
        )
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"{fname}: sigma must be a finite number > 0, got {sigma!r}")
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    g /= g.sum()
    return np.outer(g, g)


def sharpen():
    """Sharpen ("realzar"): the image plus its negated 4-neighbour Laplacian.

    ``identity() + edges(4)``: flat areas are unchanged (the weights add up to 1) and every
    difference from the neighbours is doubled, so edges and texture stand out::

        [[ 0, -1,  0],
         [-1,  5, -1],
         [ 0, -1,  0]]

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.sharpen()
    array([[ 0., -1.,  0.],
           [-1.,  5., -1.],
           [ 0., -1.,  0.]])
    """
    return np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])


def emboss():
    """Emboss: the image as a relief, lit from the top left.

    The image plus its diagonal derivative (the weights add up to 1): flat areas keep their
    brightness; a light shape looks raised, lit from the top left, its top-left edges lighter and
    its bottom-right edges in shadow::

        [[-2, -1, 0],
         [-1,  1, 1],
         [ 0,  1, 2]]

    Examples
    --------
    >>> from cnncore import filters
    >>> float(filters.emboss().sum())
    1.0
    """
    return np.array([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])


def identity():
    """The identity kernel: the image unchanged (a 1 at the centre of a 3x3 of zeros).

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.identity()
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    """
    k = np.zeros((3, 3))
    k[1, 1] = 1.0
    return k


# name -> (function, one-line description, display mode)
_REGISTRY = {
    "vertical_edges": (
        vertical_edges, "vertical edges (Sobel, or kind='prewitt')", "centered"),
    "horizontal_edges": (
        horizontal_edges, "horizontal edges (Sobel, or kind='prewitt')", "centered"),
    "edges": (edges, "edges in every direction (negated Laplacian, neighbours=8 or 4)", "clip"),
    "dark_edges": (dark_edges, "dark lines and the dark side of edges (Laplacian)", "clip"),
    "box_blur": (box_blur, "mean of a size x size window (size=3)", "clip"),
    "gaussian_blur": (
        gaussian_blur, "Gaussian-weighted mean (size=5, sigma=OpenCV's rule)", "clip"),
    "sharpen": (sharpen, "the classic 3x3 sharpen [[0,-1,0],[-1,5,-1],[0,-1,0]]", "clip"),
    "emboss": (emboss, "relief lit from the top left", "clip"),
    "identity": (identity, "the image unchanged", "clip"),
}


def available():
    """The named filters: a dict from name to a one-line description, in a sensible order.

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.available()["sharpen"]
    'the classic 3x3 sharpen [[0,-1,0],[-1,5,-1],[0,-1,0]]'
    """
    return {name: entry[1] for name, entry in _REGISTRY.items()}


def _entry(name, fname):
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f"{fname}: name must be one of {', '.join(_REGISTRY)}, got {name!r}"
        )
    return _REGISTRY[name]


def get(name, **params):
    """The kernel of the filter called ``name``, with its parameters.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    **params
        The filter function's own parameters (``size``, ``sigma``, ``kind``, ``neighbours``).

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.get("gaussian_blur", size=3, sigma=1.0).shape
    (3, 3)
    >>> filters.get("sharpen", size=3)
    Traceback (most recent call last):
        ...
    TypeError: filters.get: filter 'sharpen' takes no parameters, got size
    """
    func = _entry(name, "filters.get")[0]
    accepted = inspect.signature(func).parameters
    unknown = [p for p in params if p not in accepted]
    if unknown:
        takes = ", ".join(accepted) if accepted else "no parameters"
        if accepted:
            takes = f"only {takes}"
        raise TypeError(
            f"filters.get: filter {name!r} takes {takes}, got {', '.join(unknown)}"
        )
    return func(**params)


def display_mode(name):
    """The :func:`cnncore.to_uint8` mode that shows filter ``name``'s result best.

    ``'centered'`` for the signed derivatives (``vertical_edges``, ``horizontal_edges``),
    ``'clip'`` for the others.

    Examples
    --------
    >>> from cnncore import filters
    >>> filters.display_mode("vertical_edges")
    'centered'
    """
    return _entry(name, "filters.display_mode")[2]
