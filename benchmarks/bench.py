#!/usr/bin/env python3
"""cnncore benchmark (issue 3): validate, then time, cnncore against its numpy reference and the
peers installed (PyTorch, ONNX Runtime, OpenCV, SciPy) at 1 and 2 threads, in one process.

    python benchmarks/bench.py                    # every workload, 1 and 2 threads (~4-6 min)
    python benchmarks/bench.py --quick            # fewer samples, no slow reference (~1-2 min)
    python benchmarks/bench.py --only 'resnet*,elu' --threads 1 --markdown /tmp/b.md

The WORKLOADS table drives everything. For each workload and thread count t (every library set to
t threads, ONNX Runtime sessions built per t):

1. Validate. Each implementation is built (build_<name>: a callable, or None when that library
   has no such operation: no row) and called once. cnncore is compared with the numpy reference
   (where skipped, with the first peer that ran, preferring one with the same border), the others
   with cnncore (with that oracle if cnncore failed). Pass if max|a - b| / max|b| <= 1e-4 *
   max(1, sqrt(K / 64)), K = terms in each output's sum (C/groups*kh*kw for a convolution, the
   window for pooling, 1 for an activation): float32 rounding grows with K, a wrong result is off
   by O(1). Outputs with different borders (OpenCV's reflect-101 against a zero-padded conv2d) are
   compared on the interior. A failure prints FAIL; the time is shown but never "best peer".
2. Time, round-robin (see time_round_robin): every implementation at every thread count in one
   rotation, so that the ratios and cnncore's speedups compare samples taken side by side; report
   the MEDIAN per-call time.

Reported per row: time (us for the tiny workloads) and its spread (half the interquartile range),
GFLOP/s = 2*MACs/time for convolutions (the direct method's MACs: cnncore's Winograd kernels for
3x3 and 5x5 layers do fewer, so their "% peak" can pass 100) or GB/s = (input + output bytes)/time
for memory-bound workloads, % of this machine's FMA peak or DRAM triad bandwidth at t threads (measured by peak.cpp),
cnncore / best peer (the fastest validated of torch, onnxruntime and opencv; scipy and the numpy
reference are shown for orientation only), and cnncore's speedup over 1 thread. Then the issue's
targets, each PASS or MISS.
"""
import argparse
import datetime
import fnmatch
import gc
import math
import os
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
    except Exception:  # not installed, or broken: that peer is skipped
        return None


torch, ort, cv2, onnx, scipy = map(_try_import, ["torch", "onnxruntime", "cv2", "onnx", "scipy"])
if scipy is not None:
    import scipy.ndimage
    import scipy.signal
if torch is not None:
    import torch.nn.functional as F

IMPLS = ["cnncore", "numpy ref", "torch", "onnxruntime", "opencv", "scipy"]
PEERS = ["torch", "onnxruntime", "opencv"]  # "best peer" is the fastest of these
SEED = 20240603
PEAK_SOURCE = "/work/shared/tools/peak.cpp"

# ----------------------------------------------------------------------------------------------
# Workloads (float32, channels first). "target": the line of the "Done when" a workload
# counts for; "big": the numpy reference is skipped with --quick; "tiny": timed in microseconds.


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def conv(name, x, w, *, stride=1, padding=0, groups=1, bias=False, bound="compute", target=None,
         big=False, tiny=False):
    nd = len(x) - 2
    stride, padding = (stride,) * nd, (padding,) * nd
    y = (x[0], w[0]) + tuple(_out(*a) for a in zip(x[2:], w[2:], stride, padding, strict=True))
    desc = (f"N={x[0]} {'x'.join(map(str, x[1:]))} -> {w[0]}, {'x'.join(map(str, w[2:]))}"
            + (f" stride {stride[0]}" if stride[0] > 1 else "")
            + (f" pad {padding[0]}" if padding[0] else "")
            + (f" groups {groups}" if groups > 1 else "") + (" +bias" if bias else ""))
    return dict(name=name, kind=f"conv{nd}d", x=x, w=w, y=y, stride=stride, padding=padding,
                groups=groups, bias=bias, K=math.prod(w[1:]),
                flops=2 * math.prod(y) * math.prod(w[1:]),  # 2 * MACs
                bytes=4 * (math.prod(x) + math.prod(y)), bound=bound, target=target, big=big,
                tiny=tiny, desc=desc)


def signal(name, length, taps):
    wl = conv(name, (1, 1, length), (1, 1, taps), padding=taps // 2, target="opencv")
    wl.update(kind="signal", desc=f"1-D signal, {length:,} samples, {taps} taps, 'same' (zeros)")
    return wl


KERNELS = {
    "sobel": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),
    "gauss": (np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256).astype(np.float32),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32),
}


