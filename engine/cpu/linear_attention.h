// The linear-attention core of one layer for one (sequence, KV head): the readable
// specification of DESIGN.md §2/§3 that the CUDA kernels mirror.
//
// A chunk is either committed (prefill / plain decode: outputs, then the slot advances and
// complete groups fold into S) or pending (verify / draft: outputs, then the chunk's k̂, v
// are appended to the pending area; nothing committed changes). Every output is computed
// with exactly the floating-point operations that T single-token steps would perform
// (states are materialized in the same fold order), so verify == sequential bit for bit.
// Thread-safety: calls on distinct HeadSlots may run concurrently.
#ifndef LINSPEC_ENGINE_CPU_LINEAR_ATTENTION_H_
#define LINSPEC_ENGINE_CPU_LINEAR_ATTENTION_H_

#include <cstdint>

#include "engine/cpu/slot_layout.h"

namespace linspec::engine::cpu {

struct HeadParams {
  int head_dim = 0;
  int group_heads = 1;  // query heads per KV head
  int group_size = 0;   // G; 0: plain linear attention
  int conv_taps = 0;    // C
  bool normalize = false;
  float gamma = 1.0f;             // global_factor (1 when disabled)
  const float* conv_w = nullptr;  // [C] taps of this KV head, or null
};

// Rows of one chunk for one KV head (pointers into the batch activations).
struct HeadChunk {
  const float* q = nullptr;  // token i, query head g of the group: q + i*q_stride + g*d (φ applied)
  int64_t q_stride = 0;
  const float* k = nullptr;  // token i: k + i*kv_stride (φ applied)
  const float* v = nullptr;  // token i: v + i*kv_stride
  int64_t kv_stride = 0;
  float* out = nullptr;  // token i, query head g: out + i*out_stride + g*d
  int64_t out_stride = 0;
  int num_tokens = 0;
  bool commit = false;
};

// New base after folding the committed window at the start of a Forward: the last group
// boundary <= position (augmented) or the position (plain).
int64_t FoldTarget(const HeadParams& p, const SlotCursor& cur);
// Folds [base, FoldTarget) into S (and z), refreshes the conv ring and moves the remaining
// window and pending tokens to the front of the buffer.
void FoldWindow(const HeadParams& p, const SlotCursor& cur, int ring_len, const HeadSlot& h);
SlotCursor CursorAfterFold(const HeadParams& p, const SlotCursor& cur);

// Computes the chunk's outputs and writes the slot (see the file comment). Requires
// FoldWindow to have run for this Forward; committed chunks require no pending tokens.
void RunChunk(const HeadParams& p, const SlotCursor& cur, int ring_len, const HeadChunk& c,
              const HeadSlot& h);
SlotCursor CursorAfterChunk(const HeadParams& p, const SlotCursor& cur, int num_tokens,
                            bool commit);

}  // namespace linspec::engine::cpu

#endif  // LINSPEC_ENGINE_CPU_LINEAR_ATTENTION_H_
