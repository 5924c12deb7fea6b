// Chunk-parallel linear attention for long committed chunks (prefill), the parallel twin of
// LinearAttentionStep for those sequences (same slot contract, same outputs and final S / z).
//
// A sequence's positions [fold_pos, end) are cut into blocks of C = ChunkedBlockSize tokens
// (augmented: whole groups). Three launches:
//   1. per (block, kv head): dS_b = sum of k^T v over the block's keys that fold (plain: all;
//      augmented: complete groups), dz_b likewise;
//   2. per (sequence, kv head): exclusive prefix S_b = S_0 + sum of earlier dS (in place in the
//      scratch), final S / z into the slot;
//   3. per (block, kv head): every new token's output from S_b and the block's keys:
//        plain      o_t = scale * (q_t S_b + sum_{s<=t} (q_t.k_s) v_s) [/ max(q_t z_b + sum q.k,
//        1e-6)] augmented  o_t = gamma q_t S_b + sum_{s<=t} w_ts v_s + conv_t, w = relu(q.k)^2 in
//        t's
//                   group, gamma q.k in earlier groups of the block.
// Blocks are independent in launches 1 and 3, so a 2048-token prompt runs as 32 x kv_heads
// blocks instead of kv_heads sequential ones. The ring is not touched: call
// LinearAttentionRingStore afterwards. q/k/v must be computed already (no fused epilogue).
//
// Requirements (ChunkedSupported): every sequence committed (commit_pos = start_pos + num_new),
// head_dim in {16, 32, 64, 128}, group_size <= 64 when augmented.
#ifndef LINSPEC_KERNELS_LINEAR_ATTENTION_CHUNKED_H_
#define LINSPEC_KERNELS_LINEAR_ATTENTION_CHUNKED_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/linear_attention.h"

namespace linspec::kernels {

// Tokens per block: 64 for plain; the largest multiple of the group size <= 64 when augmented.
int ChunkedBlockSize(int group_size);
bool ChunkedSupported(int head_dim, int group_size);
// Blocks of one sequence.
inline int ChunkedNumBlocks(const LinearAttentionSeq& s, int block_size) {
  return (s.start_pos + s.num_new - s.fold_pos + block_size - 1) / block_size;
}

struct ChunkedAttention {
  LinearAttentionParams p;                   // seqs / num_seqs: the chunked sequences only
  const int32_t* block_seq = nullptr;        // [num_blocks] index into p.seqs (device)
  const int32_t* seq_first_block = nullptr;  // [num_seqs] first block of each sequence (device)
  int num_blocks = 0;
  float* scratch = nullptr;  // [num_blocks, kv_heads, D * D + D] fp32
};

// Floats of scratch for num_blocks blocks.
size_t ChunkedScratchFloats(int num_blocks, int kv_heads, int head_dim);

cudaError_t LinearAttentionChunked(const ChunkedAttention& a, cudaStream_t stream);

}  // namespace linspec::kernels

#endif  // LINSPEC_KERNELS_LINEAR_ATTENTION_CHUNKED_H_