def image_filter(name, image, kernel, big=False):
    """OpenCV-style filter of a channels-last image (reflect-101 border). The conv2d callers get a
    channels-first (C, 1, H, W) copy, made outside the timed region, and pad with zeros."""
    (kh, kw), c = KERNELS[kernel].shape, (image[2] if len(image) == 3 else 1)
    wl = conv(name, (c, 1) + image[:2], (1, 1, kh, kw), target="opencv", big=big)
    wl.update(kind="filter", image=image, kernel=kernel, padding=(kh // 2, kw // 2),
              y=wl["x"], flops=2 * math.prod(image) * kh * kw, bytes=8 * math.prod(image),
              desc=f"{'x'.join(map(str, image))} image, {kh}x{kw} {kernel}, reflect-101 border")
    return wl


def pool(name, kind, x, kernel, stride, padding):
    y = x[:2] + tuple(_out(i, kernel, stride, padding) for i in x[2:])
    return dict(name=name, kind=kind, x=x, y=y, pool=(kernel, stride, padding), K=kernel * kernel,
                flops=None, bytes=4 * (math.prod(x) + math.prod(y)), bound="memory",
                target="memory", big=False, tiny=False,
                desc=f"N={x[0]} {'x'.join(map(str, x[1:]))}, {kernel}x{kernel} stride {stride}"
                     + (f" pad {padding}" if padding else ""))


def activation(name, kind, x, target=None, tiny=False):
    return dict(name=name, kind=kind, x=x, y=x, K=1, flops=None, bytes=8 * math.prod(x),
                bound="memory", target=target, big=False, tiny=tiny, desc="x".join(map(str, x)))


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
    signal("signal", 1_000_000, 31),
    image_filter("sobel3x3", (2048, 2048), "sobel"),
    image_filter("gauss5x5", (2048, 2048), "gauss"),
    image_filter("sharpen_rgb", (2160, 3840, 3), "sharpen", big=True),
    pool("maxpool", "maxpool", ACT, 2, 2, 0),
    pool("avgpool", "avgpool", ACT, 3, 2, 1),
    activation("relu", "relu", ACT, target="relu"),
    activation("leaky_relu", "leaky_relu", ACT, target="relu"),
    activation("elu", "elu", ACT, target="elu"),
    conv("tiny_conv", (1, 1, 8, 8), (1, 1, 3, 3), padding=1, tiny=True, target="tiny"),
    activation("tiny_relu", "relu", (1, 1, 8, 8), tiny=True),
]
CONV_KINDS = ("conv1d", "conv2d", "signal", "filter")


def make_data(wl):
    """Seeded float32 data, the same whatever --only selects: channels-first x, w, b for the
    deep-learning calls; also the channels-last image and 2-D kernel of a filter, and the 1-D
    sig and taps of the signal."""
    rng = np.random.default_rng([SEED, zlib.crc32(wl["name"].encode())])
    d = {"b": None}
    if wl["kind"] == "filter":
        img = rng.random(wl["image"], dtype=np.float32)
        planes = np.moveaxis(img.reshape(img.shape[:2] + (-1,)), -1, 0)
        d.update(image=img, kernel=KERNELS[wl["kernel"]], w=KERNELS[wl["kernel"]][None, None],
                 x=np.ascontiguousarray(planes[:, None]))
        return d
    d["x"] = rng.standard_normal(wl["x"], dtype=np.float32)
    if "w" in wl:
        d["w"] = rng.standard_normal(wl["w"], dtype=np.float32)
        if wl["bias"]:
            d["b"] = rng.standard_normal(wl["w"][0], dtype=np.float32)
    if wl["kind"] == "signal":
        d.update(sig=d["x"].reshape(-1), taps=d["w"].reshape(-1))
    return d


def canonical(wl, d, y):
    """Outputs compared in one layout: channels-last image for filters, 1-D for the signal."""
    y = np.asarray(y)
    if wl["kind"] == "filter" and y.ndim == 4:  # (C, 1, H, W) from a channels-first conv2d
        y = np.moveaxis(y[:, 0], 0, -1).reshape(d["image"].shape)
    return y.reshape(-1) if wl["kind"] == "signal" else y


# ----------------------------------------------------------------------------------------------
# One builder per implementation: (workload, data, threads) -> (callable, border, note) or None.
# ``border`` matters for filters only: "reflect" (OpenCV's reflect-101) or "zeros".


def build_cnncore(wl, d, t, mod=cc):
    k = wl["kind"]
    if k == "filter":
        if hasattr(mod, "filter2d"):
            return (lambda: mod.filter2d(d["image"], d["kernel"], border="reflect")), "reflect", \
                "filter2d"
        return (lambda: mod.conv2d(d["x"], d["w"], padding=wl["padding"])), "zeros", \
            "conv2d fallback"
    if k == "signal":
        return (lambda: mod.correlate(d["sig"], d["taps"], "same")), "zeros", "correlate 'same'"
    if k in CONV_KINDS:
        fn = getattr(mod, k)
        return (lambda: fn(d["x"], d["w"], d["b"], stride=wl["stride"], padding=wl["padding"],
                           groups=wl["groups"])), "zeros", ""
    if k in ("maxpool", "avgpool"):
        fn = mod.max_pool2d if k == "maxpool" else mod.avg_pool2d
        return (lambda: fn(d["x"], *wl["pool"])), "", ""
    return (lambda: getattr(mod, k)(d["x"])), "", ""


