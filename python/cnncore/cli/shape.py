"""``cnncore shape``: the output-size calculator, with the formula and its numbers.

Every number comes from :mod:`cnncore.shapes` (resolve_padding, conv_output_size and
pool_output_shape); this module only parses the arguments and writes the formula out.
"""

from __future__ import annotations

from .. import shapes

_DIM_NAMES = {1: ["length"], 2: ["height", "width"], 3: ["depth", "height", "width"]}
CONV_FORMULA = "o = floor((i + p_before + p_after - d*(k - 1) - 1) / s) + 1"
POOL_FORMULA = "o = {rnd}((i + p_before + p_after - d*(k - 1) - 1) / s) + 1"


def _error(message):
    from . import CommandError

    return CommandError(message)


def _per_dim(values, n, name):
    """One value for every dimension, or one per dimension."""
    if values is None:
        return None
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        takes = "1 value" if n == 1 else f"1 value or {n} (one per dimension)"
        raise _error(f"--{name} takes {takes}, got {len(values)}")
    return list(values)


def _padding(entries, n):
    """--padding as one spec per dimension: a mode, an int, or a (before, after) pair."""
    specs = []
    for e in entries:
        if e in shapes.PADDING_MODES:
            specs.append(e)
            continue
        parts = e.split(",")
        try:
            nums = [int(v) for v in parts]
        except ValueError:
            raise _error(
                f"--padding: {e!r} is not one of {', '.join(shapes.PADDING_MODES)}, an int or a "
                f"'before,after' pair"
            ) from None
        if len(nums) > 2:
            raise _error(f"--padding: {e!r} has {len(nums)} numbers; a pair is 'before,after'")
        specs.append(nums[0] if len(nums) == 1 else tuple(nums))
    return _per_dim(specs, n, "padding")


def _spec_text(spec):
    return repr(spec) if isinstance(spec, str) else str(spec).replace(" ", "")


def run(args) -> int:
    n = len(args.input)
    if n > 3:
        raise _error(f"--input takes 1, 2 or 3 sizes (1-D, 2-D or 3-D), got {n}")
    kernel = _per_dim(args.kernel, n, "kernel")
    stride = _per_dim(args.stride, n, "stride")
    dilation = _per_dim(args.dilation, n, "dilation")
    pads = _padding(args.padding, n)
    if args.pool:
        stride = stride or list(kernel)
        what, rnd = "pooling", ("ceil" if args.ceil_mode else "floor")
        formula = POOL_FORMULA.format(rnd=rnd)
    else:
        stride = stride or [1] * n
        what, rnd, formula = "convolution", "floor", CONV_FORMULA
    dilation = dilation or [1] * n

    resolved, outs = [], []
    for i, k, s, d, spec in zip(args.input, kernel, stride, dilation, pads):
        if args.pool:  # also checks PyTorch's rule: explicit padding at most half the kernel
            _, _, _, (pad,), (o,) = shapes.pool_output_shape(
                [i], [k], [s], spec, [d], args.ceil_mode, "shape")
            shapes.resolve_padding(spec, i, k, s, d)  # the same checks of i, k, s, d as conv
        else:
            pad = shapes.resolve_padding(spec, i, k, s, d)
            o = shapes.conv_output_size(i, k, s, pad, d)
        resolved.append(pad)
        outs.append(o)

    x = " x ".join
    print(f"{n}-D {what}: input {x(map(str, args.input))}, kernel {x(map(str, kernel))}, "
          f"stride {x(map(str, stride))}, dilation {x(map(str, dilation))}, "
          f"padding {x(_spec_text(p) for p in (pads[:1] if len(set(pads)) == 1 else pads))}")
    print(f"  {formula}")
    if args.pool and args.ceil_mode:
        print("  (one less when the last window would start past the input and its leading "
              "padding)")
    names = _DIM_NAMES[n]
    width = max(map(len, names))
    for name, i, k, s, d, (before, after), o in zip(names, args.input, kernel, stride, dilation,
                                                    resolved, outs):
        print(f"  {name:<{width}}: padding {before} before, {after} after; "
              f"o = {rnd}(({i} + {before} + {after} - {d}*({k} - 1) - 1) / {s}) + 1 = {o}")
    print(f"output size: {x(map(str, outs))}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "shape",
        help="output size of a convolution or pooling, with the formula and its numbers",
        description=(
            "Print the resolved padding per side, the output size and the formula with the "
            "numbers filled in, for a 1-D, 2-D or 3-D convolution (or pooling with --pool). "
            "Each option takes one value for every dimension or one per dimension. Example: "
            "cnncore shape --input 28 28 --kernel 5 5 --padding same"
        ),
    )
    p.add_argument("--input", "-i", type=int, nargs="+", required=True, metavar="I",
                   help="input size: 1, 2 or 3 numbers (length; height width; depth height width)")
    p.add_argument("--kernel", "-k", type=int, nargs="+", required=True, metavar="K",
                   help="kernel size")
    p.add_argument("--stride", "-s", type=int, nargs="+", metavar="S",
                   help="stride (default 1; for --pool, the kernel size)")
    p.add_argument("--padding", "-p", nargs="+", default=["0"], metavar="P",
                   help="valid, same, full, an int (both sides) or a 'before,after' pair; "
                        "one for all dimensions or one per dimension (default 0)")
    p.add_argument("--dilation", "-d", type=int, nargs="+", metavar="D",
                   help="dilation (default 1)")
    p.add_argument("--pool", action="store_true", help="a pooling window instead of a convolution")
    p.add_argument("--ceil-mode", action="store_true", help="with --pool: round the division up")
    p.set_defaults(func=run)
