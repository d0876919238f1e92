"""Throughput of the lecture's network: cnncore against PyTorch eager and ONNX Runtime.

The same network with the same trained weights (``cnncore.nn.lecture_model()``) runs in three
engines, in the same process and the same run:

* cnncore: ``model.predict(x, batch_size=batch)``;
* PyTorch eager: the equivalent ``torch.nn.Sequential`` with the weights copied in, under
  ``torch.inference_mode()``;
* ONNX Runtime: that PyTorch model exported with ``torch.onnx.export`` (TorchScript exporter,
  dynamic batch) into a temporary folder, run by a CPU ``InferenceSession``.

Before anything is timed, every engine's output on 64 held-out digits is checked against
cnncore's (probabilities within 1e-4, same classes). Each measurement is the median of repeated
runs (one run: one call on ``batch`` images; at batch 1, 32 calls in a row), the engines taking
turns run by run so that a shared machine's changing load hits them alike, at
1 and 2 threads (``cnncore.set_num_threads``, ``torch.set_num_threads``, ORT
``intra_op_num_threads``). The output is a markdown table of images per second and the ratios
cnncore/ORT and cnncore/PyTorch (above 1: cnncore is faster). ::

    python benchmarks/bench_model.py [--repeats 9] [--threads 1,2] [--batches 1,64,1024]

PyTorch and ONNX Runtime (and ``onnx``, which the exporter needs) are optional: a missing one's
columns say so.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

import cnncore as cc
from cnncore import nn

BATCH1_CALLS = 32  # calls in one run at batch 1


def torch_model(torch, model):
    """The lecture's network in PyTorch, with ``model``'s weights."""
    tnn = torch.nn
    net = tnn.Sequential(
        tnn.Conv2d(1, 16, 5, padding="same"), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 5, padding="same"), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(32 * 7 * 7, 100), tnn.ReLU(), tnn.Linear(100, 10),
        tnn.Softmax(dim=1),
    ).eval()
    weights = list(model.get_weights().values())  # CONV1, CONV2, FC3, FC4: weight, bias each
    net.load_state_dict({k: torch.from_numpy(w) for k, w in zip(net.state_dict(), weights)})
    return net


def onnx_session_factory(torch, net, folder):
    """A function of the thread count returning an ORT session of ``net`` (None if impossible)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime is not installed"
    path = os.path.join(folder, "lecture.onnx")
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, torch.zeros(1, 1, 28, 28), path, dynamo=False,
                              input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    except Exception as exc:  # the exporter needs the onnx package, among others
        return None, f"torch.onnx.export failed ({type(exc).__name__}: {exc})"

    def make(threads):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    return make, f"onnxruntime {ort.__version__}"


def timed_together(runners, x, batch, repeats):
    """Images per second of each engine: the median over ``repeats`` runs of one call on a batch
    of ``x`` (at batch 1, BATCH1_CALLS calls on different images).

    The engines take turns, one run each per round (the order rotating from round to round), so
    that a change in the load of a shared machine hits every engine alike instead of whichever
    one was being measured then."""
    chunk = x[:batch]
    calls = BATCH1_CALLS if batch == 1 else 1
    singles = [np.ascontiguousarray(x[i:i + 1]) for i in range(calls)] if batch == 1 else [chunk]
    names = list(runners)
    for fn in runners.values():  # warm-up
        for item in singles[:2]:
            fn(item)
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn = runners[name]
            # Other libraries' worker threads keep spinning for a while after their last call
            # (ONNX Runtime's for ~40 ms, OpenMP's for a few ms) and would compete with this
            # engine's threads: let them go to sleep first. Then untimed runs for 30 ms or more
            # bring this engine's own threads and cores back up to speed (the first calls after
            # an idle pause are slow on this machine, for every engine: cnncore's first call at
            # batch 64 on two threads runs at 18,000 images/s, the fourth at 33,000), and the
            # timed run measures the steady state a caller in a loop sees.
            time.sleep(0.06)
            warm_until = time.perf_counter() + 0.03
            while True:
                for item in singles:
                    fn(item)
                if time.perf_counter() >= warm_until:
                    break
            t0 = time.perf_counter()
            for item in singles:
                fn(item)
            times[name].append(time.perf_counter() - t0)
    return {name: batch * len(singles) / statistics.median(t) for name, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batches", default="1,64,1024")
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batches.split(",")]

    model = nn.lecture_model()
    images, _ = nn.load_digits()
    x = (np.resize(images, (max(batches + [64]),) + images.shape[1:]).astype(np.float32) / 255)
    x = x[:, None]  # (N, 1, 28, 28)
    reference = model.predict(x[:64])

    engines = {"cnncore": lambda t: (lambda a: model.predict(a, batch_size=len(a)))}
    notes = [f"cnncore {cc.__version__} (SIMD {cc.show_config(print_out=False)['simd_in_use']})"]
    try:
        import torch
    except ImportError:
        torch = None
        notes.append("PyTorch: not installed")
    folder = tempfile.TemporaryDirectory()
    if torch is not None:
        net = torch_model(torch, model)

        def torch_engine(t):
            def run(a):
                with torch.inference_mode():
                    return net(torch.from_numpy(a)).numpy()
            return run

        engines["PyTorch"] = torch_engine
        notes.append(f"PyTorch {torch.__version__} eager")
        make_session, note = onnx_session_factory(torch, net, folder.name)
        notes.append(note)
        if make_session is not None:
            sessions = {}

            def ort_engine(t):
                sessions[t] = sessions.get(t) or make_session(t)
                return lambda a: sessions[t].run(None, {"x": a})[0]

            engines["ORT"] = ort_engine

    # Validate every engine against cnncore before timing anything.
    for name, make in engines.items():
        got = np.asarray(make(1)(np.ascontiguousarray(x[:64])))
        diff = float(np.abs(got - reference).max())
        if diff > 1e-4 or not (got.argmax(1) == reference.argmax(1)).all():
            sys.exit(f"bench_model: {name} disagrees with cnncore (max difference {diff:.2e})")
        print(f"validated {name}: max |difference| from cnncore {diff:.1e}", file=sys.stderr)

    rows = []
    for t in threads:
        cc.set_num_threads(t)
        if torch is not None:
            torch.set_num_threads(t)
        runners = {name: make(t) for name, make in engines.items()}
        for batch in batches:
            rates = timed_together(runners, x, batch, args.repeats)
            rows.append((t, batch, rates))
            print(f"threads {t}, batch {batch}: " + ", ".join(
                f"{k} {v:,.0f}/s" for k, v in rates.items()), file=sys.stderr)
    folder.cleanup()

    cpu = platform.processor() or platform.machine()
    print(f"Lecture model (171,158 parameters, 2.98 M MACs per image), images per second, "
          f"median of {args.repeats} runs; {os.cpu_count()} logical CPUs ({cpu}); "
          + "; ".join(notes) + ".\n")
    names = list(engines)
    header = ["threads", "batch"] + [f"{n} img/s" for n in names]
    header += [f"cnncore/{n}" for n in ("ORT", "PyTorch") if n in engines]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")
    for t, batch, rates in rows:
        cells = [str(t), str(batch)] + [f"{rates[n]:,.0f}" for n in names]
        cells += [f"{rates['cnncore'] / rates[n]:.2f}x" for n in ("ORT", "PyTorch") if n in engines]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
