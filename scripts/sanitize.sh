#!/usr/bin/env bash
# Build cnncore with AddressSanitizer + UndefinedBehaviorSanitizer (CMake option CNNCORE_SANITIZE)
# and run, under them, the C++ core's own test and the Python test suite. Fails on any test
# failure and on any sanitizer report. See docs/HARDENING.md.
#
#   scripts/sanitize.sh                    # the whole suite
#   scripts/sanitize.sh tests/test_sweep_conv.py -k groups    # any pytest arguments: a subset
#   scripts/sanitize.sh --build-only       # only (re)build the sanitized package (scripts/fuzz.sh)
#
# Everything goes under build/sanitize/ (SANITIZE_DIR): the core test's build (core/), the
# extension's build (py/), a virtual environment with the sanitized package (venv/), and the
# sanitizers' reports (logs/). Linux + GCC (the runtime libraries are found with
# `c++ -print-file-name`). PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_ONLY=0
if [[ ${1:-} == --build-only ]]; then
  BUILD_ONLY=1
  shift
fi
PY=${PYTHON:-python3}
PY=$("$PY" -c 'import sys; print(sys.executable)')  # the interpreter, not a wrapper script (pyenv)
CXX_BIN=${CXX:-c++}
DIR=${SANITIZE_DIR:-build/sanitize}
JOBS=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
export CMAKE_BUILD_PARALLEL_LEVEL=$JOBS
LOGS=$DIR/logs
t_start=$SECONDS

if [[ $("$CXX_BIN" --version 2>/dev/null || true) != *"Free Software Foundation"* ]]; then
  echo "sanitize.sh: needs GCC (CXX=$CXX_BIN is not GCC)" >&2
  exit 2
fi
ASAN_LIB=$("$CXX_BIN" -print-file-name=libasan.so)
STDCXX_LIB=$("$CXX_BIN" -print-file-name=libstdc++.so)
for lib in "$ASAN_LIB" "$STDCXX_LIB"; do
  [[ -e $lib ]] || { echo "sanitize.sh: $lib not found (install libasan / libstdc++ for $CXX_BIN)" >&2; exit 2; }
done

# The interpreter is not built with ASan, so the runtime is preloaded, with libstdc++ next to it
# (ASan's __cxa_throw interceptor must find the real one when it starts). Leak detection is off:
# CPython keeps its interned objects and caches until exit. log_path keeps every report in a file
# (and subprocesses report too). UBSan ignores log_path here (GCC's libubsan keeps its own copy
# of the common flags): its reports go to stderr, which pytest is told not to capture
# (--capture=sys), and the logs are searched for them.
((BUILD_ONLY)) || rm -rf "$LOGS"
mkdir -p "$LOGS"
LOGS_ABS=$(cd "$LOGS" && pwd)
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:max_malloc_fill_size=268435456:log_path=$LOGS_ABS/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$LOGS_ABS/ubsan"
PRELOAD="$ASAN_LIB $STDCXX_LIB"

