#!/usr/bin/env bash
# Fuzzing of cnncore's public functions and bindings (fuzz/fuzz_ops.py, atheris = libFuzzer for
# Python), in three stages (docs/HARDENING.md):
#   1. SECONDS of coverage-guided fuzzing of the installed build (coverage: cnncore's Python and the
#      decoder's branches);
#   2. every corpus input replayed once against the AddressSanitizer + UBSan build;
#   3. FUZZ_ASAN_SECONDS (default SECONDS / 2) of mutations of the corpus under ASan + UBSan (no
#      coverage there: GCC's ASan runtime breaks atheris's, so the corpus is kept as the seeds).
#
#   scripts/fuzz.sh [SECONDS] [libFuzzer flags...]     # default 300 s
#
# PYTHON picks the interpreter (default python3); it must have cnncore installed (pip install .);
# atheris is installed into it when missing (pip install "cnncore[fuzz]" does the same).
# FUZZ_DIR (default build/fuzz) holds corpus/ (kept between runs, so every run starts where the
# last one stopped), crash-* artifacts and the logs. FUZZ_ASAN=0 skips stages 2 and 3 (which build
# build/sanitize/venv through scripts/sanitize.sh --build-only).
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

if [[ ${FUZZ_ASAN:-1} != 0 ]]; then
  echo "== fuzz: replaying the corpus under ASan + UBSan"
  scripts/sanitize.sh --build-only
  SPY=build/sanitize/venv/bin/python
  ASAN_LIB=$(c++ -print-file-name=libasan.so)
  STDCXX_LIB=$(c++ -print-file-name=libstdc++.so)
  export LD_PRELOAD="$ASAN_LIB $STDCXX_LIB"
  export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:quarantine_size_mb=16:malloc_context_size=5
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  set +e
  "$SPY" fuzz/fuzz_ops.py --replay "$DIR/corpus" 2>&1 | tee "$DIR/replay.log"
  status=${PIPESTATUS[0]}
  set -e
  if ((status != 0)) || grep -q -e "ERROR: AddressSanitizer" -e "runtime error:" "$DIR/replay.log"; then
    echo "fuzz.sh: FINDING under the sanitizers (see $DIR/replay.log)" >&2
    exit 1
  fi

  ASECS=${FUZZ_ASAN_SECONDS:-$((SECS / 2))}
  if ((ASECS > 0)); then
    echo "== fuzz: $ASECS s of mutations of the corpus under ASan + UBSan"
    LD_PRELOAD= "$SPY" -c "import atheris" 2>/dev/null || LD_PRELOAD= "$SPY" -m pip install --quiet "atheris>=2.3"
    mkdir -p "$DIR/asan-new"
    set +e
    nice -n 10 "$SPY" fuzz/fuzz_ops.py -max_total_time="$ASECS" -keep_seed=1 -timeout=60 \
      -rss_limit_mb=4096 -max_len=1024 -print_final_stats=1 -artifact_prefix="$DIR/" \
      "$DIR/asan-new" "$DIR/corpus" 2>&1 | tee "$DIR/fuzz-asan.log" \
      | grep -E "^#[0-9]+ +(pulse|DONE)|ERROR|Finding|Traceback|crash-|runtime error|stat::"
    status=${PIPESTATUS[0]}
    set -e
    if ((status != 0)) || grep -q -e "ERROR: AddressSanitizer" -e "runtime error:" "$DIR/fuzz-asan.log"; then
      echo "fuzz.sh: FINDING under the sanitizers (see $DIR/fuzz-asan.log)" >&2
      exit 1
    fi
  fi
fi
echo "== fuzz: no finding"
