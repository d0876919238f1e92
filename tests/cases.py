"""Generated test cases shared by the sweeps against cnncore.reference and against the peers.

Each generator yields plain dicts, from a seeded generator, so a failing case can be rebuilt from
its seed and index. Channel counts straddle SIMD widths (1, 3, 7, 8, 9, 16, 17) and sizes are odd
and prime as often as even; every padding form the API accepts appears.
"""

from __future__ import annotations

import numpy as np

from cnncore import shapes

CHANNELS = (1, 2, 3, 4, 7, 8, 9, 16, 17)
MAX_SIZE = {1: 40, 2: 13, 3: 7}
MAX_KERNEL = {1: 7, 2: 5, 3: 3}
DTYPES = ("float32", "float64", "int-float32", "int-float64", "int64", "uint8", "float16")


def make_array(rng, shape, kind):
    """Random data of `kind`: real floats, integer-valued floats, or integer dtypes."""
    if kind == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "float64":
        return rng.standard_normal(shape)
    if kind == "float16":
        return rng.standard_normal(shape).astype(np.float16)
    if kind == "int-float32":
        return rng.integers(-8, 9, shape).astype(np.float32)
    if kind == "int-float64":
        return rng.integers(-8, 9, shape).astype(np.float64)
    if kind == "int64":
        return rng.integers(-8, 9, shape).astype(np.int64)
    if kind == "uint8":
        return rng.integers(0, 9, shape).astype(np.uint8)
    raise ValueError(kind)


def is_integer_kind(kind):
    return kind.startswith("int") or kind == "uint8"


def _padding(rng, nd, sizes, kernel, stride, dilation):
    """A random padding in any accepted form that leaves at least one output."""
    while True:
        form = rng.choice(["valid", "same", "full", "int", "ints", "pairs", "bare"])
        if form in ("valid", "same", "full"):
            padding = str(form)
            pads = None
        elif form == "int":
            p = int(rng.integers(0, 4))
            padding, pads = p, [(p, p)] * nd
        elif form == "ints":
            ps = [int(v) for v in rng.integers(0, 4, nd)]
            padding, pads = tuple(ps), [(p, p) for p in ps]
        elif form == "pairs" or nd == 1:
            pads = [tuple(int(v) for v in rng.integers(0, 4, 2)) for _ in range(nd)]
            padding = tuple(pads) if form == "pairs" else pads[0]
        else:
            continue
        if pads is None:
            return padding
        ok = all(
            i + b + a >= d * (k - 1) + 1 for i, k, d, (b, a) in zip(sizes, kernel, dilation, pads)
        )
        if ok:
            return padding


def conv_cases(nd, count, seed):
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        groups = int(rng.choice([1, 1, 1, 2, 3, 0]))  # 0: depthwise
        cpg = int(rng.choice(CHANNELS[:5])) if groups else 1
        if groups == 0:
            groups = int(rng.choice(CHANNELS))
        c_in = cpg * groups
        if c_in > 24:
            continue
        c_out = groups * int(rng.choice([1, 1, 2, 3]))
        if rng.random() < 0.3 and groups == 1:
            c_out = int(rng.choice(CHANNELS))
        kernel = tuple(int(v) for v in rng.integers(1, MAX_KERNEL[nd] + 1, nd))
        stride = tuple(int(v) for v in rng.integers(1, 4, nd))
        dilation = tuple(int(v) if rng.random() < 0.4 else 1 for v in rng.integers(1, 4, nd))
        sizes = tuple(int(v) for v in rng.integers(1, MAX_SIZE[nd] + 1, nd))
        padding = _padding(rng, nd, sizes, kernel, stride, dilation)
        if padding == "valid" and any(i < d * (k - 1) + 1 for i, k, d in zip(sizes, kernel, dilation)):
            continue
        n = int(rng.choice([0, 1, 1, 2, 3])) if rng.random() < 0.9 else None  # None: unbatched
        dtype = str(rng.choice(DTYPES, p=[0.35, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05]))
        x_shape = ((n,) if n is not None else ()) + (c_in,) + sizes
        w_shape = (c_out, cpg) + kernel
        x = make_array(rng, x_shape, dtype)
        w = make_array(rng, w_shape, dtype)
        bias = make_array(rng, (c_out,), dtype) if rng.random() < 0.6 else None
        stride_arg = stride[0] if len(set(stride)) == 1 and rng.random() < 0.5 else stride
        dil_arg = dilation[0] if len(set(dilation)) == 1 and rng.random() < 0.5 else dilation
        made += 1
        yield dict(
            nd=nd, x=x, w=w, bias=bias, stride=stride_arg, padding=padding, dilation=dil_arg,
            groups=groups, dtype=dtype, case=f"seed={seed} #{made}",
        )


