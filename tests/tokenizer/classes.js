// Compares deepkb's pre-tokenizer character classes (tokenize_class_dump) with the JavaScript
// regex engine's \p{L} \p{N} \p{P} \p{S} \p{M} \s for every Unicode scalar value.
//   tokenize_class_dump | node classes.js
// deepkb takes categories from the system ICU (72 = Unicode 15.0) and Node from its own ICU
// (often a newer Unicode). The two must agree on every code point the system ICU has assigned;
// code points that are unassigned there and assigned in Node's newer Unicode are counted and
// reported, not failed. Exit 1 on any other difference.
"use strict";
const fs = require("fs");
const ours = fs.readFileSync(0, "latin1");
const re = { L: /\p{L}/u, N: /\p{N}/u, P: /\p{P}/u, S: /\p{S}/u, M: /\p{M}/u, W: /\s/u };
let k = 0, newer = 0, bad = 0;
const examples = [];
for (let cp = 0; cp < 0x110000; ++cp) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const s = String.fromCodePoint(cp);
  let b = 0;
  if (re.L.test(s)) b |= 1;
  if (re.N.test(s)) b |= 2;
  if (re.P.test(s)) b |= 4;
  if (re.S.test(s)) b |= 8;
  if (re.M.test(s)) b |= 16;
  if (re.W.test(s)) b |= 32;
  const o = ours.charCodeAt(k++) - 65;
  if (o === b) continue;
  if (o === 0) { ++newer; continue; }  // unassigned in the system ICU's Unicode
  ++bad;
  if (examples.length < 10) examples.push(`U+${cp.toString(16).toUpperCase()}: deepkb ${o}, javascript ${b}`);
}
console.log(`character classes: ${k} code points, ${bad} differences, ${newer} assigned only in ` +
            `Node's Unicode ${process.versions.unicode} (unassigned in the system ICU)`);
for (const e of examples) console.log("  " + e);
process.exit(k === 0x110000 - 0x800 && bad === 0 ? 0 : 1);
