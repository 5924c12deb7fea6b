#!/usr/bin/env bash
# Builds tests/testdata/tokenizers/spm/tokenizer.model with libsentencepiece's trainer
# (Debian libsentencepiece-dev), trained on the stress corpus plus the README of the pinned
# @huggingface/tokenizers package (run `npm ci` here first), so the result is reproducible.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
data="$root/tests/testdata/tokenizers"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))))' "$data/corpus.json" > "$work/train.txt"
cat "$here/node_modules/@huggingface/tokenizers/README.md" >> "$work/train.txt"
g++ -std=c++20 -O1 -o "$work/make_spm_model" "$here/make_spm_model.cc" -lsentencepiece_train -lsentencepiece
mkdir -p "$data/spm"
"$work/make_spm_model" "$data" "$work/train.txt"
rm -f "$data/spm/tokenizer.vocab"
ls -la "$data/spm"
