#!/usr/bin/env bash
# Builds sync_bench (Release, DEEPKB_BUILD_BENCH=ON) and runs it for each size; results go to
# $RESULTS_DIR (default /tmp/deepkb-bench/results) as sync_<N>.{txt,json}.
#   bash bench/sync/run.sh [--sizes "10000 100000"]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-bench}
RESULTS_DIR=${RESULTS_DIR:-/tmp/deepkb-bench/results}
WORK_DIR=${WORK_DIR:-/tmp/deepkb-bench/sync}
SIZES="10000 100000"
if [[ "${1:-}" == "--sizes" ]]; then SIZES=$2; fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDEEPKB_BUILD_BENCH=ON > /dev/null
cmake --build "$BUILD" --target sync_bench -j2
mkdir -p "$RESULTS_DIR"
for n in $SIZES; do
  "$BUILD/bench/sync/sync_bench" --docs "$n" --work-dir "$WORK_DIR" \
    --json "$RESULTS_DIR/sync_$n.json" | tee "$RESULTS_DIR/sync_$n.txt"
done
rm -rf "$WORK_DIR"
