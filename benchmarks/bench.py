#!/usr/bin/env python3
"""cnncore benchmark: validate, then time, cnncore against the NumPy reference and the peers.

    python benchmarks/bench.py                      # 1 and 2 threads, every workload (~5 min)
    python benchmarks/bench.py --quick              # fewer repeats, no slow reference runs (~1 min)
    python benchmarks/bench.py --only 'resnet*,elu' --threads 1 --markdown /tmp/b.md

Everything is driven by the WORKLOADS table below (issue 3). For each workload and thread count:

1. every implementation is built (a callable; a peer that cannot run a workload gives None and has
   no row) and called once; its output is compared with cnncore's, and cnncore's with the numpy
   reference (or, where the reference is skipped, with the first peer that ran). The check is
   ``max|a - b| / max|b| <= 1e-4 * max(1, sqrt(K / 64))``, K the length of each output's sum
   (C/groups*kh*kw for a convolution, the window for pooling, 1 for activations): float32 rounding
   grows with K, a wrong result is off by O(1). Outputs with different borders (OpenCV's reflect
   against a zero-padded conv2d) are compared on the interior only. A failed check prints FAIL and
   the time is kept but never counted as "best peer". If cnncore itself fails, the peers are
   checked against the reference instead.
2. the implementations are timed round-robin (one sample of each in turn, the starting one rotating)
   so that the noise of a shared machine hits them alike; a sample is one call, or for calls under
   1 ms enough calls (<= 1000) to last ~10 ms; the result is the MEDIAN per-call time.

Reported: time, GFLOP/s (2*MACs/time) for convolutions or GB/s (input + output bytes / time) for the
memory-bound workloads, % of this machine's measured FMA peak or DRAM (triad) bandwidth at that thread
count, the ratio cnncore / best peer (peers: torch, onnxruntime, opencv; scipy and the numpy
reference are shown for orientation but are not peers), and cnncore's 1-thread / n-thread speedup.
"""
import argparse
import datetime
import fnmatch
import gc
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
import zlib
from contextlib import ExitStack

import numpy as np

import cnncore as cc
from cnncore import reference as ref


def _try_import(name):
    try:
        return __import__(name)
    except Exception:  # not installed, or broken: the peer is skipped
        return None


torch, ort, cv2, onnx, scipy = (_try_import(m) for m in ("torch", "onnxruntime", "cv2", "onnx", "scipy"))
if scipy is not None:
    import scipy.ndimage
    import scipy.signal
if torch is not None:
    import torch.nn.functional as F

IMPLS = ["cnncore", "numpy ref", "torch", "onnxruntime", "opencv", "scipy"]
PEERS = ["torch", "onnxruntime", "opencv"]  # the ratio's denominator: the best of these
SEED = 20240603
PEAK_SOURCE = "/work/shared/tools/peak.cpp"

# ----------------------------------------------------------------------------------------------
# Workloads: float32, channels first. "target" names the line of the "Done when" it counts
# for; "big" ones skip the numpy reference with --quick; "tiny" ones report microseconds.


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def conv(name, x, w, *, stride=1, padding=0, groups=1, bias=False, bound="compute", target=None,
         big=False, tiny=False):
    nd = len(x) - 2
    stride, padding = (stride,) * nd, (padding,) * nd
    out = tuple(_out(i, k, s, p) for i, k, s, p in zip(x[2:], w[2:], stride, padding))
    y = (x[0], w[0]) + out
    macs = math.prod(y) * math.prod(w[1:])
    desc = (f"N={x[0]} {'x'.join(map(str, x[1:]))} -> {w[0]} k={'x'.join(map(str, w[2:]))}"
            + (f" s={stride[0]}" if stride[0] > 1 else "") + (f" p={padding[0]}" if padding[0] else "")
            + (f" groups={groups}" if groups > 1 else "") + (" +bias" if bias else ""))
    return dict(name=name, kind=f"conv{nd}d", x=x, w=w, y=y, stride=stride, padding=padding,
                groups=groups, bias=bias, K=math.prod(w[1:]), flops=2 * macs,
                bytes=4 * (math.prod(x) + math.prod(y)), bound=bound, target=target, big=big,
                tiny=tiny, desc=desc)


def signal(name, length, taps, target):
    wl = conv(name, (1, 1, length), (1, 1, taps), padding=taps // 2, target=target)
    wl.update(kind="signal", desc=f"1-D signal of {length:,} samples, {taps} taps, 'same', zeros")
    return wl


KERNELS = {
    "sobel": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),
    "gauss": (np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256).astype(np.float32),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32),
}