def build_reference(wl, d, t):
    return build_cnncore(wl, d, t, mod=ref)


def build_torch(wl, d, t):
    if torch is None:
        return None
    x, k = torch.from_numpy(d["x"]), wl["kind"]
    if k in CONV_KINDS:
        fn, w = {3: F.conv1d, 4: F.conv2d}[x.ndim], torch.from_numpy(d["w"])
        b = None if d["b"] is None else torch.from_numpy(d["b"])
        return (lambda: fn(x, w, b, stride=wl["stride"], padding=wl["padding"],
                           groups=wl["groups"])), "zeros", "zero border" if k == "filter" else ""
    if k in ("maxpool", "avgpool"):
        fn = F.max_pool2d if k == "maxpool" else F.avg_pool2d
        return (lambda: fn(x, *wl["pool"])), "", ""
    return (lambda: getattr(F, k)(x)), "", ""


def onnx_model(wl, d):
    """A one-node ONNX graph of the workload, serialized; None without the onnx package."""
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
    sess, feed = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]), {"x": d["x"]}
    note = "zero border" if wl["kind"] == "filter" else ""
    return (lambda: sess.run(None, feed)[0]), "zeros", note


def build_opencv(wl, d, t):
    if cv2 is None:
        return None
    if wl["kind"] == "filter":  # default border: BORDER_REFLECT_101
        return (lambda: cv2.filter2D(d["image"], cv2.CV_32F, d["kernel"])), "reflect", ""
    if wl["kind"] == "signal":
        row, k = d["sig"].reshape(1, -1), d["taps"].reshape(1, -1)
        return (lambda: cv2.filter2D(row, cv2.CV_32F, k, borderType=cv2.BORDER_CONSTANT)), \
            "zeros", "filter2D on a 1xL row"
    model = onnx_model(wl, d) if wl["tiny"] and hasattr(cv2, "dnn") else None
    if model is None:
        return None
    net, x = cv2.dnn.readNetFromONNX(np.frombuffer(model, np.uint8)), d["x"]

    def forward():
        net.setInput(x)
        return net.forward().copy()  # forward() may hand back its own buffer
    return forward, "zeros", "cv2.dnn"


def build_scipy(wl, d, t):
    if scipy is None:
        return None
    if wl["kind"] == "filter":  # mode "mirror" is reflect-101
        k = d["kernel"] if d["image"].ndim == 2 else d["kernel"][:, :, None]
        return (lambda: scipy.ndimage.correlate(d["image"], k, mode="mirror")), "reflect", \
            "ndimage.correlate"
    if wl["kind"] == "signal":
        flipped = d["taps"][::-1].copy()
        return (lambda: scipy.signal.oaconvolve(d["sig"], flipped, "same")), "zeros", "oaconvolve"
    return None


BUILDERS = {"cnncore": build_cnncore, "numpy ref": build_reference, "torch": build_torch,
            "onnxruntime": build_onnxruntime, "opencv": build_opencv, "scipy": build_scipy}


def set_threads(t):
    cc.set_num_threads(t)
    if torch is not None:
        torch.set_num_threads(t)  # torch and cnncore may share one libgomp: same t for both
    if cv2 is not None:
        cv2.setNumThreads(t)
    assert cc.get_num_threads() == t, (cc.get_num_threads(), t)


# ----------------------------------------------------------------------------------------------
# Validation


def tolerance(wl):
    return 1e-4 * max(1.0, math.sqrt(wl["K"] / 64))


def compare(wl, a, b, border_a, border_b):
    """(max|a - b| / max|b|, where): on the interior if the two borders differ; inf if shapes do."""
    if a.shape != b.shape:
        return math.inf, f" shape {a.shape} != {b.shape}"
    where = ""
    if wl["kind"] == "filter" and border_a != border_b:
        rh, rw = wl["padding"]
        inner = (slice(rh, a.shape[0] - rh), slice(rw, a.shape[1] - rw))
        a, b, where = a[inner], b[inner], " interior"
    return float(np.max(np.abs(a - b))) / (float(np.max(np.abs(b))) or 1.0), where


