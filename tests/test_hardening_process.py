"""Processes and signals: after cnncore has run with two threads, multiprocessing children started
with 'fork', 'spawn' and 'forkserver' can call it (without hanging: tested with a timeout); a long
op interrupted by SIGINT raises KeyboardInterrupt within 0.5 s, and the next call works. Each runs
in a child process (tests/subproc.py), so that a hang or a signal cannot wedge pytest."""

from __future__ import annotations

import multiprocessing
import sys

import pytest

from subproc import run_script

CHILD_TIMEOUT = 10  # seconds for the grandchild's answer: its work takes about one, under load

START_CHILD = r'''
import multiprocessing as mp
import os
import queue
import sys
import time

import numpy as np

import cnncore as cc
from cnncore import nn


def inputs():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 16, 64, 64)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    digits = rng.random((16, 28, 28), dtype=np.float32)
    return x, w, digits


def work():
    """Ops that each use two OpenMP threads: the dense kernel, the direct kernel (float64),
    pooling, and the model run with its batch split across threads."""
    x, w, digits = inputs()
    return dict(
        gemm=cc.conv2d(x, w, padding=1),
        direct=cc.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1),
        pool=cc.max_pool2d(x, 3, 1, 1),
        predict=nn.lecture_model().predict(digits),
    )


def child(q, method):
    try:
        if method == "fork":
            threads = cc.get_num_threads()  # inherited from the parent
        else:
            cc.set_num_threads(2)           # a fresh process: ask for the parent's two
            threads = 2
        out = work()
        q.put(("ok", threads, {k: v.tobytes() for k, v in out.items()}))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent
        q.put(("error", repr(exc), {}))


if __name__ == "__main__":
    method, timeout = sys.argv[1], float(sys.argv[2])
    cc.set_num_threads(2)
    want = {k: v.tobytes() for k, v in work().items()}
    parent_threads = len(os.listdir("/proc/self/task"))  # OpenMP workers now exist
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q, method))
    t0 = time.perf_counter()
    p.start()
    try:
        status, detail, got = q.get(timeout=timeout)
    except queue.Empty:
        status, detail, got = "timeout", f"no answer within {timeout} s", {}
        p.kill()
    p.join(10)
    if p.is_alive():
        p.kill()
        p.join()
    report(dict(status=status, detail=detail, seconds=time.perf_counter() - t0,
                parent_threads=parent_threads, exitcode=p.exitcode,
                same={k: got.get(k) == v for k, v in want.items()}))
'''



@pytest.mark.skipif(sys.platform != "linux", reason="the start methods and /proc are Linux's")
@pytest.mark.parametrize("method", [
    "fork",
    "spawn",
    "forkserver",
])
def test_child_process_after_two_threads(tmp_path, method):
    assert method in multiprocessing.get_all_start_methods()
    res = run_script(tmp_path, START_CHILD, timeout=CHILD_TIMEOUT + 60,
                     args=[method, CHILD_TIMEOUT])
    assert res["parent_threads"] >= 2, res  # the parent really ran an OpenMP team
    assert res["status"] == "ok", res
    # A 'fork' child of a parent that ran an OpenMP team runs serially: GNU OpenMP's pool does
    # not survive fork() (the child would hang), so cnncore reports and uses one thread there.
    assert res["detail"] == (1 if method == "fork" else 2), res
    assert all(res["same"].values()), res
    assert res["exitcode"] == 0, res


# ----------------------------------------------------------------------------------------------
# Ctrl-C


SIGINT_CHILD = r'''
import os
import signal
import sys
import threading
import time

import numpy as np

import cnncore as cc
from cnncore import nn, reference

case, delay = sys.argv[1], float(sys.argv[2])
rng = np.random.default_rng(3)
cc.set_num_threads(2)

if case == "conv2d-direct":      # float64: the direct kernel, about 6 s on two threads
    x = rng.standard_normal((1, 64, 576, 576))
    w = rng.standard_normal((64, 64, 3, 3))
    op = lambda: cc.conv2d(x, w, padding=1)
elif case == "conv2d-gemm":      # float32: the dense kernel, about 5 s
    x = rng.standard_normal((8, 64, 320, 320), dtype=np.float32)
    w = rng.standard_normal((64, 64, 7, 7), dtype=np.float32)
    op = lambda: cc.conv2d(x, w, padding=3)
elif case == "max_pool1d":       # a 4096-wide window at stride 1, about 5 s
    x = rng.standard_normal((1, 1, 2**23), dtype=np.float32)
    op = lambda: cc.max_pool1d(x, 4096, stride=1)
elif case == "predict":          # the compiled model, one batch, about 5 s
    model = nn.Sequential([nn.Input((64, 16, 16))] + [
        nn.Conv2D(64, 5, padding="same", activation="relu") for _ in range(4)] + [
        nn.Dense(10)], seed=0)
    x = rng.standard_normal((2000, 64, 16, 16), dtype=np.float32)
    op = lambda: model.predict(x, batch_size=len(x))
elif case == "elu":              # 2**28 float64 exponentials (2 GiB in, 2 GiB out), one thread
    cc.set_num_threads(1)
    x = -rng.random(2**28)
    op = lambda: cc.elu(x)
else:
    raise SystemExit(f"unknown case {case}")

sent = {}


def interrupt():
    time.sleep(delay)
    sent["t"] = time.perf_counter()
    os.kill(os.getpid(), signal.SIGINT)


returned = False
t_interrupt = None
t0 = time.perf_counter()
try:
    threading.Thread(target=interrupt, daemon=True).start()
    op()
    returned = True
    op_end = time.perf_counter()
    time.sleep(delay + 1.0)  # a KeyboardInterrupt after the op returned lands here
except KeyboardInterrupt:
    t_interrupt = time.perf_counter()
    if not returned:
        op_end = t_interrupt
outcome = "completed" if returned else "interrupted"

# The next call works and is right: a small call on the same path, and a plain one.
xs = rng.standard_normal((1, 8, 12, 12))
ws = rng.standard_normal((16, 8, 3, 3))
ok = bool(np.allclose(cc.conv2d(xs, ws, padding=1), reference.conv2d(xs, ws, padding=1),
                      rtol=1e-12, atol=1e-12))
ok &= bool(np.allclose(cc.conv2d(xs.astype(np.float32), ws.astype(np.float32), padding=1),
                       reference.conv2d(xs, ws, padding=1), rtol=1e-4, atol=1e-4))
ok &= bool(np.array_equal(cc.max_pool1d(xs[0], 3, 1, 1), reference.max_pool1d(xs[0], 3, 1, 1)))
ok &= cc.elu(np.array([-np.inf, 0.0, 2.0])).tolist() == [-1.0, 0.0, 2.0]
report(dict(outcome=outcome, op_seconds=op_end - t0, signal_at=sent.get("t", t0) - t0,
            latency=None if t_interrupt is None else t_interrupt - sent["t"], next_call_ok=ok))
'''



def _interrupt(tmp_path, case):
    res = run_script(tmp_path, SIGINT_CHILD, timeout=180, args=[case, 0.5])
    assert res["next_call_ok"], res
    assert res["outcome"] == "interrupted", res
    assert res["op_seconds"] >= 0.5, res
    assert res["latency"] < 0.5, res


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("case", ["conv2d-direct", "conv2d-gemm", "max_pool1d", "predict"])
def test_sigint_interrupts_a_long_op_within_half_a_second(tmp_path, case):
    _interrupt(tmp_path, case)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_interrupts_a_long_elu(tmp_path):
    _interrupt(tmp_path, "elu")
