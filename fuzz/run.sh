#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 20) over its seed
# corpus in fuzz/corpus/<name>/ (read-only; new inputs go to a temporary directory).
#   bash fuzz/run.sh            # CI: 20 s per target
#   SECONDS_PER_TARGET=600 bash fuzz/run.sh   # by hand
# A crash leaves crash-*/leak-*/timeout-* files in $ARTIFACTS (default build-fuzz/artifacts) and
# makes this script fail; reproduce with build-fuzz/fuzz/<target> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-fuzz}
SECS=${SECONDS_PER_TARGET:-20}
ARTIFACTS=${ARTIFACTS:-$BUILD/artifacts}
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPKB_FUZZ=ON \
  -DDEEPKB_BUILD_TESTS=OFF -DDEEPKB_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target query_fuzz filter_fuzz search_request_fuzz
mkdir -p "$ARTIFACTS"
for t in query filter search_request; do
  work=$(mktemp -d)
  dict=()
  [ "$t" != query ] && dict=(-dict=fuzz/json.dict)
  echo "== ${t}_fuzz: ${SECS}s"
  "$BUILD/fuzz/${t}_fuzz" -max_total_time="$SECS" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$ARTIFACTS/${t}-" "${dict[@]}" "$work" "fuzz/corpus/$t" 2>&1 | tail -n 4
  rm -rf "$work"
done
