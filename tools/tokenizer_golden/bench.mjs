// Times the reference implementation (@huggingface/tokenizers, pure JS) on the same text
// chunks as bench/tokenizer_bench (which runs this script and reads its JSON output).
//
//   node bench.mjs <chunks.json> <out.json> <testdata_dir> <name>...
//
// chunks.json is a JSON array of strings. For each tokenizer: one warm-up pass (fills the
// BPE cache, like ours), then timed passes; reports seconds per pass, the token count and an
// id checksum (h = h * 1000003 + id, mod 2^32) to compare against the C++ ids.
import fs from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const [chunksPath, outPath, dataDir, ...names] = process.argv.slice(2);
const chunks = JSON.parse(fs.readFileSync(chunksPath, "utf8"));
const bytes = chunks.reduce((n, c) => n + Buffer.byteLength(c, "utf8"), 0);
const results = [];
for (const name of names) {
  const json = JSON.parse(fs.readFileSync(path.join(dataDir, name, "tokenizer.json"), "utf8"));
  const tok = new Tokenizer(json, {});
  let tokens = 0;
  let checksum = 0;
  for (const c of chunks) {
    for (const id of tok.encode(c, { add_special_tokens: false }).ids) {
      checksum = (Math.imul(checksum, 1000003) + id) >>> 0;
      ++tokens;
    }
  }
  const passes = 2;
  const start = process.hrtime.bigint();
  for (let p = 0; p < passes; ++p) {
    for (const c of chunks) tok.encode(c, { add_special_tokens: false });
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9 / passes;
  results.push({ tokenizer: name, seconds, tokens, checksum, mb_per_s: bytes / 1e6 / seconds });
  console.error(`js ${name}: ${(bytes / 1e6 / seconds).toFixed(2)} MB/s`);
}
fs.writeFileSync(outPath, JSON.stringify({ implementation: "@huggingface/tokenizers@" +
  JSON.parse(fs.readFileSync(new URL("./node_modules/@huggingface/tokenizers/package.json", import.meta.url))).version,
  node: process.version, bytes, results }));