def validate(wl, rows, outs):
    """Fill each row's "check" (see the module's docstring)."""
    tol, order = tolerance(wl), ["numpy ref"] + PEERS + ["scipy"]
    border = rows.get("cnncore", {}).get("border")
    same_border = [n for n in order if n in outs and rows[n]["border"] == border]
    oracle = next(iter(same_border + [n for n in order if n in outs]), None)
    truth = oracle
    if "cnncore" in outs:
        if oracle is None:
            rows["cnncore"]["check"], truth = "unchecked", "cnncore"
        else:
            err, where = compare(wl, outs["cnncore"], outs[oracle], border, rows[oracle]["border"])
            truth = "cnncore" if err <= tol else oracle
            rows["cnncore"]["check"] = f"{'ok' if err <= tol else 'FAIL'} {err:.0e} vs {oracle}"
            rows["cnncore"]["check"] += where
    for name in outs:
        if name == "cnncore" or name == truth:
            continue
        err, where = compare(wl, outs[name], outs[truth], rows[name]["border"],
                             rows[truth]["border"])
        rows[name]["check"] = f"{'ok' if err <= tol else 'FAIL'} {err:.0e}{where}"
    if truth != "cnncore" and truth is not None:
        rows[truth]["check"] = "oracle"


# ----------------------------------------------------------------------------------------------
# Timing

# How long a library's idle threads keep spinning after its call returns (measured on this
# machine through /proc/self/task/*/schedstat): libgomp (cnncore, torch) 5-10 ms, OpenCV ~2 ms,
# ONNX Runtime ~40 ms. Single-threaded numpy and scipy: none.
SPIN_TAIL = {"cnncore": 0.012, "torch": 0.012, "opencv": 0.004, "onnxruntime": 0.05}


def settle(previous):
    """Pause for the previous library's SPIN_TAIL, then until this process's threads are idle
    (under 10 % of a CPU over 5 ms; at most 0.25 s more): a spin longer than measured (another
    machine, another load) must not steal a core from the next callable's samples."""
    time.sleep(SPIN_TAIL.get(previous, 0.0))
    deadline = time.perf_counter() + 0.25
    while time.perf_counter() < deadline:
        c0, t0 = time.process_time(), time.perf_counter()  # CPU time of all our threads
        time.sleep(0.005)
        if time.process_time() - c0 < 0.1 * (time.perf_counter() - t0):
            return


def time_round_robin(fns, budget, min_reps, fixed_reps=None, max_reps=50, prepare=None):
    """{key: (median s/call, half the interquartile range / median, samples, calls per sample)}.

    Keys are (implementation, threads). Round-robin: one sample of each callable in turn, the
    first one rotating, so that the noise of a shared machine hits all alike, every library at
    every thread count (``prepare[key]()``, untimed, sets the threads before a key's turn). The
    previous library's idle threads would steal a core from the next one (see settle): each turn
    starts with a pause until they are idle, then, for calls under 5 ms, 2 ms of untimed calls to
    wake the core, the library's threads and the caches. A sample is one call, or for fast calls a run
    of them lasting ~30 ms (at most 1000 calls); the number of samples targets ``budget`` seconds
    per callable, within [min_reps, max_reps] (or fixed_reps)."""
    prepare = prepare or {}
    plan = {}
    for name, fn in fns.items():
        if name in prepare:
            prepare[name]()
        est = _timed(fn, 1)  # the validation call was the warm-up
        if est < 1e-3:
            est = min(_timed(fn, 20) for _ in range(3))
        inner = min(1000, max(1, round(0.03 / est)))
        reps = fixed_reps or min(max_reps, max(min_reps, math.ceil(budget / (est * inner))))
        plan[name] = (inner, reps, est < 5e-3)
    samples = {name: [] for name in fns}
    names, previous = list(fns), None
    gc.collect()
    gc.disable()
    try:
        for r in range(max((p[1] for p in plan.values()), default=0)):
            for name in names[r % len(names):] + names[:r % len(names)]:
                inner, reps, wake = plan[name]
                if len(samples[name]) >= reps:
                    continue
                if previous != name:
                    settle(previous and previous[0])
                    if name in prepare:
                        prepare[name]()
                warm_until = time.perf_counter() + 0.002
                while wake and time.perf_counter() < warm_until:
                    fns[name]()
                samples[name].append(_timed(fns[name], inner))
                previous = name
    finally:
        gc.enable()
    out = {}
    for name, s in samples.items():
        q1, med, q3 = np.percentile(s, [25, 50, 75])
        out[name] = (float(med), float((q3 - q1) / 2 / med), len(s), plan[name][0])
    return out


