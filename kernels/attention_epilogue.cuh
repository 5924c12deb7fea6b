// The QKV epilogue inside the attention kernels (internal; included by .cu files only): one
// block computes q (its kv head's query heads), k^ and v of a sequence's new tokens from the
// fused projection's split-K partials, exactly as QkvEpilogue does, into p.q / p.k / p.v.
#ifndef LINSPEC_KERNELS_ATTENTION_EPILOGUE_CUH_
#define LINSPEC_KERNELS_ATTENTION_EPILOGUE_CUH_

#include "kernels/linear_attention.h"
#include "kernels/qkv_math.cuh"

namespace linspec::kernels::detail {

// Warp `warp` of `nwarps` takes every nwarps-th head vector; the caller syncs the block after.
__device__ __forceinline__ void FusedQkvEpilogue(const LinearAttentionParams& p,
                                                 const LinearAttentionSeq& sq, int h, int warp,
                                                 int nwarps, int lane) {
  const int D = p.head_dim, qpk = p.heads / p.kv_heads;
  const int width = (p.heads + 2 * p.kv_heads) * D;
  const size_t split_stride = static_cast<size_t>(p.qkv_rows) * width;
  const int per_token = qpk + 2;
  for (int vi = warp; vi < sq.num_new * per_token; vi += nwarps) {
    const int t = vi / per_token, which = vi - t * per_token;
    const size_t row = static_cast<size_t>(sq.token_offset) + t;
    int col_head;
    float* dst;
    if (which < qpk) {
      col_head = h * qpk + which;
      dst = p.q + (row * p.heads + col_head) * D;
    } else if (which == qpk) {
      col_head = p.heads + h;
      dst = p.k + (row * p.kv_heads + h) * D;
    } else {
      col_head = p.heads + p.kv_heads + h;
      dst = p.v + (row * p.kv_heads + h) * D;
    }
    EpilogueHeadWarp(p.qkv_partials, p.qkv_splits, split_stride,
                     row * width + static_cast<size_t>(col_head) * D, D, which > qpk,
                     RopeOf(p.rope, row, D, sq.start_pos + t, p.inv_freq), p.feature_map, dst,
                     lane);
  }
}

// The same for a one-token sequence, into the caller's buffers (shared memory) instead of
// p.q / p.k / p.v: q_dst [qpk][D], k_dst [D], v_dst [D].
__device__ __forceinline__ void FusedQkvEpilogueOneToken(const LinearAttentionParams& p,
                                                         const LinearAttentionSeq& sq, int h,
                                                         int warp, int nwarps, int lane,
                                                         float* q_dst, float* k_dst, float* v_dst) {
  const int D = p.head_dim, qpk = p.heads / p.kv_heads;
  const int width = (p.heads + 2 * p.kv_heads) * D;
  const size_t split_stride = static_cast<size_t>(p.qkv_rows) * width;
  const size_t row = sq.token_offset;
  for (int which = warp; which < qpk + 2; which += nwarps) {
    const int col_head = which < qpk    ? h * qpk + which
                         : which == qpk ? p.heads + h
                                        : p.heads + p.kv_heads + h;
    float* dst = which < qpk ? q_dst + which * D : which == qpk ? k_dst : v_dst;
    EpilogueHeadWarp(p.qkv_partials, p.qkv_splits, split_stride,
                     row * width + static_cast<size_t>(col_head) * D, D, which > qpk,
                     RopeOf(p.rope, row, D, sq.start_pos, p.inv_freq), p.feature_map, dst, lane);
  }
}

}  // namespace linspec::kernels::detail

#endif  // LINSPEC_KERNELS_ATTENTION_EPILOGUE_CUH_
