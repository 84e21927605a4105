// Builds the tokenizer comparison corpus: one JSON string per line on stdout, deterministic for
// a given set of input files. Sources: Chinese manual pages (Debian manpages-zh, gzip'd troff),
// this repository's docs and source code, and generated lines aimed at the pre-tokenizer's
// corners (emoji and ZWJ sequences, CJK and full-width punctuation, kana with combining marks,
// tabs, CRLF, runs of spaces, long numbers, contractions, NFD text, special tokens, ...).
//   node make_corpus.js REPO_ROOT > corpus.jsonl
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

const root = process.argv[2] || ".";
let seed = 20240611;
const rand = () => {  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (a) => a[Math.floor(rand() * a.length)];
const out = [];
const emit = (s) => { if (s.length > 0) out.push(s); };

// Groups lines into items of 1..maxJoin lines joined with "\n" (sometimes "\r\n").
function addLines(lines, budget, maxJoin) {
  let i = 0, added = 0;
  while (i < lines.length && added < budget) {
    const k = 1 + Math.floor(rand() * maxJoin);
    const sep = rand() < 0.1 ? "\r\n" : "\n";
    const item = lines.slice(i, i + k).join(sep);
    i += k;
    if (item.trim().length === 0 && rand() < 0.8) continue;
    emit(item);
    ++added;
  }
  return added;
}

function listFiles(dir, pred, acc = []) {
  let entries;
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return acc; }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) listFiles(p, pred, acc);
    else if (pred(p)) acc.push(p);
  }
  return acc;
}

// 1. Chinese manual pages: ~1400 items from every 7th page.
{
  const pages = listFiles("/usr/share/man/zh_CN", (p) => p.endsWith(".gz"));
  if (pages.length === 0) process.stderr.write("make_corpus: no /usr/share/man/zh_CN pages (install manpages-zh)\n");
  let budget = 1400;
  for (let i = 0; i < pages.length && budget > 0; i += 7) {
    let text;
    try { text = zlib.gunzipSync(fs.readFileSync(pages[i])).toString("utf8"); } catch { continue; }
    budget -= addLines(text.split("\n").slice(0, 60), Math.min(budget, 25), 3);
  }
}

// 2. Repository docs (Markdown, Chinese docs too): ~500 items.
{
  const docs = listFiles(path.join(root, "docs"), (p) => p.endsWith(".md"));
  docs.push(path.join(root, "README.md"));
  let budget = 500;
  for (const f of docs) {
    if (budget <= 0) break;
    let text;
    try { text = fs.readFileSync(f, "utf8"); } catch { continue; }
    budget -= addLines(text.split("\n"), Math.min(budget, 60), 4);
  }
}

// 3. Source code (C++, CMake, shell): ~700 items of 1-8 lines, indentation kept.
{
  const src = listFiles(path.join(root, "src"), (p) => /\.(cc|h|txt)$/.test(p));
  src.push(...listFiles(path.join(root, "scripts"), (p) => p.endsWith(".sh")));
  let budget = 700;
  for (let i = 0; i < src.length && budget > 0; i += 2) {
    let text;
    try { text = fs.readFileSync(src[i], "utf8"); } catch { continue; }
    const lines = text.split("\n");
    const start = Math.floor(rand() * Math.max(1, lines.length - 80));
    budget -= addLines(lines.slice(start, start + 80), Math.min(budget, 12), 8);
  }
}

// 4. Generated lines.
const words = ["the", "The", "THE", "token", "tokenizer", "don't", "I'M", "you'LL", "we've", "it's",
  "they're", "he'd", "'s", "'T", "naïve", "café", "Straße", "élan", "ﬁne", "Ω", "π", "λx", "über",
  "中文", "分词器", "深度求索", "知识库", "模型", "测试", "龥龦", "〇", "日本語", "ひらがな", "カタカナ",
  "ｶﾀｶﾅ", "ガ", "か\u3099", "ア・イ", "ー", "한국어", "русский", "Ελληνικά", "العربية", "עברית",
  "हिन्दी", "ไทย", "tiếng Việt", "ＡＢＣ", "１２３", "ｈｅｌｌｏ", "x86_64", "C++20", "std::vector<int>",
  "foo.bar()", "a->b", "$HOME", "#include", "@param", "i++", "--flag", "../path/to", "https://x.y/z?q=1&r=2",
  "e\u0301", "A\u030A", "\u1100\u1161", "n\u0303o", "ſ", "K", "²", "½", "Ⅻ", "①", "٣", "𝟘𝟙", "𝒜𝒷",
  "\u{20000}\u{20001}", "\u00ad", "\u200b", "\ufeff", "\u2028", "\u0085", "\u00a0", "\u3000", "\u202f"];