def signal_cases(count, seed):
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        nd = int(rng.integers(1, 3))
        mode = str(rng.choice(["valid", "same", "full"]))
        hi = 30 if nd == 1 else 9
        xs = tuple(int(v) for v in rng.integers(1, hi, nd))
        ws = tuple(int(v) for v in rng.integers(1, hi if rng.random() < 0.3 else 7, nd))
        if mode == "valid" and nd == 2:
            if not (all(a >= b for a, b in zip(xs, ws)) or all(a <= b for a, b in zip(xs, ws))):
                continue
        dtype = str(rng.choice(DTYPES, p=[0.35, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05]))
        made += 1
        yield dict(
            x=make_array(rng, xs, dtype), w=make_array(rng, ws, dtype), mode=mode,
            func=str(rng.choice(["correlate", "convolve"])), dtype=dtype,
            case=f"seed={seed} #{made}",
        )


def pool_cases(count, seed):
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        nd = int(rng.integers(1, 4))
        kind = str(rng.choice(["max", "avg", "sum"]))
        kernel = tuple(int(v) for v in rng.integers(1, {1: 6, 2: 4, 3: 3}[nd] + 1, nd))
        sizes = tuple(int(v) for v in rng.integers(1, MAX_SIZE[nd] + 1, nd))
        stride = None if rng.random() < 0.3 else tuple(int(v) for v in rng.integers(1, 4, nd))
        dilation = (1,) * nd
        if kind == "max" and rng.random() < 0.4:
            dilation = tuple(int(v) for v in rng.integers(1, 4, nd))
        form = str(rng.choice(["valid", "same", "int", "ints", "pairs"]))
        if form in ("valid", "same"):
            padding = form
        elif form == "int":
            padding = int(rng.integers(0, min(kernel) // 2 + 1))
        elif form == "ints":
            padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        else:
            padding = tuple(
                (int(rng.integers(0, k // 2 + 1)), int(rng.integers(0, k // 2 + 1))) for k in kernel
            )
            if nd == 1 and rng.random() < 0.5:
                padding = padding[0]
        ceil_mode = bool(rng.random() < 0.4)
        try:  # keep only valid cases (the error paths have tests of their own)
            shapes.pool_output_shape(sizes, kernel, stride, padding, dilation, ceil_mode)
        except ValueError:
            continue
        count_include_pad = bool(rng.random() < 0.5)
        lead = [(int(rng.integers(0, 3)), int(rng.choice(CHANNELS[:6]))), (int(rng.choice(CHANNELS[:6])),)][
            int(rng.random() < 0.2)
        ]
        dtype = str(rng.choice(DTYPES, p=[0.35, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05]))
        x = make_array(rng, tuple(lead) + sizes, dtype)
        if kind == "max" and dtype.startswith("float") and rng.random() < 0.2:
            flat = x.reshape(-1)
            if flat.size:
                idx = rng.integers(0, flat.size, max(1, flat.size // 20))
                flat[idx] = rng.choice([np.nan, np.inf, -np.inf], idx.size)
        made += 1
        yield dict(
            nd=nd, kind=kind, x=x, kernel_size=kernel if rng.random() < 0.7 or len(set(kernel)) > 1 else kernel[0],
            stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode,
            count_include_pad=count_include_pad, dtype=dtype, case=f"seed={seed} #{made}",
        )


def activation_cases(count, seed):
    rng = np.random.default_rng(seed)
    for made in range(1, count + 1):
        kind = str(rng.choice(["relu", "leaky_relu", "elu"]))
        ndim = int(rng.integers(0, 5))
        shape = tuple(int(v) for v in rng.integers(0 if rng.random() < 0.05 else 1, 9, ndim))
        dtype = str(rng.choice(DTYPES, p=[0.35, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05]))
        x = make_array(rng, shape, dtype)
        if dtype.startswith("float"):
            x = x * np.asarray(rng.choice([1, 4, 30]), dtype=x.dtype)
            flat = x.reshape(-1)
            if flat.size and rng.random() < 0.3:
                flat[rng.integers(0, flat.size)] = rng.choice([np.nan, np.inf, -np.inf])
        param = None
        if kind == "leaky_relu" and rng.random() < 0.7:
            param = float(rng.choice([0.0, 0.01, 0.1, 0.2, 0.3333, 1.0]))
        if kind == "elu" and rng.random() < 0.7:
            param = float(rng.choice([0.1, 0.5, 1.0, 1.5, 2.0]))
        yield dict(kind=kind, x=x, param=param, dtype=dtype, case=f"seed={seed} #{made}")
