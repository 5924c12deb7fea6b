"""PyTorch reference implementation of `linear_llama` (DESIGN.md §2), used for training.

The forward is the same math as the C++ engine, in a parallel chunked form:

  per layer, per head, with q^ = phi(RoPE(q)), k^ = phi(RoPE(k)) (phi after RoPE):
  augmented (group_size G > 0):
    local_t  = sum_{s in group(t), s <= t} relu(q^_t . k^_s)^2 v_s      (groups of G aligned at 0)
    global_t = q^_t . S_g,  S_g = sum_{s in groups before group(t)} k^_s (x) v_s
    conv_t   = sum_{j=0}^{C-1} w_h[j] v_{t-C+1+j}                       (zero before position 0)
    o_t      = local_t + gamma * global_t + conv_t
  plain (G == 0):
    o_t = q^_t . S_t  (/ q^_t . z_t when normalize),  S_t = sum_{s<=t} k^_s (x) v_s

`recurrent_logits` is a slow token-by-token implementation written straight from the design
text (folded state, group window, conv ring); `check_recurrent` compares the two.
Feature map l2norm is x / max(||x||, 1e-12) (torch.nn.functional.normalize).
"""
import dataclasses
import json
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclasses.dataclass
class LinearAttentionConfig:
  feature_map: str = "l2norm"  # l2norm | elu1 | relu | identity
  normalize: bool = False
  group_size: int = 64
  local_weight: str = "relu2"
  conv_taps: int = 32
  global_factor: bool = True
  rope: bool = True


@dataclasses.dataclass
class ModelConfig:
  vocab_size: int = 8192
  hidden_size: int = 384
  intermediate_size: int = 1024
  num_hidden_layers: int = 8
  num_attention_heads: int = 6
  num_key_value_heads: int = 6
  head_dim: int = 64
  rms_norm_eps: float = 1e-5
  rope_theta: float = 10000.0
  tie_word_embeddings: bool = True
  bos_token_id: int = 0
  eos_token_id: int = 1
  max_position_embeddings: int = 4096
  linear_attention: LinearAttentionConfig = dataclasses.field(
      default_factory=LinearAttentionConfig)

  def to_hf_dict(self):
    la = dataclasses.asdict(self.linear_attention)
    return {
        "architectures": ["LinearLlamaForCausalLM"],
        "model_type": "linear_llama",
        "hidden_size": self.hidden_size,
        "intermediate_size": self.intermediate_size,
        "num_hidden_layers": self.num_hidden_layers,
        "num_attention_heads": self.num_attention_heads,
        "num_key_value_heads": self.num_key_value_heads,
        "head_dim": self.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": self.rms_norm_eps,
        "rope_theta": self.rope_theta,
        "vocab_size": self.vocab_size,
        "tie_word_embeddings": self.tie_word_embeddings,
        "bos_token_id": self.bos_token_id,
        "eos_token_id": self.eos_token_id,
        "max_position_embeddings": self.max_position_embeddings,
        "torch_dtype": "bfloat16",
        "linear_attention": la,
    }


def feature_map(x, kind):
  if kind == "l2norm":
    return F.normalize(x, p=2.0, dim=-1, eps=1e-12)
  if kind == "elu1":
    return F.elu(x) + 1.0
  if kind == "relu":
    return F.relu(x)
  if kind == "identity":
    return x
  raise ValueError("unknown feature_map " + kind)


def rope_cos_sin(positions, head_dim, theta, device):
  """HF LLaMA RoPE tables in fp32: [T, head_dim] each."""
  inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=device)
                              .float() / head_dim))
  freqs = positions.float()[:, None] * inv_freq[None, :]
  emb = torch.cat((freqs, freqs), dim=-1)
  return emb.cos(), emb.sin()


def rotate_half(x):
  half = x.shape[-1] // 2
  return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, cos, sin):
  return x * cos + rotate_half(x) * sin


class RMSNorm(nn.Module):

  def __init__(self, dim, eps):
    super().__init__()
    self.weight = nn.Parameter(torch.ones(dim))
    self.eps = eps

  def forward(self, x):
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
    return (self.weight.float() * x).to(dtype)


def causal_conv(v, w):
  """v: [B, Hkv, T, d]; w: [Hkv, C]. conv_t = sum_j w[j] v[t-C+1+j] (zero padded)."""
  b, hkv, t, d = v.shape
  c = w.shape[1]
  x = v.permute(0, 1, 3, 2).reshape(b, hkv * d, t)
  x = F.pad(x, (c - 1, 0))
  weight = w.to(x.dtype).repeat_interleave(d, dim=0).unsqueeze(1)  # [Hkv*d, 1, C]
  y = F.conv1d(x, weight, groups=hkv * d)
  return y.reshape(b, hkv, d, t).permute(0, 1, 3, 2)


