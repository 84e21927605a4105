#!/usr/bin/env bash
# Regenerates bench/data/vocab.tsv (the benchmark vocabulary) from the Chinese man pages of
# Debian's manpages-zh package (apt-get install manpages-zh). The file is checked in, so the
# benchmarks do not need the package; rerun this only to change the vocabulary, and note that
# doing so changes every benchmark corpus (the generator reads ranks from this file).
#
# usage: bash bench/extract_vocab.sh [BUILD_DIR]      (default BUILD_DIR: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-${BUILD:-build}}"
MAN_DIR=/usr/share/man/zh_CN
if [[ ! -d "$MAN_DIR" ]]; then
  echo "extract_vocab.sh: $MAN_DIR not found; install the manpages-zh package" >&2
  exit 1
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target bench_vocab_extract -j"$(nproc)"
# Regular files only (the package also ships symlinked aliases), in a fixed order.
find "$MAN_DIR" -type f -name '*.gz' | LC_ALL=C sort | xargs zcat \
  | "$BUILD_DIR/bench/bench_vocab_extract" --zh 6000 --en 3000 --id 1000 --min-count 2 \
  > bench/data/vocab.tsv
echo "wrote bench/data/vocab.tsv: $(cut -f1 bench/data/vocab.tsv | sort | uniq -c | tr '\n' ' ')"
