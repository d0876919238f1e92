"""The parameter domain: every integer argument of every public function, from -2**64 to 2**64.

For each function of API.md that takes integers (conv1d/2d/3d, the nine poolings, set_num_threads,
the shapes functions, the filters that take a size), each integer argument, alone, as one element
of a per-dimension tuple or as one side of a (before, after) pair, is given every value of VALUES.
The result must then be

- the right one: the shape that cnncore.shapes gives, equal to the number of windows counted here
  (by bisection on the definition, in Python integers), and the values of cnncore.reference (or,
  when the padded input would be too large for it, of a brute-force computation here that reads
  each window's input elements by their Python-integer indices), exactly (integer-valued data); or
- a clear error: ValueError, TypeError, OverflowError or MemoryError, whose message starts with the
  function's name and names the argument. Arguments the definitions reject (a stride of 0, a
  negative padding, a kernel reaching past the padded input) must raise ValueError; a result
  larger than the memory limit must raise MemoryError (or OverflowError) before anything is
  allocated. Values up to 7 must work wherever the definitions accept them.

Every call runs in this process: a crash would take pytest down with it. The memory limit is
lowered to 128 MiB (CNNCORE_MAX_BYTES) so that no call can allocate much.

Also here: NumPy integer types (the same as Python ints), bools (refused with TypeError for every
integer argument; ceil_mode and count_include_pad take bools, or the ints 0 and 1), NaN, infinities
and huge values for leaky_relu's and elu's float parameters, and the zero-size policy (an empty
batch gives an empty result; an empty channel axis, spatial dimension or kernel is a ValueError
naming the argument; activations of empty arrays are empty arrays).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest

import cnncore as cc

from conftest import no_asan
from cnncore import filters, reference, shapes

VALUES = [
    -(2**64), -(2**63) - 1, -(2**63), -(2**31) - 1, -(2**31), -2, -1, 0, 1, 2, 3, 7,
    2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64,
]
ALLOWED = (ValueError, TypeError, OverflowError, MemoryError)
LIMIT = 2**27  # bytes: CNNCORE_MAX_BYTES for every test here
SMALL_PADDED = 20_000  # padded inputs up to this many elements go to cnncore.reference


@pytest.fixture(autouse=True)
def memory_limit(monkeypatch):
    monkeypatch.setenv("CNNCORE_MAX_BYTES", str(LIMIT))


def outcome(call):
    try:
        return call(), None
    except ALLOWED as exc:
        return None, exc


def check_message(exc, fname, words, what):
    msg = str(exc)
    assert msg.startswith(f"{fname}:"), f"{what}: the message does not name {fname}: {msg!r}"
    assert any(w in msg for w in words), f"{what}: the message names none of {words}: {msg!r}"


# ----------------------------------------------------------------------------------------------
# Oracles in Python integers.


def count_windows(padded, reach, s):
    """The largest o with (o - 1)*s + reach <= padded (the windows that fit), by bisection."""
    if padded < reach:
        return 0
    lo, hi = 1, padded + 1  # o = 1 fits; o = padded + 1 does not (s >= 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (mid - 1) * s + reach <= padded:
            lo = mid
        else:
            hi = mid
    return lo


def pool_windows(i, before, after, reach, s, ceil_mode):
    padded = i + before + after
    count = count_windows(padded, reach, s)
    if ceil_mode and count and (count - 1) * s + reach < padded and count * s < i + before:
        count += 1  # one partial window, starting inside the input or the leading padding
    return count


def same_total(i, reach, s):
    """The least total padding giving ceil(i / s) windows, by bisection."""
    want = -(-i // s)
    lo, hi = -1, reach + want * s  # hi is always enough
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count_windows(i + mid, reach, s) >= want:
            hi = mid
        else:
            lo = mid
    return hi


class Refused(Exception):
    """The definitions reject these arguments: cnncore must raise ValueError (or TypeError)."""


def _check_int(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise Refused
    return int(v)


def per_dim(value, nd):
    if isinstance(value, (tuple, list)):
        if len(value) != nd:
            raise Refused
        return [_check_int(v) for v in value]
    return [_check_int(value)] * nd


def resolve_pads(padding, nd, sizes, kernel, stride, dilation):
    """Per-dimension (before, after) from the padding's definition."""
    if isinstance(padding, str):
        specs = [padding] * nd
    elif isinstance(padding, (tuple, list)):
        items = list(padding)
        if nd == 1 and len(items) == 2 and not any(isinstance(p, (tuple, list)) for p in items):
            items = [tuple(items)]
        if len(items) != nd:
            raise Refused
        specs = items
    else:
        specs = [padding] * nd
    pads = []
    for spec, i, k, s, d in zip(specs, sizes, kernel, stride, dilation):
        reach = d * (k - 1) + 1
        if spec == "valid":
            pads.append((0, 0))
        elif spec == "full":
            pads.append((reach - 1, reach - 1))
        elif spec == "same":
            t = same_total(i, reach, s)
            pads.append((t // 2, t - t // 2))
        elif isinstance(spec, (tuple, list)):
            if len(spec) != 2:
                raise Refused
            pads.append((_check_int(spec[0]), _check_int(spec[1])))
        else:
            pads.append((_check_int(spec),) * 2)
    if any(p < 0 for pair in pads for p in pair):
        raise Refused
    return pads


def gather(x, nd, outs, kernel, stride, dilation, pads):
    """x's elements read by every (window, tap): ``(..., O1, K1, O2, K2, ...)`` and a mask of
    the ones inside the input (Python-integer indices, nothing padded)."""
    idx, masks = [], []
    for dim in range(nd):
        i = x.shape[x.ndim - nd + dim]
        pos = [[o * stride[dim] + a * dilation[dim] - pads[dim][0] for a in range(kernel[dim])]
               for o in range(outs[dim])]
        shape = [1] * (2 * nd)
        shape[2 * dim], shape[2 * dim + 1] = outs[dim], kernel[dim]
        masks.append(np.array([[0 <= p < i for p in row] for row in pos]).reshape(shape))
        idx.append(np.array([[p if 0 <= p < i else 0 for p in row] for row in pos],
                            dtype=np.intp).reshape(shape))
    lead = (slice(None),) * (x.ndim - nd)
    return x[lead + tuple(idx)], functools.reduce(np.logical_and, masks)


def conv_brute(x, w, b, nd, outs, stride, dilation, pads, groups):
    n, c = x.shape[:2]
    f, cpg = w.shape[:2]
    kernel = w.shape[2:]
    assert math.prod(outs) * math.prod(kernel) <= 10**6, "oracle too large"
    xg, mask = gather(x, nd, outs, kernel, stride, dilation, pads)
    xg = np.where(mask, xg, 0.0).reshape((n, groups, cpg) + xg.shape[2:])
    wg = w.reshape((groups, f // groups, cpg) + kernel)
    o, k = "pqr"[:nd], "uvw"[:nd]
    spec = f"ngc{''.join(a + b for a, b in zip(o, k))},gfc{k}->ngf{o}"
    y = np.einsum(spec, xg, wg).reshape((n, f) + tuple(outs))
    if b is not None:
        y = y + b.reshape((f,) + (1,) * nd)
    return y


def pool_brute(x, kind, nd, outs, kernel, stride, dilation, pads, count_include_pad):
    """Each window from its input elements, found by Python-integer index arithmetic (a window
    of 2**64 taps is never enumerated)."""
    sizes = x.shape[-nd:]
    per_dim = []
    for dim in range(nd):
        i, k, s, d, (before, after) = sizes[dim], kernel[dim], stride[dim], dilation[dim], pads[dim]
        rows = []
        for o in range(outs[dim]):
            start = o * s - before
            a_lo = 0 if start >= 0 else -(start // d)  # first tap at an index >= 0
            a_hi = min(k - 1, (i - 1 - start) // d)  # last tap at an index < i
            inside = list(range(start + a_lo * d, start + a_hi * d + 1, d)) if a_lo <= a_hi else []
            end = min(start + k, i + after)  # PyTorch's divisor (avg: dilation 1)
            div = end - start if count_include_pad else min(end, i) - max(start, 0)
            rows.append((inside, div))
        per_dim.append(rows)
    y = np.empty(x.shape[:-nd] + tuple(outs))
    for out_pos in itertools.product(*[range(o) for o in outs]):
        cells = [per_dim[dim][o] for dim, o in enumerate(out_pos)]
        window = x[(Ellipsis,) + np.ix_(*[c[0] for c in cells])] if all(c[0] for c in cells) \
            else np.zeros(x.shape[:-nd] + (0,))
        flat = window.reshape(x.shape[:-nd] + (-1,))
        if kind == "max":
            val = flat.max(axis=-1) if flat.shape[-1] else np.full(x.shape[:-nd], -np.inf)
        else:
            val = flat.sum(axis=-1)
            if kind == "avg":
                val = val / float(math.prod(c[1] for c in cells))
        y[(Ellipsis,) + out_pos] = val
    return y


# ----------------------------------------------------------------------------------------------
# Convolutions.

CONV = {1: cc.conv1d, 2: cc.conv2d, 3: cc.conv3d}
CONV_REF = {1: reference.conv1d, 2: reference.conv2d, 3: reference.conv3d}
SIZES = {1: (9,), 2: (8, 7), 3: (5, 4, 6)}


def conv_setup(nd, layout):
    """(x, w, bias): float32, integer-valued (every sum exact), dense or depthwise."""
    rng = np.random.default_rng(nd)
    if layout == "dense":
        x = rng.integers(-4, 5, (2, 4) + SIZES[nd]).astype(np.float32)
        w = rng.integers(-4, 5, (3, 4) + (3,) * nd).astype(np.float32)
    elif layout == "depthwise":  # the per-plane kernel path
        x = rng.integers(-4, 5, (2, 2) + SIZES[nd]).astype(np.float32)
        w = rng.integers(-4, 5, (2, 1) + (3,) * nd).astype(np.float32)
    else:  # a one-tap kernel: any dilation is fine
        x = rng.integers(-4, 5, (2, 4) + SIZES[nd]).astype(np.float32)
        w = rng.integers(-4, 5, (3, 4) + (1,) * nd).astype(np.float32)
    b = rng.integers(-4, 5, w.shape[0]).astype(np.float32)
    return x, w, b


def conv_oracle(nd, x, w, b, kw):
    """('refused',) / ('too large', shape) / ('ok', expected array)."""
    groups = kw["groups"]
    try:
        stride = per_dim(kw["stride"], nd)
        dilation = per_dim(kw["dilation"], nd)
        groups = _check_int(groups)
        if min(stride) < 1 or min(dilation) < 1 or groups < 1:
            raise Refused
        if x.shape[1] % groups or w.shape[0] % groups or w.shape[1] * groups != x.shape[1]:
            raise Refused
        sizes, kernel = x.shape[2:], w.shape[2:]
        pads = resolve_pads(kw["padding"], nd, sizes, kernel, stride, dilation)
        outs = []
        for i, k, s, d, (p0, p1) in zip(sizes, kernel, stride, dilation, pads):
            reach = d * (k - 1) + 1
            if i + p0 + p1 < reach:
                raise Refused
            outs.append(count_windows(i + p0 + p1, reach, s))
    except Refused:
        return ("refused",)
    shape = (x.shape[0], w.shape[0]) + tuple(outs)
    if math.prod(shape) * 4 > LIMIT:
        return ("too large", shape)
    padded = math.prod(i + p0 + p1 for i, (p0, p1) in zip(sizes, pads))
    if padded <= SMALL_PADDED:
        return ("ok", CONV_REF[nd](x, w, b, **kw))
    return ("ok", conv_brute(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                             nd, outs, stride, dilation, pads, groups))


def conv_forms(nd):
    """(name, the argument names an error may give, lambda v -> keyword arguments)."""
    base = dict(stride=1, padding=0, dilation=1, groups=1)
    for arg in ("stride", "padding", "dilation", "groups"):
        yield arg, (arg,), lambda v, arg=arg: {**base, arg: v}
    for dim in range(nd):
        def put(v, dim=dim, fill=1):
            t = [fill] * nd
            t[dim] = v
            return tuple(t)
        yield f"stride[{dim}]", ("stride",), lambda v, put=put: {**base, "stride": put(v)}
        yield f"dilation[{dim}]", ("dilation",), lambda v, put=put: {**base, "dilation": put(v)}
        yield (f"padding[{dim}]", ("padding",),
               lambda v, put=put: {**base, "padding": put(v, fill=0)})
        for side in (0, 1):
            def pair(v, dim=dim, side=side):
                pads = [(0, 0)] * nd
                pads[dim] = (v, 0) if side == 0 else (0, v)
                return tuple(pads)
            yield (f"padding[{dim}][{side}]", ("padding",),
                   lambda v, pair=pair: {**base, "padding": pair(v)})
            if nd == 1:  # the bare (before, after) pair
                yield (f"padding=({'v, 0' if side == 0 else '0, v'})", ("padding",),
                       lambda v, side=side: {**base, "padding": (v, 0) if side == 0 else (0, v)})
    # Several huge values at once: the cases that push the index arithmetic hardest.
    yield ("stride=padding=v", ("stride", "padding"),
           lambda v: {**base, "stride": v, "padding": v})
    yield ("dilation=v, 'same'", ("dilation",),
           lambda v: {**base, "dilation": v, "padding": "same"})
    yield ("dilation=stride=v, 'full'", ("stride", "dilation"),
           lambda v: {**base, "dilation": v, "stride": v, "padding": "full"})
    yield ("stride[0]=v, padding[0]=(v, 0)", ("stride", "padding"),
           lambda v: {**base, "stride": (v,) + (1,) * (nd - 1),
                      "padding": ((v, 0),) + ((1, 1),) * (nd - 1)})


CONV_CASES = [(nd, layout, name) for nd in (1, 2, 3) for layout in ("dense", "depthwise", "one-tap")
              for name, _, _ in conv_forms(nd)]


def check_against(fname, got, expect, words, what, value, rtol=0.0):
    """One call's ``(result, error)`` against its oracle's verdict; returns 'ok' or 'error'."""
    y, err = got
    if expect[0] == "refused":
        assert err is not None, f"{what}: the definitions refuse it, cnncore returned {y!r}"
        assert isinstance(err, (ValueError, TypeError)), f"{what}: {err!r}"
        check_message(err, fname, words, what)
        return "error"
    if expect[0] == "too large":
        assert isinstance(err, (MemoryError, OverflowError)), (
            f"{what}: a result of shape {expect[1]} should raise MemoryError, got {err!r}"
        )
        check_message(err, fname, words, what)
        return "error"
    if err is not None:
        assert abs(value) > 7, f"{what}: a small value must work, got {err!r}"
        assert isinstance(err, (OverflowError, MemoryError)), f"{what}: {err!r}"
        check_message(err, fname, words, what)
        return "error"
    want = expect[1]
    assert y.shape == want.shape, f"{what}: shape {y.shape}, expected {want.shape}"
    if rtol:
        np.testing.assert_allclose(y, want, rtol=rtol, atol=0, err_msg=what)
    else:
        np.testing.assert_array_equal(y, want.astype(y.dtype), err_msg=what)
    return "ok"


@pytest.mark.parametrize("nd, layout, name", CONV_CASES)
def test_conv_integer_arguments(nd, layout, name, simd):
    fname = f"conv{nd}d"
    x, w, b = conv_setup(nd, layout)
    words, make = {n: (wd, m) for n, wd, m in conv_forms(nd)}[name]
    for v in VALUES:
        kw = make(v)
        if layout == "depthwise" and "groups" not in words:
            kw["groups"] = 2
        what = f"{fname}({layout}, {name}, v={v})"
        got = outcome(lambda: CONV[nd](x, w, b, **kw))
        if check_against(fname, got, conv_oracle(nd, x, w, b, kw), words, what, v) == "ok":
            # The shape is the one cnncore.shapes gives (the oracle counted the windows).
            _, outs, _, _ = shapes.conv_output_shape(x.shape[2:], w.shape[2:], kw["stride"],
                                                     kw["padding"], kw["dilation"])
            assert got[0].shape == (2, w.shape[0]) + tuple(outs), what


def test_huge_dilations_with_same_padding_are_computed():
    # Regression: a depthwise kernel (one plane per filter) with a huge dilation and 'same'
    # padding made the core allocate work buffers as long as the kernel's reach: 0.9 s and
    # 130 MB at 2**12, std::bad_alloc (a MemoryError naming nothing) at 2**20, and at 2**30 a
    # ValueError "cannot create std::vector larger than max_size()". Only the centre tap meets
    # the input, and the result is that tap times the input.
    x = np.arange(2 * 6 * 7, dtype=np.float32).reshape(1, 2, 6, 7)
    w = np.arange(1, 19, dtype=np.float32).reshape(2, 1, 3, 3)
    for d in (2**12, 2**20, 2**30, 2**40, 2**62, 2**64):
        y = cc.conv2d(x, w, padding="same", dilation=d, groups=2)
        np.testing.assert_array_equal(y, x * w[:, :, 1:2, 1:2].reshape(1, 2, 1, 1))


def far_apart_taps(v):
    """Two taps v apart both meet the input (one in each of the two windows), so no tap can
    be dropped: the core's work buffers span the kernel's reach."""
    x = np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8)
    w = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    kw = dict(stride=(v, 1), dilation=(v, 1), padding=((v, 2 * v), (1, 1)), groups=1)
    return x, w, np.zeros(1, dtype=np.float32), kw


def test_far_apart_live_taps():
    x, w, b, kw = far_apart_taps(2**12)
    expect = conv_oracle(2, x, w, b, kw)
    assert expect[0] == "ok" and expect[1].shape == (1, 1, 2, 8)
    assert check_against("conv2d", outcome(lambda: cc.conv2d(x, w, b, **kw)), expect,
                         ("dilation",), "v=2**12", 7) == "ok"


SMOKE = r"""
import resource, sys
import numpy as np
import cnncore as cc
sys.path.insert(0, sys.argv[1])
from test_param_domain import far_apart_taps, conv_oracle, check_against, outcome
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))  # a huge buffer fails at once
for v in (2**20, 2**30, 2**40):
    x, w, b, kw = far_apart_taps(v)
    print(check_against("conv2d", outcome(lambda: cc.conv2d(x, w, b, **kw)),
                        conv_oracle(2, x, w, b, kw), ("dilation",), f"v={v}", v))
for v in (2**26, 2**31, 2**40):  # float32 pooling windows far larger than the input
    x = np.arange(9, dtype=np.float32)[None]
    assert cc.max_pool1d(x, v, padding=v // 2)[0, 0] == 8
    assert cc.max_pool1d(x, 2, 1, "same", dilation=v).shape == (1, 9)
    print("ok")
"""


@no_asan
def test_huge_work_buffers_in_a_memory_limited_subprocess():
    # In a child limited to 3 GiB of address space: an allocation the size of a kernel's reach
    # fails there at once (MemoryError) instead of filling this machine's memory.
    import os
    import subprocess
    import sys

    resource = pytest.importorskip("resource")
    if not hasattr(resource, "RLIMIT_AS"):
        pytest.skip("no RLIMIT_AS on this platform")
    env = dict(os.environ, CNNCORE_MAX_BYTES=str(LIMIT), OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", SMOKE, os.path.dirname(__file__)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.split()
    assert len(lines) == 6 and set(lines) <= {"ok", "error"}, run.stdout
    assert lines[0] == "ok" and lines[3:] == ["ok"] * 3, run.stdout


def test_empty_batch_with_a_huge_padding():
    # Regression: an empty batch with padding 2**61 raised "conv: output extents must be >= 1"
    # (the core's message, naming neither conv1d nor the padding).
    y = cc.conv1d(np.ones((0, 1, 8)), np.ones((1, 1, 1)), padding=2**40)
    assert y.shape == (0, 1, 8 + 2**41)
    # Either error names conv1d: the empty result's extents are beyond NumPy's index range
    # (MemoryError) and beyond the core's (OverflowError); the first check to see it speaks.
    with pytest.raises((OverflowError, MemoryError), match=r"conv1d: "):
        cc.conv1d(np.ones((0, 1, 8)), np.ones((1, 1, 1)), padding=2**61)


# ----------------------------------------------------------------------------------------------
# Pooling.

POOL_SIZES = {1: (9,), 2: (8, 7), 3: (5, 4, 6)}


def pool_oracle(kind, nd, x, kw):
    try:
        kernel = per_dim(kw["kernel_size"], nd)
        stride = kernel if kw["stride"] is None else per_dim(kw["stride"], nd)
        dilation = per_dim(kw.get("dilation", 1), nd)
        if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
            raise Refused
        sizes = x.shape[-nd:]
        pads = resolve_pads(kw["padding"], nd, sizes, kernel, stride, dilation)
        if not isinstance(kw["padding"], str) and any(max(p) > k // 2 for p, k in zip(pads, kernel)):
            raise Refused
        outs = []
        for i, k, s, d, (p0, p1) in zip(sizes, kernel, stride, dilation, pads):
            reach = d * (k - 1) + 1
            if i + p0 + p1 < reach:
                raise Refused
            outs.append(pool_windows(i, p0, p1, reach, s, kw["ceil_mode"]))
    except Refused:
        return ("refused",)
    shape = x.shape[:-nd] + tuple(outs)
    if math.prod(shape) * x.itemsize > LIMIT:
        return ("too large", shape)
    reaches = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    padded = math.prod(i + p0 + p1 + r for i, (p0, p1), r in zip(sizes, pads, reaches))
    x = x.astype(np.float64)
    if padded <= SMALL_PADDED:
        return ("ok", pool_call(reference, kind, nd, x, kw))
    return ("ok", pool_brute(x, kind, nd, outs, kernel, stride, dilation, pads,
                             kw.get("count_include_pad", True)))


def pool_call(mod, kind, nd, x, kw):
    f = getattr(mod, f"{kind}_pool{nd}d")
    if kind == "max":
        return f(x, kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"], kw["ceil_mode"])
    if kind == "avg":
        return f(x, kw["kernel_size"], kw["stride"], kw["padding"], kw["ceil_mode"],
                 kw["count_include_pad"])
    return f(x, kw["kernel_size"], kw["stride"], kw["padding"], kw["ceil_mode"])


def pool_forms(kind, nd):
    """(name, the argument names an error may give, lambda v -> keyword arguments)."""
    base = dict(kernel_size=2, stride=None, padding=0, ceil_mode=False)
    if kind == "max":
        base["dilation"] = 1
    if kind == "avg":
        base["count_include_pad"] = True
    args = ["kernel_size", "stride", "padding"] + (["dilation"] if kind == "max" else [])
    words = {"kernel_size": ("kernel",), "stride": ("stride",), "padding": ("padding",),
             "dilation": ("dilation",)}
    for arg in args:
        yield arg, words[arg], lambda v, arg=arg: {**base, arg: v}
        for dim in range(nd):
            def put(v, dim=dim, arg=arg):
                t = [0 if arg == "padding" else (2 if arg == "kernel_size" else 1)] * nd
                t[dim] = v
                return {**base, arg: tuple(t)}
            yield f"{arg}[{dim}]", words[arg], put
    for side in (0, 1):
        yield (f"padding[0][{side}]", ("padding",),
               lambda v, side=side: {**base, "padding": (((v, 0) if side == 0 else (0, v)),)
                                     + ((0, 0),) * (nd - 1)})
    yield ("kernel_size=v, padding=v // 2, ceil_mode", ("kernel", "padding"),
           lambda v: {**base, "kernel_size": v, "padding": max(v // 2, 0), "ceil_mode": True})
    yield ("stride=v, ceil_mode", ("stride",),
           lambda v: {**base, "stride": v, "ceil_mode": True})
    if kind == "max":
        yield ("dilation=v, 'same'", ("dilation",),
               lambda v: {**base, "dilation": v, "stride": 1, "padding": "same"})
    if kind == "avg":
        yield ("kernel_size=v, padding=v // 2, no count_include_pad", ("kernel", "padding"),
               lambda v: {**base, "kernel_size": v, "padding": max(v // 2, 0),
                          "count_include_pad": False})


POOL_CASES = [(kind, nd, name) for kind in ("max", "avg", "sum") for nd in (1, 2, 3)
              for name, _, _ in pool_forms(kind, nd)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind, nd, name", POOL_CASES)
def test_pool_integer_arguments(kind, nd, name, dtype, simd):
    fname = f"{kind}_pool{nd}d"
    rng = np.random.default_rng(nd)
    x = rng.integers(-9, 10, (2, 3) + POOL_SIZES[nd]).astype(dtype)
    words, make = {n: (wd, m) for n, wd, m in pool_forms(kind, nd)}[name]
    for v in VALUES:
        kw = make(v)
        what = f"{fname}({name}, v={v})"
        got = outcome(lambda: pool_call(cc, kind, nd, x, kw))
        # Average: one division per window (perhaps by multiplying by the inverse of a divisor
        # that is itself a product of floats): a few ulps.
        rtol = (4 * np.finfo(dtype).eps if dtype == np.float32 else 1e-15) if kind == "avg" else 0
        check_against(fname, got, pool_oracle(kind, nd, x, kw), words, what, v, rtol=rtol)
        if got[1] is None:
            *_, outs = shapes.pool_output_shape(x.shape[-nd:], kw["kernel_size"], kw["stride"],
                                                kw["padding"], kw.get("dilation", 1),
                                                kw["ceil_mode"])
            assert got[0].shape == (2, 3) + tuple(outs), what


# ----------------------------------------------------------------------------------------------
# The shapes functions: exact for every value, in Python integers.


def shape_expect(i, k, stride, padding, dilation, ceil_mode=None):
    try:
        i, k, d = _check_int(i), _check_int(k), _check_int(dilation)
        s = k if stride is None else _check_int(stride)
        if min(i, k, s, d) < 1:
            raise Refused
        (p0, p1), = resolve_pads(padding, 1, (i,), (k,), (s,), (d,))
        reach = d * (k - 1) + 1
        if i + p0 + p1 < reach:
            raise Refused
    except Refused:
        return None
    return pool_windows(i, p0, p1, reach, s, bool(ceil_mode))


SHAPE_ARGS = ["i", "k", "stride", "dilation", "padding", "padding[0]", "padding[1]"]
SHAPE_WORDS = {"i": ("input size", "padded input"), "k": ("kernel size", "kernel of size"),
               "stride": ("stride",), "dilation": ("dilation",), "padding": ("padding",)}


def shape_kwargs(arg, v, mode):
    kw = dict(i=8, k=3, stride=1, padding=mode, dilation=1)
    if arg == "padding[0]":
        kw["padding"] = (v, 0)
    elif arg == "padding[1]":
        kw["padding"] = (0, v)
    else:
        kw[arg] = v
    return kw


@pytest.mark.parametrize("mode", [0, "valid", "same", "full"])
@pytest.mark.parametrize("arg", SHAPE_ARGS)
def test_shapes_functions_are_exact(arg, mode):
    word = SHAPE_WORDS[arg.split("[")[0]]
    for v in VALUES:
        kw = shape_kwargs(arg, v, mode)
        if arg.startswith("padding") and mode != 0:
            continue
        for fname, call, ceil in [
            ("conv_output_size", lambda: shapes.conv_output_size(**kw), None),
            ("pool_output_size", lambda: shapes.pool_output_size(**kw), False),
            ("pool_output_size", lambda: shapes.pool_output_size(**kw, ceil_mode=True), True),
            ("pool_output_size", lambda: shapes.pool_output_size(
                **{**kw, "stride": None}), None),
        ]:
            what = f"{fname}({kw}, ceil_mode={ceil})"
            stride = None if fname == "pool_output_size" and ceil is None else kw["stride"]
            want = shape_expect(kw["i"], kw["k"], stride, kw["padding"], kw["dilation"], ceil)
            got, err = outcome(call)
            if want is None:
                assert isinstance(err, ValueError), f"{what}: expected ValueError, got {got!r}"
                check_message(err, fname, word, what)
            else:
                assert err is None and got == want and type(got) is int, (what, got, want, err)
        # resolve_padding: the pair, from the definitions.
        what = f"resolve_padding({kw})"
        got, err = outcome(lambda: shapes.resolve_padding(kw["padding"], kw["i"], kw["k"],
                                                          kw["stride"], kw["dilation"]))
        try:
            i, k, s, d = (_check_int(kw[a]) for a in ("i", "k", "stride", "dilation"))
            if min(i, k, s, d) < 1:
                raise Refused
            want = resolve_pads(kw["padding"], 1, (i,), (k,), (s,), (d,))[0]
        except Refused:
            assert isinstance(err, ValueError), f"{what}: expected ValueError, got {got!r}"
            check_message(err, "resolve_padding", word, what)
            continue
        assert err is None and got == want, (what, got, want, err)


# ----------------------------------------------------------------------------------------------
# set_num_threads, filters, string arguments given integers.


def test_set_num_threads_domain():
    before = cc.get_num_threads()
    try:
        for v in VALUES:
            y, err = outcome(lambda: cc.set_num_threads(v))
            if 1 <= v <= 4096:
                assert err is None and cc.get_num_threads() == v, (v, err)
            else:
                assert isinstance(err, ValueError), (v, err)
                check_message(err, "set_num_threads", ("n must be",), f"n={v}")
    finally:
        cc.set_num_threads(before)


@pytest.mark.parametrize("name", ["box_blur", "box_blur[0]", "box_blur[1]", "gaussian_blur",
                                  "edges", "dark_edges"])
def test_filter_sizes_domain(name):
    fname = name.split("[")[0]
    for v in VALUES:
        arg = (v, 2) if name.endswith("[0]") else (2, v) if name.endswith("[1]") else v
        what = f"filters.{fname}({arg!r})"
        got, err = outcome(lambda: getattr(filters, fname)(arg))
        shape = arg if isinstance(arg, tuple) else (v, v)
        if fname in ("edges", "dark_edges"):  # 4 or 8 only, none of which is in VALUES
            assert isinstance(err, ValueError), what
            check_message(err, fname, ("neighbours",), what)
        elif v < 1 or (fname == "gaussian_blur" and v % 2 == 0):
            assert isinstance(err, ValueError), f"{what}: got {got!r}"
            check_message(err, fname, ("size",), what)
        elif shape[0] * shape[1] * 8 > LIMIT:
            assert isinstance(err, MemoryError), f"{what}: {err!r}"
            check_message(err, fname, ("size",), what)
        else:
            assert err is None and got.shape == shape, what
            assert abs(got.sum() - 1.0) < 1e-12, what


def test_integers_for_string_arguments_are_refused():
    for v in VALUES:
        with pytest.raises(ValueError, match=r"filter2d: border must be one of"):
            cc.filter2d(np.ones((3, 3)), np.ones((1, 1)), border=v)
        with pytest.raises(ValueError, match=r"correlate: mode must be one of"):
            cc.correlate([1.0, 2.0], [1.0], mode=v)
        with pytest.raises(ValueError, match=r"conv2d: padding"):
            cc.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), padding=str(v))


# ----------------------------------------------------------------------------------------------
# NumPy integers and bools.

NP_INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
           np.intp, np.longlong]
X2 = np.arange(2 * 3 * 8 * 7, dtype=np.float64).reshape(2, 3, 8, 7)
W2 = np.arange(3 * 3 * 3 * 2, dtype=np.float64).reshape(3, 3, 3, 2) % 5 - 2
INT_CALLS = {
    "conv2d.stride": lambda v: cc.conv2d(X2, W2, stride=v),
    "conv2d.stride[1]": lambda v: cc.conv2d(X2, W2, stride=(1, v)),
    "conv2d.padding": lambda v: cc.conv2d(X2, W2, padding=v),
    "conv2d.padding[0][1]": lambda v: cc.conv2d(X2, W2, padding=((0, v), (1, 1))),
    "conv2d.dilation": lambda v: cc.conv2d(X2, W2, dilation=v),
    "conv2d.groups": lambda v: cc.conv2d(X2, W2[:, :1], groups=v),
    "max_pool2d.kernel_size": lambda v: cc.max_pool2d(X2, v),
    "max_pool2d.stride": lambda v: cc.max_pool2d(X2, 2, v),
    "max_pool2d.padding": lambda v: cc.max_pool2d(X2, 3, 1, v),
    "max_pool2d.dilation": lambda v: cc.max_pool2d(X2, 2, 1, 0, v),
    "avg_pool1d.kernel_size[0]": lambda v: cc.avg_pool1d(X2[0], (v,)),
    "sum_pool3d.stride[2]": lambda v: cc.sum_pool3d(X2, 2, (1, 1, v)),
    "conv_output_size.i": lambda v: shapes.conv_output_size(v, 3),
    "pool_output_size.k": lambda v: shapes.pool_output_size(9, v),
    "resolve_padding.dilation": lambda v: shapes.resolve_padding("same", 9, 3, 1, v),
    "box_blur.size": lambda v: filters.box_blur(v),
}


def _same_outcome(a, b, what):
    (ya, ea), (yb, eb) = a, b
    if ea is not None or eb is not None:  # (messages may show the value's own repr)
        assert type(ea) is type(eb), f"{what}: {ea!r} != {eb!r}"
        assert str(ea).split(":")[0] == str(eb).split(":")[0], f"{what}: {ea!r} != {eb!r}"
    else:
        np.testing.assert_array_equal(ya, yb, err_msg=what)


@pytest.mark.parametrize("call", list(INT_CALLS))
def test_numpy_integers_behave_as_python_ints(call):
    f = INT_CALLS[call]
    for t in NP_INTS:
        info = np.iinfo(t)
        for v in (0, 1, 2, 3, 7, -1, -2, info.max):
            if call == "box_blur.size" and v > 4096:
                continue  # a real (v, v) kernel: int16's max is 8.6 GB, twice (the limits: above)
            if info.min <= v <= info.max:
                _same_outcome(outcome(lambda: f(t(v))), outcome(lambda: f(int(v))),
                              f"{call}({t.__name__}({v}))")


@pytest.mark.parametrize("call", list(INT_CALLS))
@pytest.mark.parametrize("value", [True, False, np.True_, np.False_])
def test_bools_are_refused_for_integer_arguments(call, value):
    with pytest.raises(TypeError, match=r"^[a-z_0-9]+: .*must be an integer, got bool"):
        INT_CALLS[call](value)


@pytest.mark.parametrize("value", [1.0, 2.5, np.float64(2.0), "2", None, 1 + 0j, [2]])
def test_other_types_are_refused_for_integer_arguments(value):
    with pytest.raises(TypeError, match=r"conv2d: stride must be an integer"):
        cc.conv2d(X2, W2, stride=value if value != [2] else [[2], 1])
    with pytest.raises(TypeError, match=r"max_pool2d: kernel_size must be an integer"):
        cc.max_pool2d(X2, value if value != [2] else [[2], 1])
    with pytest.raises(TypeError, match=r"set_num_threads: n must be an integer"):
        cc.set_num_threads(value)


def test_bool_arguments_take_bools_and_the_ints_0_and_1():
    want = {flag: cc.avg_pool2d(X2, 3, 2, 1, ceil_mode=flag, count_include_pad=not flag)
            for flag in (False, True)}
    for flag in (False, True):
        for v in (flag, int(flag), np.bool_(flag), np.int64(flag), np.uint8(flag)):
            y = cc.avg_pool2d(X2, 3, 2, 1, ceil_mode=v, count_include_pad=not flag)
            np.testing.assert_array_equal(y, want[flag])
    for v in VALUES + [0.0, 1.0, "True", None]:
        if type(v) is int and v in (0, 1):
            continue
        with pytest.raises(TypeError, match=r"max_pool1d: ceil_mode must be True or False"):
            cc.max_pool1d(X2[0], 2, ceil_mode=v)
        with pytest.raises(TypeError, match=r"avg_pool1d: count_include_pad must be True or False"):
            cc.avg_pool1d(X2[0], 2, count_include_pad=v)


# ----------------------------------------------------------------------------------------------
# Float parameters: leaky_relu's negative_slope and elu's alpha.

XA = np.array([-np.inf, -1e30, -2.0, -1.0, -1e-3, -0.0, 0.0, 1e-3, 2.0, 1e30, np.inf, np.nan])
FLOATS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 1e-300, 5e-324, -5e-324, 3.5e38,
          1e-40, np.float32(np.nan), np.float32(np.inf), np.float16(0.5), np.int64(-3),
          np.uint64(2**64 - 1)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["leaky_relu", "elu"])
def test_float_parameters_take_every_real_number(kind, dtype):
    """Any real number, NaN and the infinities included, gives IEEE arithmetic's result, the
    reference's: ``z`` for ``z > 0``, else ``param * z`` (``param * expm1(z)`` for ELU); so a NaN
    parameter gives NaN for every ``z <= 0``, and an infinite one gives NaN at ``z == 0``
    (``inf * 0``)."""
    x = XA.astype(dtype)
    f, ref = getattr(cc, kind), getattr(reference, kind)
    for v in VALUES + FLOATS:
        with np.errstate(over="ignore", invalid="ignore"):
            want = ref(x.astype(np.float64), v).astype(dtype)
        y = f(x, v)
        assert y.dtype == dtype
        what = f"{kind}({dtype.__name__}, {v!r})"
        if dtype == np.float64 and kind == "leaky_relu":
            np.testing.assert_array_equal(y, want, err_msg=what)  # one multiplication: exact
        else:
            tol = 4 * np.finfo(dtype).eps if dtype == np.float32 else 1e-14
            np.testing.assert_allclose(y, want, rtol=tol, atol=0, err_msg=what)


@pytest.mark.parametrize("kind, arg", [("leaky_relu", "negative_slope"), ("elu", "alpha")])
def test_float_parameters_refuse_what_is_not_a_float(kind, arg):
    f = getattr(cc, kind)
    for v in (10**400, -(10**400)):
        with pytest.raises(OverflowError, match=rf"^{kind}: {arg} must fit in a float"):
            f(XA, v)
    for v in (True, np.False_, "0.1", None, 1j, [0.1]):
        with pytest.raises(TypeError, match=rf"^{kind}: {arg} must be a real number"):
            f(XA, v)


# ----------------------------------------------------------------------------------------------
# Zero-size dimensions: one policy.


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, "valid", "same", "full", 2])
@pytest.mark.parametrize("use_bias", [False, True])
def test_empty_batch_gives_an_empty_result(nd, padding, use_bias):
    x = np.ones((0, 4) + SIZES[nd], dtype=np.float32)
    w = np.ones((6, 2) + (3,) * nd, dtype=np.float32)
    b = np.ones(6, dtype=np.float32) if use_bias else None
    kw = dict(stride=2, padding=padding, dilation=1, groups=2)
    y = CONV[nd](x, w, b, **kw)
    _, outs, _, _ = shapes.conv_output_shape(SIZES[nd], (3,) * nd, 2, padding, 1)
    assert y.shape == (0, 6) + tuple(outs) and y.dtype == np.float32
    assert CONV_REF[nd](x, w, b, **kw).shape == y.shape
    for kind in ("max", "avg", "sum"):
        f = getattr(cc, f"{kind}_pool{nd}d")
        z = f(x, 2, 1, padding if padding in (0, "valid", "same") else 1)
        assert z.shape[:2] == (0, 4) and z.dtype == np.float32
        assert z.shape == getattr(reference, f"{kind}_pool{nd}d")(
            x, 2, 1, padding if padding in (0, "valid", "same") else 1).shape
    # The argument checks are the same as for a non-empty batch.
    with pytest.raises(ValueError, match=rf"conv{nd}d: stride must be >= 1"):
        CONV[nd](x, w, b, stride=0, groups=2)
    with pytest.raises(ValueError, match=rf"max_pool{nd}d: kernel"):
        getattr(cc, f"max_pool{nd}d")(x, 99)


EMPTY_CONV = [
    # (what, x shape, w shape, groups, the message)
    ("no channels", (2, 0, 5), (3, 0, 2), 1, r"conv1d: x must have at least one channel"),
    ("no channels, unbatched", (0, 5), (3, 0, 2), 1, r"conv1d: x must have at least one channel"),
    ("no filters", (2, 2, 5), (0, 2, 2), 1, r"conv1d: w must have at least one filter"),
    ("no filter channels", (2, 2, 5), (3, 0, 2), 1, r"conv1d: w has 0 input channels per group"),
    ("empty spatial", (2, 2, 0), (3, 2, 2), 1, r"conv1d: x has an empty spatial dimension"),
    ("empty kernel", (2, 2, 5), (3, 2, 0), 1, r"conv1d: w has an empty kernel dimension"),
]


@pytest.mark.parametrize("what, xs, ws, groups, match", EMPTY_CONV, ids=[e[0] for e in EMPTY_CONV])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_empty_channels_spatial_or_kernel_is_an_error(what, xs, ws, groups, match, nd):
    xs = xs + (4,) * (nd - 1)
    ws = ws + (2,) * (nd - 1)
    match = match.replace("conv1d", f"conv{nd}d")
    with pytest.raises(ValueError, match=match):
        CONV[nd](np.ones(xs), np.ones(ws), groups=groups)
    with pytest.raises(ValueError, match=rf"conv{nd}d: "):  # the reference agrees
        CONV_REF[nd](np.ones(xs), np.ones(ws), groups=groups)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "avg", "sum"])
def test_pool_empty_channels_or_spatial_is_an_error(kind, nd):
    fname = f"{kind}_pool{nd}d"
    f, ref = getattr(cc, fname), getattr(reference, fname)
    cases = [((2, 0) + (4,) * nd, "at least one channel"), ((0,) + (4,) * nd, "at least one channel"),
             ((2, 3) + (4,) * (nd - 1) + (0,), "empty spatial dimension")]
    for shape, match in cases:
        with pytest.raises(ValueError, match=rf"{fname}: x (must have|has an) {match}"):
            f(np.ones(shape), 1)
        with pytest.raises(ValueError, match=rf"{fname}: "):
            ref(np.ones(shape), 1)


@pytest.mark.parametrize("shape", [(0,), (2, 0, 3), (0, 0), (1, 1, 0, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int64])
@pytest.mark.parametrize("kind", ["relu", "leaky_relu", "elu"])
def test_activations_of_empty_arrays_are_empty(kind, dtype, shape):
    y = getattr(cc, kind)(np.ones(shape, dtype=dtype))
    assert y.shape == shape and y.dtype == np.result_type(dtype, np.float32)
    scalar = np.array(-2.0 if dtype != np.uint8 else 2, dtype=dtype)  # 0-d: stays 0-d
    z = getattr(cc, kind)(scalar)
    assert z.shape == () and np.allclose(z, getattr(reference, kind)(scalar), rtol=1e-6)


@pytest.mark.parametrize("func", ["correlate", "convolve"])
@pytest.mark.parametrize("xs, ws", [((0,), (2,)), ((3,), (0,)), ((0, 3), (1, 1)),
                                    ((3, 3), (2, 0)), ((0, 0), (0, 0))])
def test_signal_empty_inputs_are_an_error(func, xs, ws):
    with pytest.raises(ValueError, match=rf"{func}: x and w must not be empty, got shapes"):
        getattr(cc, func)(np.ones(xs), np.ones(ws))


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (0, 4, 3), (4, 0, 4), (0, 0, 1)])
def test_filter2d_empty_image_is_an_error(shape):
    with pytest.raises(ValueError, match=r"filter2d: image must not be empty"):
        cc.filter2d(np.ones(shape, dtype=np.uint8), np.ones((3, 3)))


@pytest.mark.parametrize("kshape", [(0, 3), (3, 0), (0, 0)])
def test_filter2d_empty_kernel_is_an_error(kshape):
    with pytest.raises(ValueError, match=r"filter2d: kernel must not be empty"):
        cc.filter2d(np.ones((4, 4, 3)), np.ones(kshape))