class LinearAttention(nn.Module):

  def __init__(self, cfg: ModelConfig):
    super().__init__()
    self.cfg = cfg
    la = cfg.linear_attention
    h, hkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    self.q_proj = nn.Linear(cfg.hidden_size, h * d, bias=False)
    self.k_proj = nn.Linear(cfg.hidden_size, hkv * d, bias=False)
    self.v_proj = nn.Linear(cfg.hidden_size, hkv * d, bias=False)
    self.o_proj = nn.Linear(h * d, cfg.hidden_size, bias=False)
    if la.group_size > 0 and la.conv_taps > 0:
      self.conv = nn.Module()
      self.conv.weight = nn.Parameter(torch.zeros(hkv, la.conv_taps))
    else:
      self.conv = None
    if la.group_size > 0 and la.global_factor:
      self.global_factor = nn.Parameter(torch.full((1,), 0.25))
    else:
      self.global_factor = None

  def qkv(self, x, cos, sin):
    """Returns q^ [B,H,T,d] fp32, k^ [B,Hkv,T,d] fp32, v [B,Hkv,T,d]."""
    cfg = self.cfg
    b, t, _ = x.shape
    h, hkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    q = self.q_proj(x).view(b, t, h, d).transpose(1, 2).float()
    k = self.k_proj(x).view(b, t, hkv, d).transpose(1, 2).float()
    v = self.v_proj(x).view(b, t, hkv, d).transpose(1, 2)
    if cfg.linear_attention.rope:
      q = apply_rope(q, cos, sin)
      k = apply_rope(k, cos, sin)
    fm = cfg.linear_attention.feature_map
    return feature_map(q, fm), feature_map(k, fm), v

  def forward(self, x, cos, sin):
    cfg = self.cfg
    la = cfg.linear_attention
    b, t, _ = x.shape
    h, hkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    rep = h // hkv
    q, k, v = self.qkv(x, cos, sin)
    ke = k.repeat_interleave(rep, dim=1) if rep > 1 else k
    ve = v.repeat_interleave(rep, dim=1) if rep > 1 else v
    cdt = v.dtype if not torch.is_autocast_enabled() else torch.bfloat16
    if la.group_size > 0:
      o = self._augmented(q.to(cdt), ke.to(cdt), ve.to(cdt), la.group_size)
      if self.conv is not None:
        c = causal_conv(v.float(), self.conv.weight.float())
        o = o + (c.repeat_interleave(rep, dim=1) if rep > 1 else c)
    else:
      o = self._plain(q.to(cdt), ke.to(cdt), ve.to(cdt), la.normalize)
    o = o.to(x.dtype).transpose(1, 2).reshape(b, t, h * d)
    return self.o_proj(o)

  def _augmented(self, q, k, v, g):
    b, h, t, d = q.shape
    pad = (-t) % g
    if pad:  # zero rows after the end never influence earlier (causal) outputs
      q, k, v = (F.pad(z, (0, 0, 0, pad)) for z in (q, k, v))
    n = (t + pad) // g
    qg = q.view(b, h, n, g, d)
    kg = k.view(b, h, n, g, d)
    vg = v.view(b, h, n, g, d)
    s = qg @ kg.transpose(-1, -2)  # [b,h,n,g,g]
    mask = torch.ones(g, g, dtype=torch.bool, device=q.device).tril()
    w = torch.where(mask, F.relu(s).square(), torch.zeros((), dtype=s.dtype, device=s.device))
    local = (w @ vg).float()
    kv = (kg.transpose(-1, -2) @ vg).float()  # [b,h,n,d,d] per-group sum of k (x) v
    state = torch.cumsum(kv, dim=2) - kv  # exclusive: groups strictly before
    glob = qg.float() @ state if not torch.is_autocast_enabled() else (qg @ state.to(qg.dtype)).float()
    gamma = self.global_factor.float() if self.global_factor is not None else 1.0
    o = local + gamma * glob
    return o.reshape(b, h, n * g, d)[:, :, :t]

  def _plain(self, q, k, v, normalize):
    t = q.shape[2]
    s = q @ k.transpose(-1, -2)
    mask = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    a = torch.where(mask, s, torch.zeros((), dtype=s.dtype, device=s.device))
    o = (a @ v).float()
    if normalize:
      o = o / a.float().sum(-1, keepdim=True).clamp_min(1e-6)
    return o


class MLP(nn.Module):

  def __init__(self, cfg):
    super().__init__()
    self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
    self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
    self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

  def forward(self, x):
    return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):

  def __init__(self, cfg, dropout):
    super().__init__()
    self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
    self.self_attn = LinearAttention(cfg)
    self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
    self.mlp = MLP(cfg)
    self.dropout = dropout

  def forward(self, x, cos, sin):
    a = self.self_attn(self.input_layernorm(x), cos, sin)
    x = x + F.dropout(a, self.dropout, self.training)
    m = self.mlp(self.post_attention_layernorm(x))
    return x + F.dropout(m, self.dropout, self.training)