def _timed(fn, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def cpu_seconds():
    """(CPU seconds of the whole machine, steal included; of this process and its children): the
    difference over a measurement is what other processes took, the noise of a shared machine."""
    try:
        with open("/proc/stat") as f:
            user, nice, system, _, _, irq, softirq, steal = map(int, f.readline().split()[1:9])
        busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        busy = math.nan  # no /proc: the comparisons below are then always False
    return busy, sum(os.times()[:4])


WAITED = [0.0]  # seconds this run spent waiting for other processes to go quiet


def wait_quiet(args):
    """Wait (up to --max-wait s, and 6x that over the run) until others use < 0.15 CPUs."""
    t0 = time.perf_counter()
    while WAITED[0] < 6 * args.max_wait and time.perf_counter() - t0 < args.max_wait:
        (b0, o0), s0 = cpu_seconds(), time.perf_counter()
        time.sleep(0.5)
        (b1, o1), s1 = cpu_seconds(), time.perf_counter()
        if ((b1 - b0) - (o1 - o0)) / (s1 - s0) < 0.15:
            break
    WAITED[0] += time.perf_counter() - t0


def measure(fns, args, prepare=None):
    """time_round_robin after wait_quiet; if other processes used >= 0.25 CPUs meanwhile (and the
    run's waiting allowance is not spent), once more, keeping the quieter of the two.
    Returns (timings, CPUs used by other processes, seconds)."""
    best = None
    for _attempt in range(2):
        wait_quiet(args)
        (b0, o0), t0 = cpu_seconds(), time.perf_counter()
        timings = time_round_robin(fns, args.budget, args.min_reps, args.repeat, prepare=prepare)
        (b1, o1), wall = cpu_seconds(), time.perf_counter() - t0
        others = max(0.0, (b1 - b0) - (o1 - o0)) / wall
        if best is None or others < best[1]:
            best = (timings, others, wall)
        if not others >= 0.25 or WAITED[0] >= 6 * args.max_wait:
            break
    return best


def run_workload(wl, threads, args, log):
    """Validate and time every implementation at every thread count: {t: {impl: row}}."""
    d = make_data(wl)
    result = {t: {} for t in threads}
    # The numpy reference is single-threaded: called once, its output reused at every thread
    # count, timed with the first only, and only if one call fits args.ref_budget.
    refrow = dict(check="", note="", border="", out=None, fn=None)
    if args.quick and wl["big"]:
        refrow["note"] = "skipped (--quick)"
    else:
        try:
            fn, refrow["border"], _ = build_reference(wl, d, threads[0])
            t0 = time.perf_counter()
            refrow["out"] = canonical(wl, d, fn())
            call = time.perf_counter() - t0
            refrow["fn"] = fn if call <= args.ref_budget else None
            refrow["note"] = "" if refrow["fn"] else f"not timed: {call:.1f} s/call"
        except Exception as e:
            refrow.update(check="error", note=f"{type(e).__name__}: {e}"[:90])
    # Build and validate at each thread count, then time everything in ONE round robin: every
    # library at every thread count takes turns, so that the ratios at each count and the
    # speedups from 1 to 2 threads compare samples taken under the same load of a shared machine.
    fns, prepare = {}, {}
    for t in threads:
        set_threads(t)
        rows, outs = result[t], {}
        for name in IMPLS:
            if name == "numpy ref":
                rows[name] = {k: v for k, v in refrow.items() if k not in ("out", "fn")}
                if refrow["out"] is not None:
                    outs[name] = refrow["out"]
                if refrow["fn"] is not None and t == threads[0]:
                    fns[name, t] = refrow["fn"]
                    prepare[name, t] = (lambda u=t: set_threads(u))
                continue
            try:
                built = BUILDERS[name](wl, d, t)
                if built is None:
                    continue
                fn, border, note = built
                rows[name] = dict(check="", note=note, border=border)
                outs[name] = canonical(wl, d, fn())
                fns[name, t] = fn
                prepare[name, t] = (lambda u=t: set_threads(u))
            except Exception as e:
                rows.setdefault(name, dict(border="", note=""))
                msg = (str(e).strip().splitlines() or [""])[0][:80]
                rows[name].update(check="error", note=f"{type(e).__name__}: {msg}")
        validate(wl, rows, outs)
        del outs
    timings, others, wall = measure(fns, args, prepare)
    for (name, t), (median, spread, n, inner) in timings.items():
        result[t][name].update(time=median, spread=spread, samples=n, inner=inner)
    if ("numpy ref", threads[0]) in timings:
        refrow.update(time=result[threads[0]]["numpy ref"]["time"],
                      spread=result[threads[0]]["numpy ref"]["spread"])
        for t in threads:
            result[t]["numpy ref"].update(
                time=refrow["time"], spread=refrow["spread"],
                note=f"single-threaded: timed at {threads[0]} thread(s)")
    for t in threads:
        rows = result[t]
        if others >= 0.1 and "cnncore" in rows:
            rows["cnncore"]["note"] += f" [busy machine: others used {others:.1f} CPUs]"
        log(f"  t={t}: " + ", ".join(f"{n} {fmt_time(r['time'], wl)}" for n, r in rows.items()
                                       if "time" in r)
            + (f"  [{wall:.1f} s for all, others {others:.2f}]" if t == threads[-1] else ""))
    return result


# ----------------------------------------------------------------------------------------------
# The % of peak denominators


def measure_peaks(args, log):
    """({"gflops": {t: x}, "bw": {t: y}}, where they came from): the command line, else peak.cpp's
    PEAK_FMA_GFLOPS median and BW_GBS triad lines (run when quiet; once more if it was not)."""
    peaks, sources = {"gflops": {}, "bw": {}}, []
    for key, given in (("gflops", args.peak_gflops), ("bw", args.bandwidth_gbs)):
        if given:
            if len(given) not in (1, len(args.threads)):
                sys.exit(f"bench.py: give one value, or one per --threads entry, for --{key}")
            peaks[key] = {t: given[min(i, len(given) - 1)] for i, t in enumerate(args.threads)}
            sources.append(f"{key} from the command line")
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
    for _attempt in range(2):
        wait_quiet(args)
        (b0, o0), t0 = cpu_seconds(), time.perf_counter()
        try:
            out = subprocess.run([binary] + (["--reps", "7"] if args.quick else []),
                                 capture_output=True, text=True, timeout=300).stdout
        except (OSError, subprocess.SubprocessError) as e:
            return peaks, "; ".join(sources + [f"{binary} failed ({e}): % of peak omitted"])
        (b1, o1), wall = cpu_seconds(), time.perf_counter() - t0
        for key, pattern in (("gflops", r"PEAK_FMA_GFLOPS threads=(\d+) median=([\d.]+)"),
                             ("bw", r"BW_GBS threads=(\d+) copy=[\d.]+ triad=([\d.]+)")):
            for t, v in re.findall(pattern, out):
                if not (args.peak_gflops if key == "gflops" else args.bandwidth_gbs):
                    peaks[key][int(t)] = max(float(v), peaks[key].get(int(t), 0.0))
        if not ((b1 - b0) - (o1 - o0)) / wall >= 0.25 or args.max_wait <= 0:
            break
    sources.append(f"measured by {binary}: FMA median, triad bandwidth")
    one = peaks["gflops"].get(1)
    if one and any(g < 0.85 * t * one for t, g in peaks["gflops"].items()):
        sources.append("WARNING: the FMA peak does not scale with threads, the machine was busy")
    return peaks, "; ".join(sources)


# ----------------------------------------------------------------------------------------------
# Report


def fmt_time(s, wl):
    return f"{s * 1e6:.2f} us" if wl["tiny"] else f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.2f} s"


