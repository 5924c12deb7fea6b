// The linear-attention step kernel (DESIGN.md §2, §3): one launch per layer serves decode,
// verify, draft and prefill chunks of every sequence in the batch.
//
// Per sequence the tokens are L = [fold_pos, start_pos) from the slot's ring (committed but
// not yet folded into S, plus earlier pending tokens) followed by the num_new new tokens from
// the q/k/v buffers. The kernel reads S (and z) once, computes the outputs of the new tokens
// exactly as sequential decoding would, folds every completed segment made only of committed
// tokens (< commit_pos) into S, writes S once (only if something was folded), and writes the
// new tokens' k^/v into the ring. Pending tokens never change S: rejection is a cursor move.
//
// Segments are fixed groups aligned to position 0, folded into S only once complete and
// committed: augmented (group_size > 0) = the model's groups of G positions (local weight
// relu(q.k)^2); plain = groups of kPlainSegment = 16 positions (weight q.k, the same math as
// folding token by token). Plain attention therefore writes S once per 16 committed tokens, not
// every step: a T = 1 decode step reads S and at most 15 ring rows and writes S only when its
// token completes a group (DESIGN.md §3's "read once, written at most once per step").
//
// Slot layout (device, fp32), slot-major:
//   state:  [slots, kv_heads, D, D]      S, row = k dim, col = v dim
//   z:      [slots, kv_heads, D]         sum of k^ (normalize only; else null)
//   ring_k: [slots, ring_size, kv_heads, D]   k^ of position p at row p % ring_size
//   ring_v: [slots, ring_size, kv_heads, D]
// Step buffers:
//   q: [tokens, heads, D] fp32 (q^), k/v: [tokens, kv_heads, D] fp32 (inputs, or outputs of
//   the fused epilogue), out: [tokens, heads, D] out_dtype
//   conv_w: [kv_heads, conv_taps] fp32 (conv_taps == 0: none)
// ring_size must be >= max_pending + max(group_size, conv_taps, 1) (RingSizeFor) and every
// sequence's start_pos - fold_pos <= ring_size - num_new... see RingSizeFor.
// D (head_dim) in {16, 32, 64, 128}.
#ifndef LINSPEC_KERNELS_LINEAR_ATTENTION_H_
#define LINSPEC_KERNELS_LINEAR_ATTENTION_H_

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/qkv_epilogue.h"

