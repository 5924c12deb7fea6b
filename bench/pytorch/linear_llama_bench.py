"""PyTorch baseline for bench/cuda_bench: the same linear_llama decode / verify step written the
way a researcher would (bf16 nn.Linear weights, fp32 recurrent state, torch ops), timed eager
and with CUDA graphs. Random weights of the given shape (the timing does not depend on them).

  python3 bench/pytorch/linear_llama_bench.py --shape 1.3b --variant plain --json out.json

Per layer and step: RMSNorm -> q/k/v projections -> RoPE -> l2norm feature map ->
  plain:     o = q^ S + causal intra-chunk (q^ k^T) v;  S += k^T v (T = 1 commits)
  augmented: o = relu(q^ Wk^T)^2 Wv (window of the current group, half full) + gamma q^ S + conv
-> o_proj -> residual -> RMSNorm -> SwiGLU MLP -> residual; final norm; lm_head; argmax.
T > 1 (verify) computes all T outputs and leaves the state unchanged.
"""
import argparse
import json
import math

import torch
import torch.nn.functional as F

SHAPES = {
    "1.3b": dict(layers=24, hidden=2048, heads=16, kv_heads=16, head_dim=128, inter=5632, vocab=32000),
    "7b": dict(layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128, inter=11008, vocab=32000),
}


class Model:

  def __init__(self, s, variant, batch, group=64, conv=32, window_fill=32, dev="cuda"):
    self.s, self.variant, self.B = s, variant, batch
    bf = torch.bfloat16
    D, H, KV, d, I = s["hidden"], s["heads"], s["kv_heads"], s["head_dim"], s["inter"]
    self.layers = []
    for _ in range(s["layers"]):
      L = dict(
          q=torch.randn(H * d, D, device=dev, dtype=bf) / math.sqrt(D),
          k=torch.randn(KV * d, D, device=dev, dtype=bf) / math.sqrt(D),
          v=torch.randn(KV * d, D, device=dev, dtype=bf) / math.sqrt(D),
          o=torch.randn(D, H * d, device=dev, dtype=bf) / math.sqrt(H * d),
          gate=torch.randn(I, D, device=dev, dtype=bf) / math.sqrt(D),
          up=torch.randn(I, D, device=dev, dtype=bf) / math.sqrt(D),
          down=torch.randn(D, I, device=dev, dtype=bf) / math.sqrt(I),
          n1=torch.ones(D, device=dev, dtype=bf), n2=torch.ones(D, device=dev, dtype=bf),
          S=torch.randn(batch, KV, d, d, device=dev, dtype=torch.float32) * 0.01)
      if variant == "augmented":
        L["wk"] = F.normalize(torch.randn(batch, KV, group, d, device=dev), dim=-1)
        L["wv"] = torch.randn(batch, KV, group, d, device=dev)
        L["conv_w"] = torch.randn(KV, conv, device=dev) * 0.1
        L["vh"] = torch.randn(batch, KV, conv, d, device=dev)
        L["gamma"] = 0.5
      self.layers.append(L)
    self.embed = torch.randn(s["vocab"], D, device=dev, dtype=bf)
    self.lm_head = torch.randn(s["vocab"], D, device=dev, dtype=bf) / math.sqrt(D)
    self.norm = torch.ones(D, device=dev, dtype=bf)
    self.group, self.fill = group, window_fill
    inv = 1.0 / (10000.0**(torch.arange(0, d, 2, device=dev).float() / d))
    self.inv_freq = inv

  @staticmethod
  def rms(x, w, eps=1e-5):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w

  def rope(self, x, pos):  # x [B, h, T, d]
    f = pos.float()[:, None] * self.inv_freq[None]
    emb = torch.cat((f, f), -1)
    c, s = emb.cos(), emb.sin()
    h = x.shape[-1] // 2
    return x * c + torch.cat((-x[..., h:], x[..., :h]), -1) * s

  def step(self, tokens, pos):
    """tokens [B, T] int64, pos [T] int64 -> argmax [B, T]."""
    s, B = self.s, self.B
    T = tokens.shape[1]
    H, KV, d = s["heads"], s["kv_heads"], s["head_dim"]
    x = self.embed[tokens]
    mask = torch.ones(T, T, device=x.device, dtype=torch.bool).tril()
    for L in self.layers:
      h = self.rms(x, L["n1"])
      q = F.linear(h, L["q"]).view(B, T, H, d).transpose(1, 2).float()
      k = F.linear(h, L["k"]).view(B, T, KV, d).transpose(1, 2).float()
      v = F.linear(h, L["v"]).view(B, T, KV, d).transpose(1, 2).float()
      q = F.normalize(self.rope(q, pos), dim=-1)
      k = F.normalize(self.rope(k, pos), dim=-1)
      S = L["S"]
      if self.variant == "plain":
        a = (q @ k.transpose(-1, -2)).masked_fill(~mask, 0)
        o = q @ S + a @ v
        if T == 1:
          S.add_(k.transpose(-1, -2) @ v)
      else:
        wk, wv = L["wk"][:, :, :self.fill], L["wv"][:, :, :self.fill]
        loc = F.relu(q @ wk.transpose(-1, -2)).square() @ wv
        a = F.relu(q @ k.transpose(-1, -2)).square().masked_fill(~mask, 0)
        o = loc + a @ v + L["gamma"] * (q @ S)
        hist = torch.cat((L["vh"][:, :, T:], v), 2)  # last C values per step position
        o = o + torch.einsum("bhcd,hc->bhd", hist, L["conv_w"]).unsqueeze(2)
        if T == 1:
          L["wk"][:, :, self.fill].copy_(k[:, :, 0])
          L["wv"][:, :, self.fill].copy_(v[:, :, 0])
          L["vh"].copy_(hist[:, :, -L["vh"].shape[2]:])
      o = o.to(torch.bfloat16).transpose(1, 2).reshape(B, T, H * d)
      x = x + F.linear(o, L["o"])
      h = self.rms(x, L["n2"])
      x = x + F.linear(F.silu(F.linear(h, L["gate"])) * F.linear(h, L["up"]), L["down"])
    logits = F.linear(self.rms(x, self.norm), self.lm_head)
    return logits.argmax(-1)


