// Compares deepkb's ids with the reference's, line by line; prints the first mismatches with
// context (the text around the first differing token, and both token sequences there).
//   node compare.js NAME CORPUS REF_IDS OUR_IDS TOKENIZER_JSON [OUR_COUNTS]
// OUR_COUNTS (optional): one count per line (`deepkb tokenize --jsonl --count`), checked against
// the reference's lengths. Exit 0 when every line matches, 1 otherwise.
"use strict";
const fs = require("fs");
const [name, corpusPath, refPath, oursPath, tokPath, countsPath] = process.argv.slice(2);
const read = (p) => {
  const l = fs.readFileSync(p, "utf8").split("\n");
  if (l.length && l[l.length - 1] === "") l.pop();
  return l;
};
const corpus = read(corpusPath), ref = read(refPath), ours = read(oursPath);
let vocab = null;
const tokenString = (id) => {
  if (vocab === null) {
    const j = JSON.parse(fs.readFileSync(tokPath, "utf8"));
    vocab = new Map();
    for (const [k, v] of Object.entries(j.model.vocab)) vocab.set(v, k);
    for (const a of j.added_tokens) vocab.set(a.id, a.content);
  }
  return vocab.get(id);
};
let mismatches = 0, tokens = 0, bytes = 0;
const shown = [];
if (ref.length !== corpus.length || ours.length !== corpus.length) {
  console.error(`${name}: line counts differ: corpus ${corpus.length}, reference ${ref.length}, deepkb ${ours.length}`);
}
const n = Math.min(corpus.length, ref.length, ours.length);
for (let i = 0; i < n; ++i) {
  const text = JSON.parse(corpus[i]);
  bytes += Buffer.byteLength(text, "utf8");
  const r = JSON.parse(ref[i]);
  tokens += r.length;
  if (ref[i] === ours[i]) continue;
  ++mismatches;
  if (shown.length >= 5) continue;
  const o = JSON.parse(ours[i]);
  let k = 0;
  while (k < r.length && k < o.length && r[k] === o[k]) ++k;
  // Text before the first difference = decoding of the common prefix, approximately: show the
  // reference tokens around k as strings instead.
  const ctx = (a) => a.slice(Math.max(0, k - 3), k + 6).map((id) => `${id}:${JSON.stringify(tokenString(id))}`).join(" ");
  shown.push(`line ${i + 1}: ${JSON.stringify(text.length > 300 ? text.slice(0, 300) + "…" : text)}\n` +
             `  first difference at token ${k} (reference ${r.length} tokens, deepkb ${o.length})\n` +
             `  reference: ${ctx(r)}\n  deepkb:    ${ctx(o)}`);
}
let countMismatches = 0;
if (countsPath) {
  const counts = read(countsPath);
  if (counts.length !== ref.length) {
    console.error(`${name}: ${counts.length} counts for ${ref.length} lines`);
    ++countMismatches;
  }
  for (let i = 0; i < Math.min(counts.length, ref.length); ++i) {
    const want = JSON.parse(ref[i]).length;
    if (Number(counts[i]) !== want) {
      if (countMismatches < 5) console.log(`line ${i + 1}: --count says ${counts[i]}, reference has ${want} tokens`);
      ++countMismatches;
    }
  }
}
const ok = mismatches === 0 && countMismatches === 0 && ref.length === corpus.length && ours.length === corpus.length;
console.log(`${name}: ${n} lines, ${bytes} bytes, ${tokens} reference tokens, ${mismatches} mismatching lines` +
            (countsPath ? `, ${countMismatches} mismatching counts` : ""));
for (const s of shown) console.log(s);
process.exit(ok ? 0 : 1);