namespace linspec::kernels {

struct LinearAttentionSeq {
  int32_t slot = 0;
  int32_t token_offset = 0;  // row of the first new token in q/k/v/out
  int32_t num_new = 0;
  int32_t fold_pos = 0;    // first position not folded into S (group-aligned when augmented)
  int32_t start_pos = 0;   // position of the first new token
  int32_t commit_pos = 0;  // positions < commit_pos are committed after this step
};

struct LinearAttentionParams {
  int num_seqs = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int group_size = 0;
  int conv_taps = 0;
  int ring_size = 0;
  bool normalize = false;
  float global_scale = 1.f;
  const LinearAttentionSeq* seqs = nullptr;  // device [num_seqs]
  float* state = nullptr;
  float* z = nullptr;
  float* ring_k = nullptr;
  float* ring_v = nullptr;
  const float* conv_w = nullptr;
  float* q = nullptr;
  float* k = nullptr;
  float* v = nullptr;
  // Fused QKV epilogue: when set, the kernel first computes q/k/v of the new tokens from the
  // fused projection's split-K partials [qkv_splits, qkv_rows, (heads + 2 kv_heads) * D]
  // exactly as QkvEpilogue does (positions start_pos + i), writing them to q/k/v.
  const float* qkv_partials = nullptr;
  int qkv_splits = 0;
  int qkv_rows = 0;
  const double* inv_freq = nullptr;  // [D / 2]; null: no RoPE
  // The step's RoPE table (RopeTable: [qkv_rows][D / 2] (cos, sin) of each row's position),
  // read instead of computing the angles from inv_freq; null: computed in place.
  const float2* rope = nullptr;
  FeatureMapKind feature_map = FeatureMapKind::kL2Norm;
  void* out = nullptr;
  DType out_dtype = DType::kF32;
  // Column blocks per (sequence, kv head): 1, 2, 4 or 8 (<= head_dim / 2). More blocks stream
  // S when the batch is small (and split long prefill chunks 8 ways). The column blocks of a
  // head read whole k^ rows of the ring that another may overwrite: > 1 needs every sequence
  // ColumnSplitSafe, or defer_ring_write.
  int column_split = 1;
  // The kernel leaves the ring alone; LinearAttentionRingStore (launched after it, same
  // params) writes the new tokens' k^/v there. Any chunk length is then safe to split.
  bool defer_ring_write = false;
  // LinearAttentionStep asks for the window's ring rows by cp.async before the dependency wait
  // (false: plain loads).
  bool step_async_ring = true;
  // LinearAttentionDecode's S ring depth in 16-row stages (2, 3 or 4; 0: 3).
  int decode_stages = 0;
};

inline constexpr int kPlainSegment = 16;

// Ring rows a slot needs for max_pending pending tokens.
inline int RingSizeFor(int group_size, int conv_taps, int max_pending) {
  return 2 * max_pending + std::max({group_size, conv_taps, kPlainSegment});
}

// Positions per folded segment: the model's group, or kPlainSegment for plain attention.
inline int FoldGroup(int group_size) { return group_size > 0 ? group_size : kPlainSegment; }

// fold_pos after a step (the host mirror of the kernel's folding rule): the start of the group
// holding commit_pos.
inline int64_t FoldPosAfter(int64_t fold_pos, int64_t commit_pos, int group_size) {
  const int g = FoldGroup(group_size);
  return std::max(fold_pos, commit_pos / g * g);
}

// True when a one-token step's committed token completes its segment of `cap` positions, so
// the step folds its window into S (the decode kernels' rule; constexpr: callable on the device
// under --expt-relaxed-constexpr).
constexpr bool OneTokenStepFolds(const LinearAttentionSeq& s, int cap) {
  return s.commit_pos == s.start_pos + 1 && (s.start_pos + 1) % cap == 0;
}

// True when the sequence's ring reads and writes cannot alias: every decode, verify and draft
// step (RingSizeFor), and prefill chunks no longer than the ring.
inline bool ColumnSplitSafe(const LinearAttentionSeq& s, int ring_size) {
  return s.start_pos - s.fold_pos + s.num_new <= ring_size;
}

// The smallest power-of-two column split (<= max_split, <= head_dim / 2) that gives at least
// min_blocks blocks for `pairs` (sequence, kv head) pairs.
inline int ChooseColumnSplit(int pairs, int head_dim, int min_blocks, int max_split) {
  int nc = 1;
  while (nc * 2 <= std::min({max_split, 8, head_dim / 2}) && pairs * nc < min_blocks) nc *= 2;
  return nc;
}

cudaError_t LinearAttentionStep(const LinearAttentionParams& p, cudaStream_t stream);

// The one-token decode step: every sequence carries one new token (a decode step or a draft
// append) whose window [fold_pos, start_pos] is one segment, and folds at most that window
// (a committed token completing its group). This is the common step: light blocks (one per
// sequence and kv head, many per multiprocessor) stream S once, read-only unless the group
// completes, then S is updated in the same pass. Same outputs, S, z and ring write as
// LinearAttentionStep (the fused QKV epilogue included). Requires DecodeFastPathOk for every
// sequence; column_split and defer_ring_write are ignored.
inline constexpr int kDecodeMaxQueryHeads = 8;  // query heads per kv head
inline constexpr int kDecodeMaxGroup = 128;     // window + S ring <= 227 KB of smem
inline bool DecodeFastPathOk(const LinearAttentionSeq& s, int group_size, int heads, int kv_heads) {
  const int64_t after = FoldPosAfter(s.fold_pos, s.commit_pos, group_size);
  const bool folds_window = after == s.start_pos + 1 && s.commit_pos == s.start_pos + 1;
  return s.num_new == 1 && (after == s.fold_pos || folds_window) &&
         s.start_pos + 1 - s.fold_pos <= FoldGroup(group_size) && kv_heads > 0 &&
         heads / kv_heads <= kDecodeMaxQueryHeads && FoldGroup(group_size) <= kDecodeMaxGroup;
}
cudaError_t LinearAttentionDecode(const LinearAttentionParams& p, cudaStream_t stream);

// LinearAttentionDecode's dynamic shared memory: its S ring (`stages` stages of
// kDecodeStageRows rows), q of the kv head's query heads, the window's k^ and v, the window
// weights and the denominators. Every step DecodeFastPathOk admits fits in Hopper's 227 KB.
inline constexpr int kDecodeStageRows = 16;
inline size_t DecodeSmemBytes(int head_dim, int query_per_kv, int group_size, int stages) {
  const size_t d = head_dim, q = query_per_kv, cap = FoldGroup(group_size);
  return sizeof(float) * (stages * kDecodeStageRows * d + q * d + 2 * cap * d + q * cap + q);
}

// The ring write of a step run with defer_ring_write: the last ring_size new tokens' k^/v of
// every sequence into its slot's ring.
cudaError_t LinearAttentionRingStore(const LinearAttentionParams& p, cudaStream_t stream);

}  // namespace linspec::kernels

#endif  // LINSPEC_KERNELS_LINEAR_ATTENTION_H_