def ratio(res, wl, t, peers=PEERS):
    """(cnncore time / the best validated time among ``peers``, that peer), or (None, None)."""
    rows = res[wl["name"]][t]
    c = rows.get("cnncore", {})
    ok = {n: r["time"] for n, r in rows.items() if n in peers and "time" in r
          and r["check"].startswith("ok")}
    if not ok or "time" not in c or not c["check"].startswith(("ok", "unchecked")):
        return None, None
    best = min(ok, key=ok.get)
    return c["time"] / ok[best], best


def speedup(res, wl, t, threads, name="cnncore"):
    """An implementation's time at the fewest threads / at t."""
    a, b = (res[wl["name"]][u].get(name, {}).get("time") for u in (min(threads), t))
    return a / b if a and b and t != min(threads) else None


def table(res, workloads, t, threads, peaks):
    head = ["workload", "impl", "time", "±", "rate", "% peak", "cnncore / best peer",
            f"speedup vs {min(threads)}T", "check", "note"]
    lines = []
    for wl in workloads:
        r, best = ratio(res, wl, t)
        for i, (name, row) in enumerate(res[wl["name"]][t].items()):
            tm, rate, pct = row.get("time"), "", ""
            if tm and not wl["tiny"]:
                compute = wl["bound"] == "compute"
                value = (wl["flops"] if compute else wl["bytes"]) / tm / 1e9
                peak = peaks["gflops" if compute else "bw"].get(t)
                rate = f"{value:.1f} {'GFLOP/s' if compute else 'GB/s'}"
                pct = f"{100 * value / peak:.0f}%" if peak else ""
            ratio_s = sp = ""
            note = row.get("note", "") + (" (best peer)" if name == best else "")
            if name == "cnncore":
                ratio_s = f"{r:.2f} ({best})" if r else "n/a"
                s = speedup(res, wl, t, threads)
                sp = f"{s:.2f}" if s else ""
                peer_sp = [speedup(res, wl, t, threads, n) for n in PEERS]
                peer_sp = max((x for x in peer_sp if x), default=None)
                if peer_sp and wl["bound"] == "compute" and not wl["tiny"] and peer_sp < 1.3:
                    # a dense convolution every peer ran no faster at t threads: the host took a
                    # core (a VM's steal is not always visible in /proc/stat)
                    note += f" [peers only {peer_sp:.2f}x faster than at {min(threads)}T either]"
            lines.append([wl["name"] if i == 0 else "", name, fmt_time(tm, wl) if tm else "-",
                          f"{100 * row['spread']:.0f}%" if tm else "", rate, pct, ratio_s, sp,
                          row.get("check", ""), note.strip()])
    return head, lines