def time_fn(fn, iters):
  for _ in range(3):
    fn()
  torch.cuda.synchronize()
  times = []
  for _ in range(iters):
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    fn()
    b.record()
    b.synchronize()
    times.append(a.elapsed_time(b))
  times.sort()
  return times[len(times) // 2]


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--shape", default="1.3b", choices=SHAPES)
  ap.add_argument("--variant", default="plain", choices=["plain", "augmented"])
  ap.add_argument("--batches", default="1,4,16,64,256")
  ap.add_argument("--tokens", default="1,5")
  ap.add_argument("--iters", type=int, default=10)
  ap.add_argument("--json", default="")
  args = ap.parse_args()
  torch.manual_seed(0)
  res = []
  print("%-22s %5s %3s %12s %12s" % ("pytorch", "B", "T", "eager ms", "graph ms"))
  for B in [int(b) for b in args.batches.split(",")]:
    m = Model(SHAPES[args.shape], args.variant, B)
    for T in [int(t) for t in args.tokens.split(",")]:
      tokens = torch.randint(0, m.s["vocab"], (B, T), device="cuda")
      pos = torch.arange(100, 100 + T, device="cuda")
      with torch.no_grad():
        eager = time_fn(lambda: m.step(tokens, pos), args.iters)
        g = torch.cuda.CUDAGraph()
        st = torch.cuda.Stream()
        st.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(st):
          for _ in range(2):
            m.step(tokens, pos)
        torch.cuda.current_stream().wait_stream(st)
        with torch.cuda.graph(g):
          m.step(tokens, pos)
        graph = time_fn(g.replay, args.iters)
        del g
      print("%-22s %5d %3d %12.3f %12.3f" % (args.shape + "-" + args.variant, B, T, eager, graph))
      res.append(dict(B=B, T=T, eager_ms=eager, graph_ms=graph))
    del m
    torch.cuda.empty_cache()
  if args.json:
    with open(args.json, "w") as f:
      json.dump(dict(shape=args.shape, variant=args.variant, results=res,
                     device=torch.cuda.get_device_name()), f, indent=2)


if __name__ == "__main__":
  main()