def image_filter(name, image, kernel, big=False):
    """An OpenCV-style filter on a channels-last image; channels-first (C, 1, H, W) for conv2d."""
    kh, kw = KERNELS[kernel].shape
    c = image[2] if len(image) == 3 else 1
    wl = conv(name, (c, 1) + image[:2], (1, 1, kh, kw), target="opencv", big=big)
    wl.update(kind="filter", image=image, kernel=kernel, padding=(kh // 2, kw // 2),
              y=(c, 1) + image[:2], flops=2 * c * image[0] * image[1] * kh * kw,
              bytes=8 * c * image[0] * image[1],
              desc=f"{'x'.join(map(str, image))} image, {kh}x{kw} {kernel}, reflect-101 border")
    return wl


def pool(name, kind, x, kernel, stride, padding, target):
    y = x[:2] + tuple(_out(i, kernel, stride, padding) for i in x[2:])
    return dict(name=name, kind=kind, x=x, y=y, pool=(kernel, stride, padding), K=kernel * kernel,
                flops=None, bytes=4 * (math.prod(x) + math.prod(y)), bound="memory",
                target=target, big=False, tiny=False,
                desc=f"N={x[0]} {'x'.join(map(str, x[1:]))}, {kernel}x{kernel} s={stride} p={padding}")


def activation(name, kind, x, target=None, tiny=False):
    return dict(name=name, kind=kind, x=x, y=x, K=1, flops=None, bytes=8 * math.prod(x),
                bound="memory", target=target, big=False, tiny=tiny,
                desc=f"{'x'.join(map(str, x))}")


ACT = (8, 64, 112, 112)
WORKLOADS = [
    conv("lecture_conv1", (64, 1, 28, 28), (16, 1, 5, 5), padding=2, bias=True, target="lecture1"),
    conv("lecture_conv2", (64, 16, 14, 14), (32, 16, 5, 5), padding=2, bias=True, target="dense"),
    conv("resnet3x3_n1", (1, 64, 56, 56), (64, 64, 3, 3), padding=1, target="dense"),
    conv("resnet3x3_n8", (8, 64, 56, 56), (64, 64, 3, 3), padding=1, target="dense", big=True),
    conv("resnet3x3_256", (8, 256, 14, 14), (256, 256, 3, 3), padding=1, target="dense", big=True),
    conv("stem", (1, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3, target="dense"),
    conv("pointwise", (8, 128, 28, 28), (256, 128, 1, 1), target="dense"),
    conv("depthwise", (8, 128, 56, 56), (128, 1, 3, 3), padding=1, groups=128, bound="memory",
         target="memory"),
    conv("conv1d", (32, 64, 4096), (64, 64, 9), padding=4, target="dense", big=True),
    signal("signal", 1_000_000, 31, target="opencv"),
    image_filter("sobel3x3", (2048, 2048), "sobel"),
    image_filter("gauss5x5", (2048, 2048), "gauss"),
    image_filter("sharpen_rgb", (2160, 3840, 3), "sharpen", big=True),
    pool("maxpool", "maxpool", ACT, 2, 2, 0, target="memory"),
    pool("avgpool", "avgpool", ACT, 3, 2, 1, target="memory"),
    activation("relu", "relu", ACT, target="relu"),
    activation("leaky_relu", "leaky_relu", ACT, target="relu"),
    activation("elu", "elu", ACT, target="elu"),
    conv("tiny_conv", (1, 1, 8, 8), (1, 1, 3, 3), padding=1, tiny=True, target="tiny"),
    activation("tiny_relu", "relu", (1, 1, 8, 8), tiny=True),
]
CONV_KINDS = ("conv1d", "conv2d", "signal", "filter")


def make_data(wl):
    """Seeded float32 data (the same for a workload whatever --only selects). ``x``/``w``/``b`` are
    channels first, for every deep-learning style call; filters also keep the channels-last
    ``image`` and 2-D ``kernel``, the signal its 1-D ``sig`` and ``taps``."""
    rng = np.random.default_rng([SEED, zlib.crc32(wl["name"].encode())])
    d = {}
    if wl["kind"] == "filter":
        img = rng.random(wl["image"], dtype=np.float32)
        d.update(image=img, kernel=KERNELS[wl["kernel"]], w=KERNELS[wl["kernel"]][None, None],
                 x=np.ascontiguousarray(np.moveaxis(img.reshape(img.shape[:2] + (-1,)), -1, 0)[:, None]))
    else:
        d["x"] = rng.standard_normal(wl["x"], dtype=np.float32)
    if wl["kind"] in ("conv1d", "conv2d", "signal"):
        d["w"] = rng.standard_normal(wl["w"], dtype=np.float32)
        d["b"] = rng.standard_normal(wl["w"][0], dtype=np.float32) if wl["bias"] else None
    if wl["kind"] == "signal":
        d.update(sig=d["x"].reshape(-1), taps=d["w"].reshape(-1))
    d.setdefault("b", None)
    return d


def canonical(wl, d, y):
    """Outputs compared in one layout: channels-last image for filters, 1-D for the signal."""
    y = np.asarray(y)
    if wl["kind"] == "filter" and y.ndim == 4:  # (C, 1, H, W) from a channels-first conv2d
        y = np.moveaxis(y[:, 0], 0, -1).reshape(d["image"].shape)
    if wl["kind"] == "signal":
        y = y.reshape(-1)
    return y


# ----------------------------------------------------------------------------------------------
# One builder per implementation: (workload, data, threads) -> (callable, border, note) or None.
# ``border`` matters only for filters (OpenCV's reflect-101 vs a zero-padded conv2d).


def build_cnncore(wl, d, t, mod=cc):
    k = wl["kind"]
    if k == "filter":
        if hasattr(mod, "filter2d"):
            return lambda: mod.filter2d(d["image"], d["kernel"], border="reflect"), "reflect", ""
        return (lambda: mod.conv2d(d["x"], d["w"], padding=wl["padding"]), "zeros",
                "conv2d fallback")
    if k == "signal":
        return lambda: mod.correlate(d["sig"], d["taps"], "same"), "zeros", "correlate 'same'"
    if k in CONV_KINDS:
        fn = getattr(mod, k)
        return (lambda: fn(d["x"], d["w"], d["b"], stride=wl["stride"], padding=wl["padding"],
                           groups=wl["groups"]), "zeros", "")
    if k in ("maxpool", "avgpool"):
        fn = mod.max_pool2d if k == "maxpool" else mod.avg_pool2d
        return lambda: fn(d["x"], *wl["pool"]), "", ""
    return (lambda: getattr(mod, k)(d["x"])), "", ""


def build_reference(wl, d, t):
    return build_cnncore(wl, d, t, mod=ref)


def build_torch(wl, d, t):
    if torch is None:
        return None
    x, k = torch.from_numpy(d["x"]), wl["kind"]
    if k in CONV_KINDS:
        fn = {3: F.conv1d, 4: F.conv2d}[x.ndim]
        w = torch.from_numpy(d["w"])
        b = None if d["b"] is None else torch.from_numpy(d["b"])
        return (lambda: fn(x, w, b, stride=wl["stride"], padding=wl["padding"],
                           groups=wl["groups"]), "zeros", "zero border" if k == "filter" else "")
    if k in ("maxpool", "avgpool"):
        fn = F.max_pool2d if k == "maxpool" else F.avg_pool2d
        return lambda: fn(x, *wl["pool"]), "", ""
    return (lambda: getattr(F, k)(x)), "", ""


def onnx_model(wl, d):
    """A one-node ONNX graph for the workload (serialized), or None."""
    if onnx is None:
        return None
    from onnx import TensorProto, helper as oh, numpy_helper
    k, inits = wl["kind"], []
    if k in CONV_KINDS:
        names = ["x", "w"] + ([] if d["b"] is None else ["b"])
        inits = [numpy_helper.from_array(d[n], n) for n in names[1:]]
        node = oh.make_node("Conv", names, ["y"], kernel_shape=list(d["w"].shape[2:]),
                            strides=list(wl["stride"]), pads=list(wl["padding"]) * 2,
                            group=wl["groups"])
    elif k in ("maxpool", "avgpool"):
        ks, s, p = wl["pool"]
        extra = {"count_include_pad": 1} if k == "avgpool" else {}
        node = oh.make_node("MaxPool" if k == "maxpool" else "AveragePool", ["x"], ["y"],
                            kernel_shape=[ks, ks], strides=[s, s], pads=[p] * 4, **extra)
    else:
        op, extra = {"relu": ("Relu", {}), "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
                     "elu": ("Elu", {"alpha": 1.0})}[k]
        node = oh.make_node(op, ["x"], ["y"], **extra)
    graph = oh.make_graph([node], wl["name"],
                          [oh.make_tensor_value_info("x", TensorProto.FLOAT, d["x"].shape)],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, wl["y"])], inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def build_onnxruntime(wl, d, t):
    model = onnx_model(wl, d) if ort is not None else None
    if model is None:
        return None
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = t, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads would otherwise spin after each run and steal a core from whichever
    # implementation the round-robin times next (2 cores). Measured: no effect on ORT's own times.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    feed = {"x": d["x"]}
    return (lambda: sess.run(None, feed)[0]), "zeros", "zero border" if wl["kind"] == "filter" else ""


def build_opencv(wl, d, t):
    if cv2 is None:
        return None
    if wl["kind"] == "filter":
        return lambda: cv2.filter2D(d["image"], cv2.CV_32F, d["kernel"]), "reflect", ""
    if wl["kind"] == "signal":
        row, k = d["sig"].reshape(1, -1), d["taps"].reshape(1, -1)
        return (lambda: cv2.filter2D(row, cv2.CV_32F, k, borderType=cv2.BORDER_CONSTANT)), "zeros", ""
    if wl["tiny"] and hasattr(cv2, "dnn"):
        model = onnx_model(wl, d)
        if model is None:
            return None
        net, x = cv2.dnn.readNetFromONNX(np.frombuffer(model, np.uint8)), d["x"]

        def fn():
            net.setInput(x)
            return net.forward().copy()  # forward() may return its internal buffer
        return fn, "zeros", "cv2.dnn"
    return None


def build_scipy(wl, d, t):
    if scipy is None:
        return None
    if wl["kind"] == "filter":
        k = d["kernel"] if d["image"].ndim == 2 else d["kernel"][:, :, None]
        return (lambda: scipy.ndimage.correlate(d["image"], k, mode="mirror")), "reflect", "ndimage"
    if wl["kind"] == "signal":
        flipped = d["taps"][::-1].copy()
        return (lambda: scipy.signal.oaconvolve(d["sig"], flipped, "same")), "zeros", "oaconvolve"
    return None


BUILDERS = {"cnncore": build_cnncore, "numpy ref": build_reference, "torch": build_torch,
            "onnxruntime": build_onnxruntime, "opencv": build_opencv, "scipy": build_scipy}


def set_threads(t):
    cc.set_num_threads(t)
    if torch is not None:
        torch.set_num_threads(t)  # torch and cnncore may share libgomp: set both, to the same t
    if cv2 is not None:
        cv2.setNumThreads(t)
    assert cc.get_num_threads() == t, (cc.get_num_threads(), t)


# ----------------------------------------------------------------------------------------------
# Validation and timing


def tolerance(wl):
    return 1e-4 * max(1.0, math.sqrt(wl["K"] / 64))


def compare(wl, a, b, border_a, border_b):
    """max|a - b| / max|b|, on the interior when the two borders differ; inf on a shape mismatch."""
    if a.shape != b.shape:
        return math.inf, f"shape {a.shape} != {b.shape}"
    where = ""
    if wl["kind"] == "filter" and border_a != border_b:
        rh, rw = wl["padding"]
        inner = (slice(rh, a.shape[0] - rh), slice(rw, a.shape[1] - rw))
        a, b, where = a[inner], b[inner], " interior"
    scale = float(np.max(np.abs(b))) or 1.0
    return float(np.max(np.abs(a - b))) / scale, where


def time_round_robin(fns, budget, min_reps, fixed_reps=None, max_reps=200):
    """{name: (median s/call, half the interquartile range / median, samples, calls per sample)},
    timed round-robin. Calls under 1 ms are repeated (up to 1000 times) to make ~10 ms samples; the
    number of samples targets ``budget`` seconds per callable (at least ``min_reps``), or is
    ``fixed_reps``."""
    plan = {}
    if not fns:
        return {}
    for name, fn in fns.items():
        fn()  # warm-up (the validation call was the first)
        t0 = time.perf_counter()
        fn()
        est = time.perf_counter() - t0
        if est < 1e-3:
            est = min(_timed(fn, 20) for _ in range(3))
        inner = 1 if est >= 1e-3 else min(1000, max(1, round(0.01 / est)))
        reps = fixed_reps or min(max_reps, max(min_reps, math.ceil(budget / (est * inner))))
        plan[name] = (inner, reps)
    samples = {name: [] for name in fns}
    names = list(fns)
    gc.collect()
    gc.disable()
    try:
        for r in range(max(reps for _, reps in plan.values())):
            for name in names[r % len(names):] + names[:r % len(names)]:
                inner, reps = plan[name]
                if len(samples[name]) < reps:
                    samples[name].append(_timed(fns[name], inner))
    finally:
        gc.enable()
    out = {}
    for name, s in samples.items():
        q1, med, q3 = np.percentile(s, [25, 50, 75])
        out[name] = (float(med), float((q3 - q1) / 2 / med), len(s), plan[name][0])
    return out


def cpu_seconds():
    """(CPU seconds used by the whole machine, steal included; by this process): their difference
    over a measurement is what other processes took (the noise of a shared machine)."""
    try:
        with open("/proc/stat") as f:
            user, nice, system, _idle, _io, irq, softirq, steal = map(int, f.readline().split()[1:9])
        busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        busy = math.nan
    return busy, sum(os.times()[:2])


def others_cpus(window=0.5):
    """CPUs used by other processes over the next ``window`` seconds."""
    (b0, o0), t0 = cpu_seconds(), time.perf_counter()
    time.sleep(window)
    (b1, o1), t1 = cpu_seconds(), time.perf_counter()
    return max(0.0, (b1 - b0) - (o1 - o0)) / (t1 - t0)


WAITED = [0.0]  # seconds spent waiting for a quiet machine, this run


def measure(fns, args):
    """time_round_robin on a machine as quiet as we can get: first wait (up to --max-wait s, and
    4x that over the whole run) until other processes use < 0.15 CPUs; if they used >= 0.25 CPUs
    during the measurement, wait and measure once more, keeping the quieter of the two.
    Returns (timings, CPUs used by others during it, seconds)."""
    best = None
    for attempt in range(2):
        t0 = time.perf_counter()
        while WAITED[0] < 4 * args.max_wait and time.perf_counter() - t0 < args.max_wait:
            if others_cpus() < 0.15:
                break
        WAITED[0] += time.perf_counter() - t0
        (b0, o0), t0 = cpu_seconds(), time.perf_counter()
        timings = time_round_robin(fns, args.budget, args.min_reps, args.repeat)
        (b1, o1), wall = cpu_seconds(), time.perf_counter() - t0
        bg = max(0.0, (b1 - b0) - (o1 - o0)) / wall
        if best is None or bg < best[1]:
            best = (timings, bg, wall)
        if bg < 0.25 or args.max_wait <= 0:
            break
    return best


def _timed(fn, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def run_workload(wl, threads, args, log):
    """Validate and time every implementation at every thread count: {t: {impl: row}}."""
    d = make_data(wl)
    result = {t: {} for t in threads}
    # The numpy reference is single-threaded: called once, its output reused at every thread count,
    # and timed only where one call fits the budget (2 s; 0.3 s and no big workloads with --quick).
    refrow = dict(check="", note="", border="", out=None, fn=None)
    if args.quick and wl["big"]:
        refrow["note"] = "skipped (--quick)"
    else:
        try:
            fn, refrow["border"], _ = build_reference(wl, d, threads[0])
            t0 = time.perf_counter()
            refrow["out"] = canonical(wl, d, fn())
            call = time.perf_counter() - t0
            if call <= args.ref_budget:
                refrow["fn"] = fn
            else:
                refrow["note"] = f"not timed: {call:.1f} s/call"
        except Exception as e:
            refrow.update(check="error", note=f"{type(e).__name__}: {e}"[:90])
    for t in threads:
        set_threads(t)
        rows, fns, outs = result[t], {}, {}
        for name in IMPLS:
            if name == "numpy ref":
                rows[name] = {k: refrow[k] for k in ("check", "note", "border")}
                if refrow["out"] is not None:
                    outs[name] = refrow["out"]
                if refrow["fn"] is not None:
                    fns[name] = refrow["fn"]
                continue
            try:
                built = BUILDERS[name](wl, d, t)
                if built is None:
                    continue  # unsupported: no row
                fn, border, note = built
                rows[name] = dict(check="", note=note, border=border)
                outs[name] = canonical(wl, d, fn())
                fns[name] = fn
            except Exception as e:
                msg = str(e).strip().splitlines()[0][:80] if str(e).strip() else ""
                rows.setdefault(name, dict(border="", note=""))
                rows[name].update(check="error", note=f"{type(e).__name__}: {msg}")
        validate(wl, rows, outs)
        timings, bg, wall = measure(fns, args)
        for name, (median, spread, n, inner) in timings.items():
            rows[name].update(time=median, spread=spread, samples=n, inner=inner)
        if bg >= 0.1 and "cnncore" in rows:  # flag measurements taken on a busy machine
            rows["cnncore"]["note"] += f" [busy: others used {bg:.1f} CPUs]"
        log(f"  t={t}: " + ", ".join(f"{n} {fmt_time(r['time'], wl)}" for n, r in rows.items()
                                       if r.get("time")) + f"  [{wall:.1f} s, others {bg:.2f} CPUs]")
    return result


def validate(wl, rows, outs):
    """cnncore against the reference (else the first peer that ran); the others against cnncore
    (against the reference instead if cnncore failed)."""
    tol = tolerance(wl)
    oracle = next((n for n in ["numpy ref"] + PEERS + ["scipy"] if n in outs), None)
    truth = oracle
    if "cnncore" in outs:
        if oracle is None:
            rows["cnncore"]["check"] = "unchecked"
            truth = "cnncore"
        else:
            err, where = compare(wl, outs["cnncore"], outs[oracle], rows["cnncore"]["border"],
                                 rows[oracle]["border"])
            ok = err <= tol
            rows["cnncore"]["check"] = f"{'ok' if ok else 'FAIL'} {err:.0e} vs {oracle}{where}"
            if ok:
                truth = "cnncore"
    for name in outs:
        if name == "cnncore" or (name == oracle and truth != "cnncore"):
            continue
        err, where = compare(wl, outs[name], outs[truth], rows[name]["border"], rows[truth]["border"])
        rows[name]["check"] = f"{'ok' if err <= tol else 'FAIL'} {err:.0e}{where}"
    if oracle and truth != "cnncore":
        rows[oracle]["check"] = "oracle"


# ----------------------------------------------------------------------------------------------
# Peak numbers (the % of peak denominators)


def measure_peaks(args, log):
    """{"gflops": {t: x}, "bw": {t: y}, "source": str} from --peak-gflops/--bandwidth-gbs or peak."""
    peaks, sources = {"gflops": {}, "bw": {}}, []
    for key, given in (("gflops", args.peak_gflops), ("bw", args.bandwidth_gbs)):
        if given:
            if len(given) not in (1, len(args.threads)):
                sys.exit(f"bench.py: give one value, or one per --threads entry, for --{key}")
            peaks[key] = {t: given[min(i, len(given) - 1)] for i, t in enumerate(args.threads)}
            sources.append(f"{key} given on the command line")
    if args.peak_gflops and args.bandwidth_gbs:
        return peaks, "; ".join(sources)
    binary = args.peak_binary
    if not (binary and os.access(binary, os.X_OK)):
        binary = os.path.join(tempfile.gettempdir(), "cnncore-bench-peak")
        if not os.access(binary, os.X_OK):
            if not os.path.exists(args.peak_source):
                return peaks, "; ".join(sources + ["no peak binary or source: % of peak omitted"])
            cmd = ["g++", "-O3", "-march=native", "-fopenmp", args.peak_source, "-o", binary]
            log("building " + " ".join(cmd))
            if subprocess.run(cmd, capture_output=True).returncode != 0:
                return peaks, "; ".join(sources + ["peak.cpp did not build: % of peak omitted"])
    log(f"measuring the machine's peak with {binary} ...")
    try:
        out = subprocess.run([binary] + (["--reps", "7"] if args.quick else []), capture_output=True,
                             text=True, timeout=300).stdout
    except Exception as e:
        return peaks, "; ".join(sources + [f"{binary} failed ({e}): % of peak omitted"])
    for t, g in re.findall(r"PEAK_FMA_GFLOPS threads=(\d+) median=([\d.]+)", out):
        peaks["gflops"].setdefault(int(t), float(g))  # a value given on the command line wins
    for t, _copy, triad, _read in re.findall(
            r"BW_GBS threads=(\d+) copy=([\d.]+) triad=([\d.]+) read=([\d.]+)", out):
        peaks["bw"].setdefault(int(t), float(triad))
    return peaks, "; ".join(sources + [f"measured by {binary} (FMA median, triad bandwidth)"])


# ----------------------------------------------------------------------------------------------
# Report


def fmt_time(s, wl):
    return f"{s * 1e6:.2f} us" if wl["tiny"] else f"{s * 1e3:.3g} ms" if s < 1 else f"{s * 1e3:.0f} ms"


def ratio(res, wl, t, peers=PEERS):
    """cnncore time / best time among ``peers`` that passed validation: (ratio, best peer name)."""
    rows = res[wl["name"]][t]
    c = rows.get("cnncore", {})
    ok = {n: r["time"] for n, r in rows.items()
          if n in peers and r.get("time") and r["check"].startswith("ok")}
    if not ok or not c.get("time") or not c["check"].startswith(("ok", "unchecked")):
        return None, None
    best = min(ok, key=ok.get)
    return c["time"] / ok[best], best


def speedup(res, wl, t, threads):
    """cnncore's time at the smallest thread count / at t."""
    t0 = min(threads)
    a, b = (res[wl["name"]][u].get("cnncore", {}).get("time") for u in (t0, t))
    return a / b if a and b and t != t0 else None


def table(res, workloads, t, threads, peaks):
    head = ["workload", "impl", "time", "±", "rate", "% peak", "cnncore/best peer", f"x vs {min(threads)}T",
            "check", "note"]
    lines = []
    for wl in workloads:
        first = True
        r, best = ratio(res, wl, t)
        for name, row in res[wl["name"]][t].items():
            tm, rate, pct = row.get("time"), "", ""
            if tm:
                if wl["flops"] and wl["bound"] == "compute" and not wl["tiny"]:
                    rate, peak = wl["flops"] / tm / 1e9, peaks["gflops"].get(t)
                    rate, pct = f"{rate:.1f} GFLOP/s", f"{100 * rate / peak:.0f}%" if peak else ""
                elif not wl["tiny"]:
                    rate, peak = wl["bytes"] / tm / 1e9, peaks["bw"].get(t)
                    rate, pct = f"{rate:.1f} GB/s", f"{100 * rate / peak:.0f}%" if peak else ""
            ratio_s = sp = ""
            if name == "cnncore":
                ratio_s = f"{r:.2f} ({best})" if r else "n/a"
                s = speedup(res, wl, t, threads)
                sp = f"{s:.2f}" if s else ""
            note = row.get("note", "") + (" (best peer)" if name == best else "")
            spread = f"{100 * row['spread']:.0f}%" if tm else ""
            lines.append([wl["name"] if first else "", name, fmt_time(tm, wl) if tm else "-", spread, rate,
                          pct, ratio_s, sp, row.get("check", ""), note.strip()])
            first = False
    return head, lines


def format_text(head, lines):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(row) for row in lines])