def format_text(head, lines):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]

    def fmt(row):
        return "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(row) for row in lines])


def format_md(head, lines):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(out + ["| " + " | ".join(str(x) for x in row) + " |" for row in lines])


TARGETS = [  # (label, workloads' target tag, limit, statistic): the issue's "Done when"
    ("dense, geometric mean of the ratios", "dense", 1.0, "geomean"),
    ("dense, each ratio", "dense", 1.25, "max"),
    ("lecture conv1 ratio", "lecture1", 0.8, "max"),
    ("depthwise, max pool, avg pool ratios", "memory", 0.6, "max"),
    ("relu, leaky_relu ratios", "relu", 1.0, "max"),
    ("elu ratio", "elu", 0.4, "max"),
    ("filters and signal, cnncore / OpenCV", "opencv", 1.0, "max"),
    ("dense, each speedup over 1 thread", "dense", 1.8, "speedup"),
    ("tiny conv, cnncore time in us", "tiny", 3.0, "time"),
]


def summary(res, workloads, threads):
    out = ["Targets of issue 3 (ratio = cnncore median time / the best of torch, onnxruntime and "
           "opencv at the same thread count; scipy and the numpy reference are not peers):"]
    for label, tag, limit, how in TARGETS:
        wls = [wl for wl in workloads if wl["target"] == tag]
        counts = [t for t in threads if t != min(threads)] if how == "speedup" else threads
        if not wls or not counts:
            continue
        cells, verdicts = [], []
        for t in counts:
            if how == "speedup":
                vals = {wl["name"]: speedup(res, wl, t, threads) for wl in wls}
            elif how == "time":
                vals = {wl["name"]: res[wl["name"]][t].get("cnncore", {}).get("time")
                        for wl in wls}
                vals = {k: v and v * 1e6 for k, v in vals.items()}
            else:
                vals = {wl["name"]: ratio(res, wl, t, ["opencv"] if tag == "opencv" else PEERS)[0]
                        for wl in wls}
            where = f"{t}T" if how != "speedup" else f"{t}T/{min(threads)}T"
            broken = [wl["name"] for wl in wls if not res[wl["name"]][t].get("cnncore", {})
                      .get("check", "").startswith(("ok", "unchecked"))]
            if broken:  # a wrong or failing cnncore meets no target
                cells.append(f"{where}: MISS (cnncore failed: {', '.join(broken)})")
                verdicts.append(False)
                continue
            if None in vals.values():
                cells.append(f"{where}: n/a ({', '.join(k for k, v in vals.items() if v is None)})")
                verdicts.append(None)
                continue
            if how == "geomean":
                who, v = "", math.exp(sum(map(math.log, vals.values())) / len(vals))
            else:
                who = (min if how == "speedup" else max)(vals, key=vals.get)
                v = vals[who]
            ok = v >= limit if how == "speedup" else v <= limit
            verdicts.append(ok)
            cells.append(f"{where} {v:.2f}{f' ({who})' if who and len(vals) > 1 else ''} "
                         f"{'PASS' if ok else 'MISS'}")
        verdict = "MISS" if False in verdicts else "n/a" if None in verdicts else "PASS"
        sign = ">=" if how == "speedup" else "<="
        out.append(f"  {verdict:4}  {label} {sign} {limit}:  " + ";  ".join(cells))
    return "\n".join(out)


def versions():
    v = {"cnncore": getattr(cc, "__version__", "?"), "numpy": np.__version__}
    for name, mod in (("torch", torch), ("onnxruntime", ort), ("onnx", onnx), ("opencv", cv2),
                      ("scipy", scipy)):
        if mod is not None:
            v[name] = mod.__version__
    return v