reports() {  # every report file, and report lines in the given logs
  local found=0 f
  for f in "$LOGS"/asan.* "$LOGS"/ubsan.*; do
    [[ -e $f ]] || continue
    found=1
    echo "==== sanitizer report $f"
    cat "$f"
  done
  if (($#)) && grep -n -e "ERROR: AddressSanitizer" -e "runtime error:" -e "ERROR: LeakSanitizer" "$@"; then
    found=1
  fi
  return $((1 - found))
}

# ---- 0. the setup itself catches errors: a heap overflow and a signed overflow must be reported
if ((!BUILD_ONLY)); then
echo "== sanitize: canary (the runtime and options catch a heap overflow and a signed overflow)"
CANARY=$DIR/canary
mkdir -p "$CANARY"
cat > "$CANARY/canary.cpp" <<'EOF'
#include <cstdlib>
extern "C" int heap_overflow(int i) {
  int* a = static_cast<int*>(std::malloc(4 * sizeof(int)));
  a[i] = 1;  // i = 4: one past the end
  int v = a[0];
  std::free(a);
  return v;
}
extern "C" int int_overflow(int i) { return i + 2147483647; }  // i = 1: signed overflow
EOF
"$CXX_BIN" -shared -fPIC -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -o "$CANARY/libcanary.so" "$CANARY/canary.cpp"
for call in "heap_overflow(4)" "int_overflow(1)"; do
  fn=${call%%(*}
  if LD_PRELOAD="$PRELOAD" "$PY" -c "import ctypes, sys; ctypes.CDLL(sys.argv[1]).$call" \
       "$CANARY/libcanary.so" 2>"$CANARY/$fn.txt"; then
    echo "sanitize.sh: the canary $fn ran without being stopped: the sanitizers are not working" >&2
    exit 1
  fi
  if ! reports "$CANARY/$fn.txt" >/dev/null; then
    echo "sanitize.sh: the canary $fn left no report in $LOGS: reports would go unseen" >&2
    exit 1
  fi
  rm -f "$LOGS"/asan.* "$LOGS"/ubsan.*
done
echo "   caught both"

# ---- 1. the C++ core's own test, no Python --------------------------------------------------
echo "== sanitize: C++ core test (ASan + UBSan, leak detection on)"
t0=$SECONDS
cmake -S . -B "$DIR/core" -DCNNCORE_BUILD_CORE_TESTS=ON -DCNNCORE_SANITIZE=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$DIR/core" -j "$JOBS" >/dev/null
set +e
ASAN_OPTIONS="${ASAN_OPTIONS/detect_leaks=0/detect_leaks=1}" "$DIR/core/cnncore_core_test" \
  2>&1 | tee "$LOGS/core_test.txt"
core_status=${PIPESTATUS[0]}
set -e
echo "   core test: exit $core_status, $((SECONDS - t0)) s"
fi

# ---- 2. the package, built sanitized, in its own environment ---------------------------------
echo "== sanitize: building the sanitized package into $DIR/venv"
t0=$SECONDS
VENV=$DIR/venv
if [[ ! -x $VENV/bin/python ]]; then
  "$PY" -m venv --system-site-packages "$VENV"
  # When PYTHON is itself a virtual environment, --system-site-packages reaches only its base
  # interpreter: add the environment's own site-packages after ours (peers like torch live there).
  outer=$("$PY" -c 'import sys, sysconfig; print(sysconfig.get_paths()["purelib"] if sys.prefix != sys.base_prefix else "")')
  if [[ -n $outer ]]; then
    inner=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$outer" > "$inner/_cnncore_outer_env.pth"
  fi
fi
VPY=$VENV/bin/python
isolation=()
if "$VPY" -c "import scikit_build_core, pybind11" 2>/dev/null; then
  isolation=(--no-build-isolation)
fi
"$VPY" -m pip install --quiet "${isolation[@]}" ".[test]" \
  --config-settings=cmake.define.CNNCORE_SANITIZE=ON \
  --config-settings=cmake.build-type=RelWithDebInfo \
  --config-settings=build-dir="$DIR/py"
so=$(LD_PRELOAD="$PRELOAD" "$VPY" -c "import cnncore._core as c; print(c.__file__)")
case $so in
  "$(cd "$VENV" && pwd)"/*) ;;
  *) echo "sanitize.sh: cnncore._core resolves to $so, not the sanitized build in $VENV" >&2; exit 1 ;;
esac
syms=$(nm -D "$so")
grep -q __asan_report_load <<<"$syms" || { echo "sanitize.sh: $so is not built with ASan" >&2; exit 1; }
grep -q __ubsan_handle <<<"$syms" || { echo "sanitize.sh: $so is not built with UBSan" >&2; exit 1; }
echo "   $so: instrumented ($((SECONDS - t0)) s)"
((BUILD_ONLY)) && exit 0

# ---- 3. the test suite under the sanitizers --------------------------------------------------
# The tests that measure the process's own memory (resident-size growth, RLIMIT_AS children)
# skip themselves under ASan (tests/conftest.py: no_asan), which changes what they measure.
echo "== sanitize: pytest ${*:-(the whole suite)}"
t0=$SECONDS
set +e
LD_PRELOAD="$PRELOAD" "$VPY" -m pytest -p no:cacheprovider --capture=sys "$@" 2>&1 \
  | tee "$LOGS/pytest.txt"
py_status=${PIPESTATUS[0]}
set -e
echo "   pytest: exit $py_status, $((SECONDS - t0)) s"

status=0
if reports "$LOGS/core_test.txt" "$LOGS/pytest.txt"; then
  echo "sanitize.sh: FAILED: sanitizer report(s) above" >&2
  status=1
fi
((core_status == 0)) || { echo "sanitize.sh: FAILED: the C++ core test exited $core_status" >&2; status=1; }
((py_status == 0)) || { echo "sanitize.sh: FAILED: pytest exited $py_status" >&2; status=1; }
((status == 0)) && echo "== sanitize: no sanitizer report, all tests passed ($((SECONDS - t_start)) s in all)"
exit $status