def format_md(head, lines):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(out + ["| " + " | ".join(str(x) for x in row) + " |" for row in lines])


TARGETS = [  # (label, workload target tag, limit, how): the "Done when"
    ("dense: geometric mean of ratio", "dense", 1.0, "geomean"),
    ("dense: worst ratio", "dense", 1.25, "max"),
    ("lecture conv1 ratio", "lecture1", 0.8, "max"),
    ("depthwise, max pool, avg pool ratio", "memory", 0.6, "max"),
    ("relu, leaky_relu ratio", "relu", 1.0, "max"),
    ("elu ratio", "elu", 0.4, "max"),
    ("filters and signal vs OpenCV", "opencv", 1.0, "max"),
    ("dense: 2-thread / 1-thread speedup (each)", "dense", 1.8, "speedup"),
    ("tiny conv time (us)", "tiny", 3.0, "time"),
]


def summary(res, workloads, threads):
    out = ["Targets of issue 3 (ratio = cnncore median / best median among torch, onnxruntime, "
           "opencv at the same thread count; scipy and the numpy reference are not peers):"]
    for label, tag, limit, how in TARGETS:
        wls = [wl for wl in workloads if wl["target"] == tag]
        if not wls:
            continue
        cells, good = [], True
        for t in (threads if how != "speedup" else [t for t in threads if t != min(threads)][:1]):
            if how == "speedup":
                vals = {wl["name"]: speedup(res, wl, t, threads) for wl in wls}
            elif how == "time":
                vals = {wl["name"]: res[wl["name"]][t].get("cnncore", {}).get("time") for wl in wls}
                vals = {k: v * 1e6 if v else None for k, v in vals.items()}
            else:
                peers = ["opencv"] if tag == "opencv" else PEERS
                vals = {wl["name"]: ratio(res, wl, t, peers)[0] for wl in wls}
            if any(v is None for v in vals.values()) or not vals:
                missing = [k for k, v in vals.items() if v is None]
                cells.append(f"t={t}: n/a ({', '.join(missing)})")
                good = None if good is not False else False
                continue
            if how == "geomean":
                v, who = math.exp(sum(map(math.log, vals.values())) / len(vals)), ""
            elif how == "speedup":
                who = min(vals, key=vals.get)
                v = vals[who]
            else:
                who = max(vals, key=vals.get)
                v = vals[who]
            ok = v >= limit if how == "speedup" else v <= limit
            good = good and ok if good is not None else None
            cells.append(f"{'t=%d' % t if how != 'speedup' else '%dT/%dT' % (t, min(threads))}: "
                         f"{v:.2f}{' (' + who + ')' if who and len(vals) > 1 else ''} "
                         f"{'PASS' if ok else 'MISS'}")
        sign = ">=" if how == "speedup" else "<="
        verdict = "n/a" if good is None else "PASS" if good else "MISS"
        out.append(f"  {verdict:4}  {label} {sign} {limit}:  " + ";  ".join(cells))
    return "\n".join(out)