def build_info():
    """Which cnncore was measured: its core module's build time, and this checkout's commit."""
    core = getattr(cc, "_core", None)
    built = "?"
    if core is not None and getattr(core, "__file__", None):
        built = datetime.datetime.fromtimestamp(os.path.getmtime(core.__file__))
        built = built.isoformat(sep=" ", timespec="minutes")
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        git = ["git", "-C", here]
        head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        head = f"{head}{' + uncommitted changes' if dirty else ''}" if head else "?"
    except (OSError, subprocess.SubprocessError):
        head = "?"
    return f"cnncore core module built {built}; source checkout at {head}"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (1 2)")
    p.add_argument("--repeat", type=int, help="samples per measurement (default: ~0.6 s, >= 5)")
    p.add_argument("--only", help="comma-separated workload names or globs, e.g. 'resnet*,elu'")
    p.add_argument("--quick", action="store_true",
                   help="fewer samples, no waiting for quiet, no reference on big workloads")
    p.add_argument("--markdown", metavar="OUT.md", help="also write the tables as markdown")
    p.add_argument("--peak-gflops", type=float, nargs="+",
                   help="FMA peak GFLOP/s: one value, or one per --threads entry")
    p.add_argument("--bandwidth-gbs", type=float, nargs="+", help="DRAM GB/s, the same way")
    p.add_argument("--peak-binary", default="/tmp/peak", help="a built peak.cpp (/tmp/peak)")
    p.add_argument("--peak-source", default=PEAK_SOURCE, help="else build this peak.cpp")
    p.add_argument("--max-wait", type=float, help="seconds to wait for other processes to go "
                   "quiet before a measurement (10; 0 with --quick: never wait nor re-measure)")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = p.parse_args(argv)
    args.budget, args.min_reps = (0.12, 3) if args.quick else (0.6, 5)
    args.ref_budget = 0.3 if args.quick else 2.0
    if args.max_wait is None:
        args.max_wait = 0.0 if args.quick else 10.0
    if args.list:
        print("\n".join(f"{wl['name']:14} {wl['desc']}" for wl in WORKLOADS))
        return 0
    workloads = WORKLOADS
    if args.only:
        pats = [s.strip() for s in args.only.split(",") if s.strip()]
        workloads = [wl for wl in WORKLOADS if any(fnmatch.fnmatch(wl["name"], q) for q in pats)]
        if not workloads:
            sys.exit(f"bench.py: no workload matches --only {args.only!r} (see --list)")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    started, build = time.perf_counter(), build_info()  # before a re-install can change it
    command = "python " + " ".join(map(shlex.quote, [sys.argv[0]] + (argv or sys.argv[1:])))
    vers = versions()
    names = ("torch", "onnxruntime", "opencv", "scipy")
    missing = [n for n in names if n not in vers]
    print("peers found: " + ", ".join(f"{n} {vers[n]}" for n in names if n in vers)
          + (f"; not importable, skipped: {', '.join(missing)}" if missing else ""))
    if ort is not None and onnx is None:
        print("onnxruntime and cv2.dnn skipped: their graphs need `pip install onnx`")
    print("cnncore.filter2d " + ("present" if hasattr(cc, "filter2d") else
                                 "absent: filters use conv2d (zero border, interior validated)"))
    peaks, peak_source = measure_peaks(args, log)
    peak_text = {t: f"FMA peak {peaks['gflops'].get(t, 'n/a')} GFLOP/s, DRAM (triad) "
                    f"{peaks['bw'].get(t, 'n/a')} GB/s" for t in args.threads}
    print("; ".join(f"{t} thread(s): {peak_text[t]}" for t in args.threads) + f" ({peak_source})")

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
        title = f"{t} thread{'s' if t > 1 else ''}"
        text.append(f"\n== {title} ({peak_text[t]}) ==\n" + format_text(head, lines))
        md.append(f"\n## {title}\n\n{peak_text[t]}.\n\n" + format_md(head, lines))
    summ = summary(res, workloads, args.threads)
    total = f"total {elapsed:.0f} s, {WAITED[0]:.0f} s of it waiting for a quiet machine"
    print("\n".join(text) + "\n\n" + summ + f"\n\n{total}")
    if args.markdown:
        config = cc.show_config(print_out=False) if hasattr(cc, "show_config") else {}
        header = [
            "# cnncore benchmark", "",
            f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
            f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; cnncore SIMD in use: "
            f"{config.get('simd_in_use', '?')}",
            "- peaks: " + "; ".join(f"{t} thread(s): {peak_text[t]}" for t in args.threads)
            + f" ({peak_source})",
            "- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
            f"- build: {build}",
            f"- command: `{command}` ({total})", "",
            "Median per-call times; the implementations are timed round-robin in one process on "
            "the same data; `±` is half the interquartile range of the samples. `cnncore / best "
            "peer` divides by the fastest of torch, onnxruntime and opencv that passed validation "
            "(scipy and the numpy reference are listed but are not peers). GFLOP/s = 2*MACs/time, "
            "counting the direct method's MACs (cnncore's Winograd kernels, on the 3x3 and 5x5 "
            "layers, do fewer: their % of peak can pass 100); GB/s = (input + output bytes)/time; % peak: of the FMA peak or the triad bandwidth at "
            "that thread count. `check`: max abs difference / max abs output, against cnncore "
            "(cnncore: against the implementation named). Rows noted `busy machine` were timed "
            "while other processes used that many CPUs.", "",
            "## Workloads", "", "| workload | shape | GFLOP | MB in+out |", "|---|---|---|---|"]
        header += [f"| {wl['name']} | {wl['desc']} | {(wl['flops'] or 0) / 1e9:.3g} | "
                   f"{wl['bytes'] / 1e6:.3g} |" for wl in workloads]
        with open(args.markdown, "w") as f:
            f.write("\n".join(header) + "\n" + "\n".join(md)
                    + f"\n\n## Targets\n\n```\n{summ}\n```\n")
        print(f"markdown written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
