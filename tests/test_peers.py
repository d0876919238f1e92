"""The same generated sweeps against PyTorch (torch.nn.functional) and SciPy (scipy.signal).

Skipped when the peer is not installed. PyTorch is called wherever it accepts the arguments:
asymmetric or 'same'-with-stride padding of a convolution goes through F.pad first (zeros, which is
what the padding means), and pooling cases are kept when PyTorch's own padding expresses them.
"""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import reference, shapes

from cases import activation_cases, conv_cases, pool_cases, signal_cases
from conftest import assert_close
from test_sweep_pool import call as pool_call

CHUNKS = 24  # x 100 cases per family (and per dimension for conv)


def _compute_dtype(*arrays):
    rt = np.result_type(*arrays, np.float32)
    return np.float32 if rt == np.float32 else np.float64


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_conv_matches_torch(torch, nd, chunk):
    F = torch.nn.functional
    tconv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    ours = {1: cc.conv1d, 2: cc.conv2d, 3: cc.conv3d}[nd]
    refs = {1: reference.conv1d, 2: reference.conv2d, 3: reference.conv3d}[nd]
    for c in conv_cases(nd, 100, seed=1000 * nd + chunk):
        x, w, b = c["x"], c["w"], c["bias"]
        kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
        y = ours(x, w, b, **kw)
        ct = _compute_dtype(x, w) if b is None else _compute_dtype(x, w, b)
        batched = x.ndim == nd + 2
        xb = x if batched else x[None]
        if xb.shape[0] == 0:
            continue
        pads, _, stride, dilation = shapes.conv_output_shape(
            xb.shape[2:], w.shape[2:], c["stride"], c["padding"], c["dilation"]
        )
        tx = torch.from_numpy(np.ascontiguousarray(xb, dtype=ct))
        flat = []
        for before, after in reversed(pads):  # F.pad lists the last dimension first
            flat += [before, after]
        tx = F.pad(tx, flat)
        tb = None if b is None else torch.from_numpy(b.astype(ct))
        t = tconv(tx, torch.from_numpy(w.astype(ct)), tb, stride=stride, padding=0,
                  dilation=dilation, groups=c["groups"]).numpy()
        if not batched:
            t = t[0]
        assert t.shape == y.shape, f"{c['case']}: torch {t.shape} vs {y.shape}"
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        r_abs = refs(np.abs(x64), np.abs(w64), None if b is None else np.abs(b.astype(np.float64)), **kw)
        terms = w.shape[1] * int(np.prod(w.shape[2:])) + 1
        # Both sides round: twice the single-sided bound, against torch's float64 or float32 result.
        assert_close(y, t, 2 * r_abs, terms, "float", c["case"])


def _torch_pool_ok(c):
    """PyTorch's pooling takes symmetric padding of at most kernel_size // 2."""
    nd = c["nd"]
    kernel, _, _, pads, _ = shapes.pool_output_shape(
        c["x"].shape[-nd:], c["kernel_size"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"]
    )
    return all(b == a and b <= k // 2 for (b, a), k in zip(pads, kernel)), pads


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_pool_matches_torch(torch, chunk):
    F = torch.nn.functional
    checked = 0
    for c in pool_cases(100, seed=5000 + chunk):
        nd, x = c["nd"], c["x"]
        ok, pads = _torch_pool_ok(c)
        if not ok or x.shape[0] == 0 or c["kind"] == "sum":
            continue
        y = pool_call(cc, c, x)
        ct = _compute_dtype(x)
        tx = torch.from_numpy(np.ascontiguousarray(x, dtype=ct))
        pad = tuple(p[0] for p in pads)
        stride = c["stride"] if c["stride"] is not None else c["kernel_size"]
        if c["kind"] == "max":
            f = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
            try:
                t = f(tx, c["kernel_size"], stride, pad, c["dilation"], c["ceil_mode"]).numpy()
            except RuntimeError:  # PyTorch refuses some shapes it could pool
                continue
            np.testing.assert_array_equal(y, t, err_msg=c["case"])
        else:
            f = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
            try:
                t = f(tx, c["kernel_size"], stride, pad, c["ceil_mode"], c["count_include_pad"]).numpy()
            except RuntimeError:  # e.g. avg_pool3d refuses an input smaller than the kernel
                continue
            r_abs = pool_call(reference, c, np.abs(x.astype(np.float64)))
            terms = int(np.prod(np.broadcast_to(c["kernel_size"], (nd,))))
            assert_close(y, t, 2 * r_abs, terms, "float", c["case"])
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_activations_match_torch(torch, chunk):
    F = torch.nn.functional
    for c in activation_cases(100, seed=9000 + chunk):
        x = c["x"]
        y = getattr(cc, c["kind"])(x) if c["param"] is None else getattr(cc, c["kind"])(x, c["param"])
        tx = torch.from_numpy(np.ascontiguousarray(x, dtype=_compute_dtype(x)))
        if c["kind"] == "relu":
            t = F.relu(tx)
        elif c["kind"] == "leaky_relu":
            t = F.leaky_relu(tx, 0.01 if c["param"] is None else c["param"])
        else:
            t = F.elu(tx, 1.0 if c["param"] is None else c["param"])
        t = t.numpy()
        if c["kind"] == "relu":
            np.testing.assert_array_equal(y, t, err_msg=c["case"])
        else:
            eps = np.finfo(y.dtype).eps
            np.testing.assert_allclose(y, t, rtol=4 * eps, atol=4 * np.finfo(y.dtype).tiny,
                                       err_msg=c["case"])


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_signal_matches_scipy(scipy_signal, chunk):
    for c in signal_cases(100, seed=7000 + chunk):
        x, w, mode = c["x"], c["w"], c["mode"]
        y = getattr(cc, c["func"])(x, w, mode)
        ct = _compute_dtype(x, w)
        s = getattr(scipy_signal, c["func"])(x.astype(ct), w.astype(ct), mode, method="direct")
        assert s.shape == y.shape, f"{c['case']}: scipy {s.shape} vs {y.shape}"
        x64, w64 = np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64))
        r_abs = reference.correlate(x64, w64 if c["func"] == "correlate" else w64[(slice(None, None, -1),) * w.ndim], mode)
        assert_close(y, s, 2 * r_abs, w.size, c["dtype"] if c["dtype"] != "float32" else "float", c["case"])


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_same_padding_matches_torch_same(torch, nd):
    # PyTorch's own padding='same' (stride 1), even kernels and dilation included: the odd padding
    # goes at the end in both.
    F = torch.nn.functional
    tconv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    ours = {1: cc.conv1d, 2: cc.conv2d, 3: cc.conv3d}[nd]
    rng = np.random.default_rng(40 + nd)
    for k in (1, 2, 3, 4, 5):
        for d in (1, 2, 3):
            x = rng.integers(-4, 5, (2, 3) + (9,) * nd).astype(np.float64)
            w = rng.integers(-4, 5, (4, 3) + (k,) * nd).astype(np.float64)
            y = ours(x, w, padding="same", dilation=d)
            t = tconv(torch.from_numpy(x), torch.from_numpy(w), padding="same", dilation=d).numpy()
            np.testing.assert_array_equal(y, t, err_msg=f"k={k} d={d}")
