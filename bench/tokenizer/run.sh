#!/usr/bin/env bash
# Tokenizer speed: deepkb vs the JavaScript reference, same corpus, same run, single thread.
#   bench/tokenizer/run.sh [BUILD_DIR] [PASSES]
# Builds nothing: run `cmake --build BUILD_DIR --target tokenizer_bench` first. Installs the
# reference (npm ci) and the corpus through tests/tokenizer/setup.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build="${1:-$src/build}"
passes="${2:-5}"
"$src/tests/tokenizer/setup.sh" "$build"
corpus="$build/tokenizer/corpus.jsonl"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "node $(node --version); corpus $(wc -l < "$corpus") lines, $(wc -c < "$corpus") bytes of JSON"
for name in deepseek_v3 qwen3; do
  # Pinned to one CPU so both sides run single-threaded on the same core class.
  js="$(taskset -c 0 node "$here/bench.js" "$build/npm" "$name" "$corpus" "$passes")"
  cc="$(taskset -c 0 "$build/bench/tokenizer_bench" --tokenizer "$build/tokenizer/$name.tokenizer.json" \
        --corpus "$corpus" --passes "$passes")"
  node -e '
    const [name, js, cc] = process.argv.slice(1).map((x, i) => i ? JSON.parse(x) : x);
    if (js.tokens !== cc.tokens) { console.log(`${name}: TOKEN COUNTS DIFFER: js ${js.tokens}, deepkb ${cc.tokens}`); process.exit(1); }
    const f = (x) => x.toFixed(2);
    console.log(`${name}: ${js.lines} lines, ${(js.bytes / 1e6).toFixed(3)} MB, ${js.tokens} tokens`);
    console.log(`  javascript: ${f(js.mb_per_s)} MB/s, ${(js.tokens_per_s / 1e6).toFixed(3)} M tokens/s (first pass ${f(js.first_pass_seconds)} s, load ${f(js.load_seconds)} s)`);
    console.log(`  deepkb:     ${f(cc.mb_per_s)} MB/s, ${(cc.tokens_per_s / 1e6).toFixed(3)} M tokens/s (first pass ${f(cc.first_pass_seconds)} s, load ${f(cc.load_seconds)} s)`);
    console.log(`  CPU time of the best pass: javascript ${f(js.cpu_seconds)} s (${f(js.cpu_mb_per_s)} MB/s), deepkb ${(cc.cpu_seconds).toFixed(3)} s (${f(cc.cpu_mb_per_s)} MB/s)`);
    console.log(`  ratio deepkb/javascript: wall ${(cc.mb_per_s / js.mb_per_s).toFixed(1)}x, CPU ${(cc.cpu_mb_per_s / js.cpu_mb_per_s).toFixed(1)}x, first pass (wall) ${(js.first_pass_seconds / cc.first_pass_seconds).toFixed(1)}x`);
  ' "$name" "$js" "$cc"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
