#include "engine/cpu/linear_attention.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/ops.h"

namespace linspec::engine::cpu {
namespace {

// Positions [base, p0) live in the slot buffer, [p0, p0 + T) in the chunk rows, and
// [base - R, base) in the conv ring.
class Context {
 public:
  Context(const SlotCursor& cur, int ring_len, int d, const HeadChunk* c, const HeadSlot& h)
      : base_(cur.base()),
        p0_(cur.base() + cur.window + cur.pending),
        ring_len_(ring_len),
        d_(d),
        c_(c),
        h_(h) {}

  int64_t base() const { return base_; }
  int64_t p0() const { return p0_; }
  const float* K(int64_t s) const {
    return s < p0_ ? h_.buf_k + (s - base_) * d_ : c_->k + (s - p0_) * c_->kv_stride;
  }
  const float* V(int64_t s) const {
    return s < p0_ ? h_.buf_v + (s - base_) * d_ : c_->v + (s - p0_) * c_->kv_stride;
  }
  // v for the conv; null before position 0.
  const float* ConvV(int64_t s) const {
    if (s < 0) return nullptr;
    if (s < base_) return h_.ring + (s - (base_ - ring_len_)) * d_;
    return V(s);
  }

 private:
  int64_t base_, p0_;
  int ring_len_, d_;
  const HeadChunk* c_;
  HeadSlot h_;
};

void FoldRange(const Context& ctx, int d, int64_t from, int64_t to, float* state, float* z) {
  for (int64_t s = from; s < to; ++s) {
    const float* k = ctx.K(s);
    AddOuter(state, k, ctx.V(s), d);
    if (z != nullptr) {
      for (int i = 0; i < d; ++i) z[i] += k[i];
    }
  }
}

// Ring := v of positions [new_base - R, new_base).
void UpdateRing(const Context& ctx, int ring_len, int d, int64_t new_base, float* ring) {
  if (ring_len == 0) return;
  std::vector<float> next(static_cast<size_t>(ring_len) * d, 0.0f);
  for (int r = 0; r < ring_len; ++r) {
    const float* src = ctx.ConvV(new_base - ring_len + r);
    if (src != nullptr) std::memcpy(&next[static_cast<size_t>(r) * d], src, sizeof(float) * d);
  }
  std::memcpy(ring, next.data(), sizeof(float) * next.size());
}

// Buffer := tokens [new_base, end) (from the old buffer and/or the chunk rows).
void RebuildBuffer(const Context& ctx, int d, int64_t new_base, int64_t end, const HeadSlot& h) {
  for (int64_t s = new_base; s < end; ++s) {
    const int64_t dst = s - new_base;
    std::memmove(h.buf_k + dst * d, ctx.K(s), sizeof(float) * d);  // dst <= src in the buffer
    std::memmove(h.buf_v + dst * d, ctx.V(s), sizeof(float) * d);
  }
}

void Conv(const HeadParams& p, const Context& ctx, int64_t t, float* out) {
  const int d = p.head_dim;
  std::fill(out, out + d, 0.0f);
  for (int j = 0; j < p.conv_taps; ++j) {
    const float* v = ctx.ConvV(t - p.conv_taps + 1 + j);
    if (v == nullptr) continue;
    const float w = p.conv_w[j];
    for (int i = 0; i < d; ++i) out[i] += w * v[i];
  }
}

// Augmented outputs. Returns the materialized state (empty if none was needed) and, in
// *covered, the first position it does not include.
std::vector<float> Augmented(const HeadParams& p, const Context& ctx, const HeadChunk& c,
                             const HeadSlot& h, int64_t* covered) {
  const int d = p.head_dim, G = p.group_size;
  std::vector<float> st, conv(d), glob(d), local(d);
  const float* state = h.state;
  *covered = ctx.base();
  for (int i = 0; i < c.num_tokens; ++i) {
    const int64_t t = ctx.p0() + i;
    const int64_t gs = t - t % G;
    if (gs > *covered) {  // positions past a boundary see the old group through S
      if (st.empty()) st.assign(h.state, h.state + static_cast<int64_t>(d) * d);
      FoldRange(ctx, d, *covered, gs, st.data(), nullptr);
      *covered = gs;
      state = st.data();
    }
    Conv(p, ctx, t, conv.data());
    for (int g = 0; g < p.group_heads; ++g) {
      const float* q = c.q + i * c.q_stride + g * d;
      VecMat(q, state, d, glob.data());
      std::fill(local.begin(), local.end(), 0.0f);
      for (int64_t s = gs; s <= t; ++s) {
        const float a = std::max(Dot(q, ctx.K(s), d), 0.0f);
        const float w = a * a;
        const float* v = ctx.V(s);
        for (int j = 0; j < d; ++j) local[j] += w * v[j];
      }
      float* o = c.out + i * c.out_stride + g * d;
      for (int j = 0; j < d; ++j) o[j] = local[j] + p.gamma * glob[j] + conv[j];
    }
  }
  return st;
}

// Plain outputs: o_t = q̂·S_t (/ max(q̂·z_t, eps)), S_t including t (γ = 1 and no conv for
// parsed configs; kept general). Committed chunks
// update S/z in place (they are folded anyway); pending chunks work on a copy.
void Plain(const HeadParams& p, const Context& ctx, const HeadChunk& c, const HeadSlot& h) {
  const int d = p.head_dim;
  std::vector<float> st, zt, conv(d), lin(d);
  float* state = h.state;
  float* z = h.z;
  if (!c.commit) {
    st.assign(h.state, h.state + static_cast<int64_t>(d) * d);
    state = st.data();
    if (h.z != nullptr) {
      zt.assign(h.z, h.z + d);
      z = zt.data();
    }
    FoldRange(ctx, d, ctx.base(), ctx.p0(), state, z);
  }
  for (int i = 0; i < c.num_tokens; ++i) {
    const int64_t t = ctx.p0() + i;
    FoldRange(ctx, d, t, t + 1, state, z);
    Conv(p, ctx, t, conv.data());
    for (int g = 0; g < p.group_heads; ++g) {
      const float* q = c.q + i * c.q_stride + g * d;
      VecMat(q, state, d, lin.data());
      float* o = c.out + i * c.out_stride + g * d;
      if (p.normalize) {
        const float den = std::max(Dot(q, z, d), kNormalizeEps);
        for (int j = 0; j < d; ++j) o[j] = p.gamma * (lin[j] / den) + conv[j];
      } else {
        for (int j = 0; j < d; ++j) o[j] = p.gamma * lin[j] + conv[j];
      }
    }
  }
}

}  // namespace

int64_t FoldTarget(const HeadParams& p, const SlotCursor& cur) {
  if (p.group_size == 0) return cur.position;
  return cur.position - cur.position % p.group_size;
}

SlotCursor CursorAfterFold(const HeadParams& p, const SlotCursor& cur) {
  SlotCursor next = cur;
  const int64_t target = std::max(FoldTarget(p, cur), cur.base());
  next.window = static_cast<int>(cur.position - target);
  return next;
}

void FoldWindow(const HeadParams& p, const SlotCursor& cur, int ring_len, const HeadSlot& h) {
  const int64_t target = FoldTarget(p, cur);
  if (target <= cur.base()) return;
  const Context ctx(cur, ring_len, p.head_dim, nullptr, h);
  FoldRange(ctx, p.head_dim, cur.base(), target, h.state, h.z);
  UpdateRing(ctx, ring_len, p.head_dim, target, h.ring);
  RebuildBuffer(ctx, p.head_dim, target, ctx.p0(), h);
}

void RunChunk(const HeadParams& p, const SlotCursor& cur, int ring_len, const HeadChunk& c,
              const HeadSlot& h) {
  const int d = p.head_dim;
  const Context ctx(cur, ring_len, d, &c, h);
  const int64_t end = ctx.p0() + c.num_tokens;
  if (p.group_size == 0) {
    Plain(p, ctx, c, h);
    if (c.commit) {  // S already holds every token; only the ring moves.
      UpdateRing(ctx, ring_len, d, end, h.ring);
      return;
    }
  } else {
    int64_t covered = 0;
    std::vector<float> st = Augmented(p, ctx, c, h, &covered);
    if (c.commit) {
      const int64_t target = end - end % p.group_size;
      int64_t from = ctx.base();
      if (!st.empty()) {
        std::memcpy(h.state, st.data(), sizeof(float) * st.size());
        from = covered;
      }
      if (target > ctx.base()) {
        FoldRange(ctx, d, from, target, h.state, nullptr);
        UpdateRing(ctx, ring_len, d, target, h.ring);
      }
      RebuildBuffer(ctx, d, std::max(target, ctx.base()), end, h);
      return;
    }
  }
  for (int i = 0; i < c.num_tokens; ++i) {  // pending: append k̂, v after the buffer
    const int64_t dst = ctx.p0() - ctx.base() + i;
    std::memcpy(h.buf_k + dst * d, c.k + i * c.kv_stride, sizeof(float) * d);
    std::memcpy(h.buf_v + dst * d, c.v + i * c.kv_stride, sizeof(float) * d);
  }
}

SlotCursor CursorAfterChunk(const HeadParams& p, const SlotCursor& cur, int num_tokens,
                            bool commit) {
  SlotCursor next = cur;
  if (!commit) {
    next.pending += num_tokens;
    return next;
  }
  const int64_t end = cur.position + num_tokens;
  next.position = end;
  const int64_t target = p.group_size == 0 ? end : end - end % p.group_size;
  next.window = static_cast<int>(end - std::max(target, cur.base()));
  return next;
}

}  // namespace linspec::engine::cpu