const emoji = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇨🇳", "🇺🇸", "1️⃣", "🧑‍💻", "👩🏾‍🚀", "✈︎", "☃", "🀄", "🈶", "©", "™", "€", "¥", "₿"];
const punct = ["，", "。", "、", "；", "：", "？", "！", "「", "」", "『", "』", "（", "）", "《", "》", "…", "——",
  "·", "～", "【", "】", ".", ",", "!", "?", ";", ":", "(", ")", "[", "]", "{", "}", "<", ">", "\"", "'", "`",
  "-", "_", "=", "+", "*", "/", "\\", "|", "&", "^", "%", "$", "#", "@", "~", "“", "”", "‘", "’", "«", "»"];
const spaces = [" ", "  ", "   ", "\t", "\t\t", " \t ", "\n", "\n\n", "\r\n", "\r\n\r\n", " \n", "\n ", "\r",
  "\u00a0", "\u3000", "\v", "\f", "    \n    ", "\u2009", "\u200a"];
const specials = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<|EOT|>",
  "<｜fim▁hole｜>", "<｜tool▁calls▁begin｜>", "<｜tool▁sep｜>", "<｜place▁holder▁no▁42｜>", "<|endoftext|>", "<|im_start|>",
  "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|vision_pad|>",
  "<|im_start", "<｜User", "<think", "<<think>>", "<|im_end|><|im_end|>"];
const number = () => {
  const len = 1 + Math.floor(rand() * (rand() < 0.2 ? 40 : 8));
  let s = "";
  for (let i = 0; i < len; ++i) s += String(Math.floor(rand() * 10));
  if (rand() < 0.3) s += pick([".", ",", "e", "%", "-"]) + String(Math.floor(rand() * 1000));
  return s;
};
const invalidish = ["\ufffd", "\ufffd\ufffd", "\u0000", "\u0001", "\u001b[31m", "\u007f", "\ue000", "\u{10ffff}", "\ufdd0", "\uffff", "\u0378"];
const generators = [
  () => pick(words), () => pick(words), () => pick(words), () => pick(emoji), () => pick(punct),
  () => pick(punct), () => pick(spaces), () => pick(spaces), () => number(), () => pick(specials),
  () => pick(invalidish),
];
for (let n = 0; n < 1100; ++n) {
  let s = "";
  const parts = 1 + Math.floor(rand() * 30);
  for (let k = 0; k < parts; ++k) {
    s += pick(generators)();
    if (rand() < 0.5) s += " ";
  }
  if (rand() < 0.1) s = " " + s;
  if (rand() < 0.1) s += pick(spaces);
  emit(s);
}
// Whitespace-only and edge items.
for (const s of [" ", "  ", "\n", "\r\n", "\t", " \n ", "   a", "a   ", "\n\n\nx\n\n\n", "0", "000000000",
  "1234567890123456789012345678901234567890", "'", "''", "'s'S's", "a'LL", "中文123中文", "abc中文def",
  "ＨＥＬＬＯ，世界！", "\u200d", "\u200d\u200d", "a\u200db", "😀\u200d", "\u0301", "a\u0301\u0301b"]) emit(s);
// A few long items: the BPE heap path and long whitespace / digit / CJK runs.
{
  const longs = [" ".repeat(3000), "\n".repeat(500) + "x", "7".repeat(2000), "中".repeat(1500), "ab".repeat(2000),
    "🙂".repeat(400), "—".repeat(600)];
  let para = "";
  for (let i = 0; i < 400; ++i) para += pick(words) + pick([" ", " ", ", ", "。", "\n"]);
  longs.push(para);
  for (const s of longs) emit(s);
}

process.stdout.write(out.map((s) => JSON.stringify(s)).join("\n") + "\n");
process.stderr.write(`make_corpus: ${out.length} items\n`);
