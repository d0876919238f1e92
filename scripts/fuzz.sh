#!/usr/bin/env bash
# Coverage-guided fuzzing of cnncore's public functions and bindings (fuzz/fuzz_ops.py, atheris =
# libFuzzer for Python), then the whole corpus replayed against the AddressSanitizer + UBSan build.
# See docs/HARDENING.md.
#
#   scripts/fuzz.sh [SECONDS] [libFuzzer flags...]     # default 300 s; e.g. scripts/fuzz.sh 600 -jobs=1
#
# PYTHON picks the interpreter (default python3); it must have cnncore installed (pip install .);
# atheris is installed into it when missing (pip install "cnncore[fuzz]" does the same).
# FUZZ_DIR (default build/fuzz) holds corpus/ (kept between runs, so every run starts where the
# last one stopped), crash-* artifacts and fuzz.log. FUZZ_ASAN_REPLAY=0 skips the replay under the
# sanitizers (which builds build/sanitize/venv through scripts/sanitize.sh --build-only).
# Exit status: 0 when no finding, else non-zero; a finding's input is saved as FUZZ_DIR/crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-300}
shift || true
PY=${PYTHON:-python3}
PY=$("$PY" -c 'import sys; print(sys.executable)')
DIR=${FUZZ_DIR:-build/fuzz}
mkdir -p "$DIR/corpus"

if ! "$PY" -c "import atheris" 2>/dev/null; then
  echo "== fuzz: installing atheris into $PY"
  "$PY" -m pip install --quiet "atheris>=2.3"
fi
"$PY" -c "import cnncore" || { echo "fuzz.sh: cnncore is not installed for $PY (pip install .)" >&2; exit 2; }

# Results above 32 MiB are refused with MemoryError (a fine outcome): every run stays small.
export CNNCORE_MAX_BYTES=${CNNCORE_MAX_BYTES:-33554432}
before=$(find "$DIR/corpus" -type f | wc -l)
echo "== fuzz: $SECS s, corpus $DIR/corpus ($before inputs)"
set +e
nice -n 10 "$PY" fuzz/fuzz_ops.py -max_total_time="$SECS" -timeout=60 -rss_limit_mb=3072 \
  -max_len=1024 -print_final_stats=1 -artifact_prefix="$DIR/" "$@" "$DIR/corpus" \
  2>&1 | tee "$DIR/fuzz.log" | grep -E "^#[0-9]+ +(pulse|DONE)|ERROR|Finding|Traceback|crash-|stat::"
status=${PIPESTATUS[0]}
set -e
after=$(find "$DIR/corpus" -type f | wc -l)
echo "   fuzz: exit $status; $(grep -E '^#[0-9]+' "$DIR/fuzz.log" | tail -1)"
echo "   corpus: $before -> $after inputs"
if ((status != 0)); then
  echo "fuzz.sh: FINDING (see $DIR/fuzz.log and the crash-* file named there)" >&2
  exit "$status"
fi

if [[ ${FUZZ_ASAN_REPLAY:-1} != 0 ]]; then
  echo "== fuzz: replaying the corpus under ASan + UBSan"
  scripts/sanitize.sh --build-only
  ASAN_LIB=$(c++ -print-file-name=libasan.so)
  STDCXX_LIB=$(c++ -print-file-name=libstdc++.so)
  LD_PRELOAD="$ASAN_LIB $STDCXX_LIB" \
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build/sanitize/venv/bin/python fuzz/fuzz_ops.py --replay "$DIR/corpus" 2>&1 | tee "$DIR/replay.log"
  status=${PIPESTATUS[0]}
  if ((status != 0)) || grep -q -e "ERROR: AddressSanitizer" -e "runtime error:" "$DIR/replay.log"; then
    echo "fuzz.sh: FINDING under the sanitizers (see $DIR/replay.log)" >&2
    exit 1
  fi
fi
echo "== fuzz: no finding"
