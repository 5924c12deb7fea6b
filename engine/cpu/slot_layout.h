// Memory layout of one CPU state slot (DESIGN.md §3), all fp32, per layer:
//
//   S      [kv_heads, d, d]    folded state Σ k̂ ⊗ v over tokens before `base`
//   z      [kv_heads, d]       Σ k̂ before `base` (only when normalize)
//   ring   [kv_heads, R, d]    v of positions [base - R, base), R = conv_taps - 1 (zeros < 0)
//   buf_k  [kv_heads, cap, d]  k̂ of tokens [base, base + window + pending)
//   buf_v  [kv_heads, cap, d]  v  of the same tokens
//
// The buffer holds the committed-but-unfolded window first, then the pending tokens.
// Counters (SlotCursor) are kept outside the float block: position P (committed tokens),
// window W, pending Pn; base = P - W.
//
// Folding is lazy: Commit(n) only moves the cursor (W += n, Pn = 0). At the start of the
// next Forward the slot folds its committed window: complete groups for the augmented
// variant (so W < G afterwards), every committed token for the plain one (W = 0; this is the
// "replay" of DESIGN.md §3). A committed (prefill/decode) chunk folds eagerly at its end.
// Hence cap = (G - 1) + max_pending (augmented) or max_pending (plain).
#ifndef LINSPEC_ENGINE_CPU_SLOT_LAYOUT_H_
#define LINSPEC_ENGINE_CPU_SLOT_LAYOUT_H_

#include <algorithm>
#include <cstdint>

#include "engine/model_config.h"

namespace linspec::engine::cpu {

struct SlotCursor {
  int64_t position = 0;  // committed tokens
  int window = 0;        // committed tokens not folded into S (at the front of the buffer)
  int pending = 0;       // pending tokens after the window
  int64_t base() const { return position - window; }
};

// Views of one (layer, KV head) of a slot.
struct HeadSlot {
  float* state = nullptr;  // [d, d]
  float* z = nullptr;      // [d] or null
  float* ring = nullptr;   // [R, d]
  float* buf_k = nullptr;  // [cap, d]
  float* buf_v = nullptr;  // [cap, d]
};

class SlotLayout {
 public:
  SlotLayout(const ModelConfig& c, int max_pending)
      : layers_(c.num_hidden_layers),
        kv_(c.num_key_value_heads),
        d_(c.head_dim),
        ring_(std::max(c.linear_attention.conv_taps - 1, 0)),
        cap_(c.augmented() ? c.linear_attention.group_size - 1 + max_pending : max_pending),
        normalize_(c.linear_attention.normalize) {
    s_ = int64_t{kv_} * d_ * d_;
    z_ = normalize_ ? int64_t{kv_} * d_ : 0;
    r_ = int64_t{kv_} * ring_ * d_;
    b_ = int64_t{kv_} * cap_ * d_;
    layer_ = s_ + z_ + r_ + 2 * b_;
  }

  int64_t slot_floats() const { return layer_ * layers_; }
  int64_t slot_bytes() const { return slot_floats() * static_cast<int64_t>(sizeof(float)); }
  int capacity() const { return cap_; }
  int ring_len() const { return ring_; }

  HeadSlot Head(float* slot, int layer, int kv_head) const {
    float* l = slot + layer * layer_;
    HeadSlot h;
    h.state = l + int64_t{kv_head} * d_ * d_;
    h.z = normalize_ ? l + s_ + int64_t{kv_head} * d_ : nullptr;
    h.ring = l + s_ + z_ + int64_t{kv_head} * ring_ * d_;
    h.buf_k = l + s_ + z_ + r_ + int64_t{kv_head} * cap_ * d_;
    h.buf_v = h.buf_k + b_;
    return h;
  }

 private:
  int layers_, kv_, d_, ring_, cap_;
  bool normalize_;
  int64_t s_, z_, r_, b_, layer_;
};

}  // namespace linspec::engine::cpu

#endif  // LINSPEC_ENGINE_CPU_SLOT_LAYOUT_H_