class Backbone(nn.Module):

  def __init__(self, cfg, dropout):
    super().__init__()
    self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
    self.layers = nn.ModuleList(DecoderLayer(cfg, dropout) for _ in range(cfg.num_hidden_layers))
    self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class LinearLlamaForCausalLM(nn.Module):

  def __init__(self, cfg: ModelConfig, dropout: float = 0.0):
    super().__init__()
    self.cfg = cfg
    self.model = Backbone(cfg, dropout)
    self.lm_head = None if cfg.tie_word_embeddings else nn.Linear(
        cfg.hidden_size, cfg.vocab_size, bias=False)
    self._init_weights()

  def _init_weights(self):
    std = 0.02
    out_std = std / math.sqrt(2 * self.cfg.num_hidden_layers)
    for name, p in self.named_parameters():
      if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
        continue
      if name.endswith("conv.weight") or name.endswith("global_factor"):
        continue
      if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
        nn.init.normal_(p, 0.0, out_std)
      else:
        nn.init.normal_(p, 0.0, std)

  def num_params(self):
    return sum(p.numel() for p in self.parameters())

  def hidden(self, ids):
    t = ids.shape[1]
    pos = torch.arange(t, device=ids.device)
    cos, sin = rope_cos_sin(pos, self.cfg.head_dim, self.cfg.rope_theta, ids.device)
    x = self.model.embed_tokens(ids)
    for layer in self.model.layers:
      x = layer(x, cos, sin)
    return self.model.norm(x)

  def head(self, hid):
    w = self.model.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
    return hid @ w.to(hid.dtype).t() if not torch.is_autocast_enabled() else F.linear(hid, w)

  def forward(self, ids):
    return self.head(self.hidden(ids))

  def hf_state_dict(self):
    """Tensors under the engine's (HF LLaMA) names."""
    out = {}
    for name, p in self.state_dict().items():
      if name.endswith("global_factor"):
        out[name] = p.reshape(1)
      else:
        out[name] = p
    return out


def config_from_hf(d):
  la = LinearAttentionConfig(**d["linear_attention"])
  fields = {f.name for f in dataclasses.fields(ModelConfig)} - {"linear_attention"}
  return ModelConfig(linear_attention=la, **{k: v for k, v in d.items() if k in fields})


@torch.no_grad()
def recurrent_logits(model: LinearLlamaForCausalLM, ids):
  """Token-by-token fp32 reference straight from DESIGN.md §2/§3 (slow). ids: list[int]."""
  cfg = model.cfg
  la = cfg.linear_attention
  h, hkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
  rep = h // hkv
  dev = model.model.embed_tokens.weight.device
  nl = cfg.num_hidden_layers
  S = [torch.zeros(hkv, d, d, device=dev) for _ in range(nl)]
  z = [torch.zeros(hkv, d, device=dev) for _ in range(nl)]
  window = [[] for _ in range(nl)]  # (k^ [hkv,d], v [hkv,d]) of the current group
  vhist = [[] for _ in range(nl)]  # all v (conv reads the last C)
  out = []
  for t, tok in enumerate(ids):
    pos = torch.tensor([t], device=dev)
    cos, sin = rope_cos_sin(pos, d, cfg.rope_theta, dev)
    x = model.model.embed_tokens.weight[tok].float()[None, None, :]
    for li, layer in enumerate(model.model.layers):
      attn = layer.self_attn
      q, k, v = attn.qkv(layer.input_layernorm(x), cos, sin)
      q, k, v = q[0, :, 0], k[0, :, 0], v[0, :, 0].float()  # [h,d],[hkv,d],[hkv,d]
      o = torch.zeros(h, d, device=dev)
      if la.group_size > 0:
        if t % la.group_size == 0 and window[li]:
          for kk, vv in window[li]:
            S[li] += kk[:, :, None] * vv[:, None, :]
          window[li] = []
        window[li].append((k, v))
        vhist[li].append(v)
        gamma = attn.global_factor.float() if attn.global_factor is not None else 1.0
        for hh in range(h):
          g = hh // rep
          loc = torch.zeros(d, device=dev)
          for kk, vv in window[li]:
            loc += F.relu(q[hh] @ kk[g]).square() * vv[g]
          o[hh] = loc + gamma * (q[hh] @ S[li][g])
          if attn.conv is not None:
            c = attn.conv.weight.shape[1]
            w = attn.conv.weight.float()[g]
            for j in range(c):
              src = t - c + 1 + j
              if src >= 0:
                o[hh] += w[j] * vhist[li][src][g]
      else:
        S[li] += k[:, :, None] * v[:, None, :]
        z[li] += k
        for hh in range(h):
          g = hh // rep
          num = q[hh] @ S[li][g]
          o[hh] = num / (q[hh] @ z[li][g]).clamp_min(1e-6) if la.normalize else num
      a = attn.o_proj(o.reshape(1, 1, h * d))
      x = x + a
      x = x + layer.mlp(layer.post_attention_layernorm(x))
    out.append(model.head(model.model.norm(x))[0, 0])
  return torch.stack(out)
