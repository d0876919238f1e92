"""``cnncore filter`` and ``cnncore gallery``: the classic filters on image files.

``cnncore filter FILTER INPUT`` filters one image file, or every image in a folder, with a named
filter or a kernel written as numbers, and saves the results as pictures. Exit status: 0 when every
image was filtered; 1 when any failed (in a folder, the others are still written and each failure
is reported on its own line); 2 for a malformed command line (argparse's usage error).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from fractions import Fraction
from pathlib import Path

from .. import filters


def _error(message):
    from . import CommandError

    return CommandError(message)


def _pillow_or_error():
    from .._imageio import pillow

    try:
        return pillow("cnncore")
    except ImportError as exc:
        raise _error(str(exc)) from None


def parse_kernel(text):
    """A kernel written as numbers: rows separated by ``;``, numbers by commas or spaces.

    Numbers may be fractions (``1/9``); a Python list of rows works too.

    >>> parse_kernel("0,-1,0; -1,5,-1; 0,-1,0").tolist()
    [[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]
    >>> parse_kernel("1/4 1/2 1/4").tolist()
    [[0.25, 0.5, 0.25]]
    >>> parse_kernel("[[-1, 0, 1], [-2, 0, 2]]").shape
    (2, 3)
    """
    import numpy as np

    text = text.strip()
    if text.startswith("["):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise _error(f"kernel {text!r} is not a list of rows of numbers") from None
        if value and not isinstance(value[0], (list, tuple)):
            value = [value]
        rows_text = [",".join(map(str, row)) if isinstance(row, (list, tuple)) else str(row)
                     for row in value]
    else:
        rows_text = text.strip(";").split(";")
    rows = []
    for r, row in enumerate(rows_text, start=1):
        items = [v for v in re.split(r"[,\s]+", row.strip()) if v]
        if not items:
            raise _error(f"kernel {text!r}: row {r} is empty (rows are separated by ';')")
        values = []
        for v in items:
            try:
                values.append(float(Fraction(v)))
            except (ValueError, ZeroDivisionError):
                raise _error(f"kernel {text!r}: {v!r} in row {r} is not a number") from None
        if rows and len(values) != len(rows[0]):
            raise _error(
                f"kernel {text!r}: row {r} has {len(values)} number(s) but row 1 has "
                f"{len(rows[0])}; a kernel is a rectangle"
            )
        rows.append(values)
    if not rows:
        raise _error(f"kernel {text!r} is empty")
    return np.array(rows, dtype=np.float64)


class Progress:
    """A text progress bar on stderr: ``[#######.............] 7/20 name``."""

    WIDTH = 30

    def __init__(self, total, enabled, stream=None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.shown = False

    def update(self, done, name=""):
        if not self.enabled:
            return
        filled = self.WIDTH * done // max(self.total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} {name[:40]:<40}")
        self.stream.flush()
        self.shown = True

    def clear(self):
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * (self.WIDTH + 60) + "\r")
            self.stream.flush()

    def close(self):
        if self.enabled and self.shown:
            self.update(self.total, "done")
            self.stream.write("\n")
            self.stream.flush()


def _size(text):
    """--size: ``N`` or ``HxW``."""
    parts = text.lower().split("x")
    try:
        nums = tuple(int(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(nums) > 2:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}")
    return nums[0] if len(nums) == 1 else nums


def _filter_params(args):
    params = {}
    if args.size is not None:
        params["size"] = args.size
    for name in ("sigma", "kind", "neighbours"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    return params


def _kernel_and_label(args):
    """The kernel, a label for output names, and the default display mode."""
    if args.filter in filters.available():
        try:
            kernel = filters.get(args.filter, **_filter_params(args))
        except TypeError as exc:
            raise _error(str(exc)) from None
        return kernel, args.filter, filters.display_mode(args.filter)
    if not re.search(r"[\d;,\[]", args.filter):
        raise _error(
            f"unknown filter {args.filter!r}; the filters are {', '.join(filters.available())}, "
            f"or a kernel as numbers"
        )
    if _filter_params(args):
        raise _error("--size, --sigma, --kind and --neighbours go with a named filter, "
                     "not with a kernel")
    return parse_kernel(args.filter), "kernel", "clip"


def _one(src, dst, kernel, args, mode):
    import cnncore as cc

    img = cc.read_image(src, grey=args.grey)
    result = cc.filter2d(img, kernel, border=args.border)
    cc.save_image(dst, cc.to_uint8(result, mode, scale=args.scale))


def _image_files(folder, Image):
    known = {ext.lower() for ext in Image.registered_extensions()}
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in known]
    others = [p.name for p in files if p.suffix.lower() not in known]
    return images, others


def run_filter(args) -> int:
    from . import CommandError

    kernel, label, mode = _kernel_and_label(args)
    mode = args.display or mode
    Image = _pillow_or_error()
    src = Path(args.input)
    if not src.exists():
        raise _error(f"no such file or folder: {src}")
    if not src.is_dir():
        dst = Path(args.output) if args.output else src.with_name(f"{src.stem}-{label}.png")
        if dst.is_dir():
            dst = dst / f"{src.stem}-{label}.png"
        _one(src, dst, kernel, args, mode)
        print(dst)
        return 0

    out_dir = Path(args.output) if args.output else src.parent / f"{src.name}-{label}"
    if out_dir.resolve() == src.resolve():
        raise _error("the output folder must not be the input folder")
    images, others = _image_files(src, Image)
    if not images:
        raise _error(f"{src} holds no image files")
    if others:
        print(f"cnncore filter: skipping {len(others)} file(s) that are not images by name: "
              f"{', '.join(others[:5])}{' ...' if len(others) > 5 else ''}", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)

    show = args.progress if args.progress is not None else sys.stderr.isatty() and len(images) > 1
    bar = Progress(len(images), show)
    written, failed = {}, 0
    for i, path in enumerate(images):
        bar.update(i, path.name)
        dst = out_dir / f"{path.stem}.png"
        try:
            if dst in written:
                raise _error(f"{dst} was already written for {written[dst].name}")
            _one(path, dst, kernel, args, mode)
            written[dst] = path
        except (CommandError, OSError, ValueError, TypeError, MemoryError) as exc:
            failed += 1
            message = " ".join(str(exc).split())
            if path.name not in message:
                message = f"{path}: {message}"
            bar.clear()
            print(f"cnncore filter: error: {message}", file=sys.stderr)
    bar.close()
    print(f"{len(written)} of {len(images)} images filtered with {label} into {out_dir}")
    return 1 if failed else 0


def run_gallery(args) -> int:
    import cnncore as cc

    _pillow_or_error()
    names = None
    if args.filters:
        names = [n.strip() for n in args.filters.split(",") if n.strip()]
    out = Path(args.output)
    image = None
    if args.image is not None:
        image = Path(args.image)
        if not image.exists():
            raise _error(f"no such file: {image}")
    panel = None if args.panel_size == 0 else args.panel_size
    g = cc.gallery(image, names, out, panel_size=panel, border=args.border)
    print(f"{out} ({g.shape[1]} x {g.shape[0]})")
    return 0


_BORDERS = ("zeros", "reflect", "replicate", "wrap")
_MODES = ("clip", "centered", "magnitude", "normalize")


def register(sub) -> None:
    p = sub.add_parser(
        "filter",
        help="filter an image file, or a folder of images, with a named filter or a kernel",
        description=(
            "Filter an image file, or every image in a folder, with one of cnncore's named "
            "filters (--list shows them) or a kernel written as numbers, and save the result as "
            "a picture. Exit status: 0 if every image was filtered, 1 if any failed (in a folder "
            "the others are still written), 2 for a malformed command line."
        ),
        epilog=(
            "examples:\n"
            "  cnncore filter --list\n"
            "  cnncore filter sharpen photo.jpg -o sharp.png\n"
            "  cnncore filter gaussian_blur photos/ --size 9 --sigma 2 -o blurred/\n"
            "  cnncore filter '0,-1,0; -1,5,-1; 0,-1,0' photo.jpg\n"
            "  cnncore filter '[[-1, 0, 1]]' photo.jpg --display centered\n"
            "  cnncore filter -- '-1,0,1' photo.jpg    (-- before a kernel starting with -)"
        ),
        formatter_class=_RawEpilog,
    )
    p.add_argument("filter", metavar="FILTER",
                   help="a named filter (" + ", ".join(filters.available()) + "), or a kernel "
                        "as numbers: rows separated by ';', numbers by ',' or spaces, fractions "
                        "allowed ('1/9 1/9 1/9; ...'), or a Python list of rows")
    p.add_argument("input", metavar="INPUT", help="an image file or a folder of images")
    p.add_argument("-o", "--output", help="the output file (default INPUT-FILTER.png beside it) "
                   "or, for a folder, the output folder (default FOLDER-FILTER)")
    p.add_argument("--size", type=_size, metavar="N",
                   help="window size of box_blur (N, or HxW) and gaussian_blur (odd N)")
    p.add_argument("--sigma", type=float, help="gaussian_blur's sigma (default from the size)")
    p.add_argument("--kind", choices=("sobel", "prewitt"), help="the edge filters' kernel")
    p.add_argument("--neighbours", type=int, choices=(4, 8), help="edges' and dark_edges' stencil")
    p.add_argument("--border", choices=_BORDERS, default="reflect",
                   help="what lies beyond the image's edges (default reflect)")
    p.add_argument("--display", choices=_MODES,
                   help="how the result becomes a picture (default: the filter's own, clip for a "
                        "kernel); see cnncore.to_uint8")
    p.add_argument("--scale", type=float, help="the response shown at full intensity in the "
                   "centered and magnitude displays (default: the largest)")
    p.add_argument("--grey", action="store_true", help="convert the image to grey first")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar on stderr for a folder (default: on a terminal)")
    p.add_argument("--list", action=_ListFilters, help="list the named filters and exit")
    p.set_defaults(func=run_filter)

    g = sub.add_parser(
        "gallery",
        help="the original and every filter's result side by side, grey and RGB, as one PNG",
        description=(
            "Save one picture: the image (the shipped astronaut photo by default) and each "
            "named filter's result side by side, a row in grey and a row in RGB, each panel "
            "titled with its filter's name."
        ),
    )
    g.add_argument("image", nargs="?", help="an image file (default: the shipped sample photo)")
    g.add_argument("-o", "--output", default="gallery.png",
                   help="where to save the gallery (default gallery.png)")
    g.add_argument("--filters", help="comma-separated filter names (default: all but identity)")
    g.add_argument("--panel-size", type=int, default=256,
                   help="shrink the image to fit this square first (default 256; 0 keeps it)")
    g.add_argument("--border", choices=_BORDERS, default="reflect")
    g.set_defaults(func=run_gallery)


class _RawEpilog(argparse.HelpFormatter):
    """Keep the epilog's examples on their own lines."""

    def _fill_text(self, text, width, indent):
        if "\n" not in text:
            return super()._fill_text(text, width, indent)
        return "".join(indent + line for line in text.splitlines(keepends=True))


class _ListFilters(argparse.Action):
    """``--list``: print the named filters and exit, like ``--help``."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        width = max(map(len, filters.available()))
        for name, text in filters.available().items():
            print(f"{name:<{width}}  {text}")
        parser.exit(0)
