"""Run a Python script in a child process: for what must not wedge or pollute the test process
(resource limits, signals, fork, environment variables read at import, huge allocations).

The child reports by printing one line ``RESULT <json>``; :func:`run_script` returns that object.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

# Shared by the child scripts: resident and peak memory from /proc (psutil is not a dependency).
PROC_HELPERS = '''
import json as _json

def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)

def reset_peak():
    """Make VmHWM restart from the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

def report(obj):
    print("RESULT " + _json.dumps(obj), flush=True)

import os as _os
PAGE = _os.sysconf("SC_PAGE_SIZE")
'''


def run_script(tmp_path, code, *, timeout, env=None, args=(), name="child.py", check=True):
    """Run ``code`` (dedented, with PROC_HELPERS prepended) as a script; return its RESULT object.

    The child runs in its own session: on timeout the whole group (the child and anything it
    started) is killed and the test fails with what the child printed so far. With ``check``, a
    child that exits non-zero or reports nothing fails the test, showing its stderr.
    """
    path = tmp_path / name
    path.write_text(PROC_HELPERS + "\n" + textwrap.dedent(code))
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen([sys.executable, str(path), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{name}: no answer within {timeout} s (killed); stdout:\n{out}\nstderr:\n{err}")
    results = [line[len("RESULT "):] for line in out.splitlines() if line.startswith("RESULT ")]
    if check and (proc.returncode != 0 or not results):
        pytest.fail(f"{name}: exit status {proc.returncode}; stdout:\n{out}\nstderr:\n{err}")
    return json.loads(results[-1]) if results else None