def versions():
    v = {"cnncore": getattr(cc, "__version__", "?"), "numpy": np.__version__}
    for name, mod in (("torch", torch), ("onnxruntime", ort), ("onnx", onnx), ("opencv", cv2)):
        if mod is not None:
            v[name] = mod.__version__
    if scipy is not None:
        v["scipy"] = scipy.__version__
    return v


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (1 2)")
    p.add_argument("--repeat", type=int, help="samples per measurement (default: ~0.6 s worth, >= 5)")
    p.add_argument("--only", help="comma-separated workload names or globs, e.g. 'resnet*,elu'")
    p.add_argument("--quick", action="store_true", help="fewer samples; no reference on big workloads")
    p.add_argument("--markdown", metavar="OUT.md", help="also write the tables as markdown")
    p.add_argument("--peak-gflops", type=float, nargs="+", help="FMA peak, one value or one per --threads")
    p.add_argument("--bandwidth-gbs", type=float, nargs="+", help="DRAM bandwidth, same form")
    p.add_argument("--peak-binary", default="/tmp/peak", help="a built peak.cpp (/tmp/peak)")
    p.add_argument("--peak-source", default=PEAK_SOURCE, help="peak.cpp, built if no binary")
    p.add_argument("--max-wait", type=float, help="seconds to wait for a quiet machine before a "
                   "measurement (default 10, 2 with --quick; 0: never wait or re-measure)")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = p.parse_args(argv)
    args.budget = 0.12 if args.quick else 0.6
    args.min_reps = 3 if args.quick else 5
    args.ref_budget = 0.3 if args.quick else 2.0
    if args.max_wait is None:
        args.max_wait = 2.0 if args.quick else 10.0

    workloads = WORKLOADS
    if args.only:
        pats = [s.strip() for s in args.only.split(",") if s.strip()]
        workloads = [wl for wl in WORKLOADS if any(fnmatch.fnmatch(wl["name"], q) for q in pats)]
        if not workloads:
            sys.exit(f"bench.py: no workload matches --only {args.only!r}; see --list")
    if args.list:
        for wl in WORKLOADS:
            print(f"{wl['name']:15} {wl['desc']}")
        return 0

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    started = time.perf_counter()
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0]] + (argv or sys.argv[1:]))
    vers = versions()
    found = [n for n in ("torch", "onnxruntime", "opencv", "scipy") if n in vers]
    missing = [n for n in ("torch", "onnxruntime", "opencv", "scipy") if n not in vers]
    print("peers found: " + ", ".join(f"{n} {vers[n]}" for n in found)
          + (f"; not importable (skipped): {', '.join(missing)}" if missing else ""))
    if ort is not None and onnx is None:
        print("onnxruntime skipped: it needs the `onnx` package to build its graphs (pip install onnx)")
    print("cnncore.filter2d: " + ("present" if hasattr(cc, "filter2d") else
                                  "absent (filters use the conv2d fallback, validated on the interior)"))
    peaks, peak_source = measure_peaks(args, log)
    print("peaks: " + ", ".join(f"{t}T {peaks['gflops'].get(t, '?')} GFLOP/s FMA, "
                                f"{peaks['bw'].get(t, '?')} GB/s triad" for t in args.threads)
          + f"  ({peak_source})")

    res = {}
    with ExitStack() as stack:
        if torch is not None:
            stack.enter_context(torch.inference_mode())
        for i, wl in enumerate(workloads, 1):
            log(f"[{i}/{len(workloads)}] {wl['name']}: {wl['desc']}")
            res[wl["name"]] = run_workload(wl, args.threads, args, log)
            gc.collect()
    elapsed = time.perf_counter() - started

    text, md = [], []
    for t in args.threads:
        head, lines = table(res, workloads, t, args.threads, peaks)
        pk = f"FMA peak {peaks['gflops'].get(t, 'n/a')} GFLOP/s, bandwidth {peaks['bw'].get(t, 'n/a')} GB/s"
        text.append(f"\n== {t} thread{'s' if t > 1 else ''} ({pk}) ==\n" + format_text(head, lines))
        md.append(f"\n## {t} thread{'s' if t > 1 else ''}\n\n{pk}.\n\n" + format_md(head, lines))
    summ = summary(res, workloads, args.threads)
    print("\n".join(text) + "\n\n" + summ + f"\n\ntotal time {elapsed:.0f} s ({WAITED[0]:.0f} s of it waiting for a quiet machine)")
    if args.markdown:
        config = cc.show_config(print_out=False) if hasattr(cc, "show_config") else {}
        header = [
            "# cnncore benchmark", "",
            f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
            f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; cnncore SIMD in use: "
            f"{config.get('simd_in_use', '?')}",
            "- peaks: " + "; ".join(f"{t} thread(s): {peaks['gflops'].get(t, 'n/a')} GFLOP/s FMA, "
                                    f"{peaks['bw'].get(t, 'n/a')} GB/s triad" for t in args.threads)
            + f" ({peak_source})",
            "- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
            f"- command: `{command}` (total {elapsed:.0f} s, {WAITED[0]:.0f} s of it waiting for "
            "other processes to go quiet)", "",
            "Medians of per-call times, implementations timed round-robin in one process on the same "
            "data. `cnncore/best peer` = cnncore time / the best of torch, onnxruntime and opencv "
            "that passed validation (scipy and the numpy reference are shown but are not peers). "
            "GFLOP/s = 2*MACs/time; GB/s = (input + output bytes)/time; % peak = of the FMA peak or "
            "the triad bandwidth at that thread count. `check`: max abs difference / max abs of the "
            "output, against cnncore (cnncore against the numpy reference or the named peer).", "",
            "## Workloads", "", "| workload | shape | GFLOP | MB in+out |", "|---|---|---|---|"]
        header += [f"| {wl['name']} | {wl['desc']} | {wl['flops'] / 1e9 if wl['flops'] else 0:.3g} | "
                   f"{wl['bytes'] / 1e6:.3g} |" for wl in workloads]
        with open(args.markdown, "w") as f:
            f.write("\n".join(header) + "\n" + "\n".join(md) + "\n\n## Targets\n\n```\n" + summ
                    + "\n```\n")
        print(f"markdown written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
