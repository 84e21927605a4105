#!/usr/bin/env bash
# Builds keyword_bench (Release) and runs it at 10k and 100k chunks; --full adds 1M chunks.
# Results: a text report per size on stdout and JSON files in $RESULTS_DIR.
#
# usage: bash bench/run.sh [--full] [--reuse] [--sizes "10000 100000"] [-- extra keyword_bench flags]
# env:   BUILD        build directory (default: build; `make bench` uses the Makefile's)
#        WORK_DIR     where the benchmark KBs live (default: /tmp/deepkb-bench)
#        RESULTS_DIR  JSON + text results (default: $WORK_DIR/results)
# The 1M KB is always built with --reuse (a complete one is kept and reused, an interrupted
# build resumes) and searched with 500 queries; 10k/100k are rebuilt unless --reuse is given,
# so their ingest is measured.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD="${BUILD:-build}"
WORK_DIR="${WORK_DIR:-/tmp/deepkb-bench}"
RESULTS_DIR="${RESULTS_DIR:-$WORK_DIR/results}"
SIZES="10000 100000"
REUSE=""
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --full) SIZES="10000 100000 1000000" ;;
    --reuse) REUSE="--reuse" ;;
    --sizes) SIZES="$2"; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target keyword_bench -j"$(nproc)"
BIN="$BUILD/bench/keyword_bench"
mkdir -p "$RESULTS_DIR"

for n in $SIZES; do
  flags=(--chunks "$n" --work-dir "$WORK_DIR" --json "$RESULTS_DIR/keyword_bench_$n.json")
  if [[ "$n" -ge 1000000 ]]; then
    # At 1M a broad query takes about a second, so fewer queries keep the run near 10 minutes
    # (P99 per class then rests on ~125 samples); flags after -- override these.
    flags+=(--reuse --queries 500 --warmup 50 --analyze 100)
  elif [[ -n "$REUSE" ]]; then
    flags+=("$REUSE")
  fi
  echo "### $BIN ${flags[*]} ${EXTRA[*]}"
  "$BIN" "${flags[@]}" "${EXTRA[@]}" 2> >(tee "$RESULTS_DIR/keyword_bench_$n.log" >&2) \
    | tee "$RESULTS_DIR/keyword_bench_$n.txt"
  echo
done
echo "results: $RESULTS_DIR"
