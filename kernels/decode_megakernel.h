// The one-kernel decode step for small batches (DESIGN.md §6): embedding, every layer (RMSNorm,
// QKV projection, RoPE + feature map, the linear-attention decode step with its ring write and
// fold, o projection + residual, RMSNorm, gate/up projection + SwiGLU, down projection +
// residual), the final norm, the LM head and the greedy argmax, in one persistent launch of one
// block per multiprocessor. Phases are separated by grid-wide barriers instead of kernel
// boundaries, so a step of a latency-bound batch (B <= kMegaMaxRows) pays ~5 barriers per layer
// instead of ~8 dependent launches. Each projection is a GEMV whose work is spread over every
// warp of the device: for one row, rows of the weights per warp with full-length dot products
// on the CUDA cores (no split-K partials); for 2..kMegaMaxRows rows, 16-row tiles on the tensor
// cores (the activation rows as the mma's N operand) with the k range split over a block's
// warps and summed in shared memory in a fixed order, so that extra rows cost no extra pass.
//
// Scope: plain linear attention without a normalizer, or the augmented variant (local groups
// of group_size <= kDecodeMaxGroup, the conv on v); bf16 or fp16 weights; per sequence one new
// token or a verify / draft chunk, as MegaChunkOk admits them (every token an output row);
// shared memory for the window (MegaSmemBytes). Writes the greedy tokens and, when asked, the
// logits (which the engine's sampling kernel then reads). Same math and the same slot updates
// (S on a completed group, ring rows of the new tokens) as the layer-by-layer path
// (LinearAttentionDecode, LinearAttentionStep and friends); only the order of fp32 sums differs.
// The engine takes it for steps of one or two sequences by default (LINSPEC_CUDA_MEGA): on the
// H100 it beats the layer kernels there, not from 3 sequences (bench/cuda_notes.md, session 9).
#ifndef LINSPEC_KERNELS_DECODE_MEGAKERNEL_H_
#define LINSPEC_KERNELS_DECODE_MEGAKERNEL_H_

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/linear_attention.h"
#include "kernels/qkv_epilogue.h"

namespace linspec::kernels {

inline constexpr int kMegaMaxRows = 8;

// One layer's weights (dtype of the step) and slot arrays (fp32), as LinearAttentionParams.
struct MegaLayer {
  const void* qkv = nullptr;       // [(heads + 2 kv_heads) * head_dim, hidden]
  const void* o = nullptr;         // [hidden, heads * head_dim]
  const void* gate_up = nullptr;   // [2 * ffn, hidden]: gate rows, then up rows
  const void* down = nullptr;      // [hidden, ffn]
  const float* in_norm = nullptr;  // norm gains [hidden]: 16-byte aligned, as final_norm
  const float* post_norm = nullptr;
  const float* conv = nullptr;  // [kv_heads, conv_taps] fp32 (augmented), or null
  float* state = nullptr;
  float* ring_k = nullptr;
  float* ring_v = nullptr;
  float gamma = 1.f;
};

struct MegaParams {
  int rows = 0;      // tokens of the step, <= kMegaMaxRows
  int num_seqs = 0;  // sequences: one token each (decode) or a pending chunk (verify)
  int hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, ffn = 0, vocab = 0, num_layers = 0;
  int ring_size = 0;
  int group_size = 0;  // augmented: the local group (window <= group_size); 0: plain
  int conv_taps = 0;   // augmented: taps of the conv on v (MegaLayer::conv); 0: none
  float eps = 1e-5f;
  FeatureMapKind feature_map = FeatureMapKind::kL2Norm;
  const double* inv_freq = nullptr;           // [head_dim / 2]; null: no RoPE
  const MegaLayer* layers = nullptr;          // device [num_layers]
  const void* embed = nullptr;                // [vocab, hidden]
  const void* lm_head = nullptr;              // [vocab, hidden]
  const float* final_norm = nullptr;          // 16-byte aligned (read as float4)
  const int32_t* tokens = nullptr;            // device [rows]
  const LinearAttentionSeq* seqs = nullptr;   // device [num_seqs]; MegaChunkOk
  float* residual = nullptr;                  // [rows, hidden] scratch
  float* qkv = nullptr;                       // [rows, (heads + 2 kv_heads) * head_dim] scratch
  void* attn = nullptr;                       // [rows, heads * head_dim] dtype scratch
  void* mlp = nullptr;                        // [rows, ffn] dtype scratch
  unsigned long long* argmax_keys = nullptr;  // [rows] scratch
  unsigned int* barrier = nullptr;            // the barrier counter, zeroed by DecodeMegakernel
  int32_t* argmax_out = nullptr;              // [rows]
  float* logits = nullptr;                    // [rows, vocab] fp32, or null: not written
  float2* rope = nullptr;  // [rows, head_dim / 2] scratch for the step's RoPE table, or null
  // Attention items per block whose slot data is copied at a layer's start (1 or 2; the
  // shared memory grows by one item's window, S columns and v columns per buffer).
  int slot_buffers = 1;
  // The tensor-core instance's split-K sum slots (1 or 2; 2 lets a block's warps run a tile
  // further ahead of the tile's sum; 16 KB each).
  int red_slots = 2;
  // One-row steps on the tensor-core instance too (measurements; more rows always take it).
  bool tensor_cores = false;
};

// Attention work items are (sequence, kv head, block of kMegaColumnBlock v columns of S).
inline constexpr int kMegaColumnBlock = 16;
constexpr int MegaAttentionItems(const MegaParams& p) {
  return p.num_seqs * p.kv_heads * (p.head_dim / kMegaColumnBlock);
}

// Plain attention's window buffer: two 16-position segments not yet folded (a verify right
// after a commit completed one) plus a chunk.
inline constexpr int kMegaPlainWindow = 2 * kPlainSegment + kMegaMaxRows - 1;

// Whether the megakernel takes a sequence's chunk: one token as DecodeFastPathOk admits it (a
// decode step, folding its window when its token completes a group), or a chunk of 2..
// kMegaMaxRows tokens (a verify or draft step) whose window and ring rows fit (ColumnSplitSafe)
// and whose tokens share one local group that folds nothing (augmented: the window is their
// group), or fit kMegaPlainWindow with the unfolded tokens, folding at most one segment of
// committed ones (plain).
inline bool MegaChunkOk(const LinearAttentionSeq& s, int group_size, int conv_taps, int heads,
                        int kv_heads, int ring_size) {
  if (s.num_new == 1) return DecodeFastPathOk(s, group_size, heads, kv_heads);
  if (s.num_new < 1 || s.num_new > kMegaMaxRows || kv_heads <= 0 ||
      heads / kv_heads > kDecodeMaxQueryHeads ||
      FoldPosAfter(s.fold_pos, s.commit_pos, group_size) - s.fold_pos >
          (group_size > 0 ? 0 : kPlainSegment)) {
    return false;
  }
  const int end = s.start_pos + s.num_new;  // one past the last token
  const int vlo = std::min(s.fold_pos, std::max(0, s.start_pos + 1 - conv_taps));
  const bool window = group_size > 0 ? (end - 1) / group_size * group_size == s.fold_pos
                                     : end - s.fold_pos <= kMegaPlainWindow;
  return window && end - vlo <= ring_size && group_size <= kDecodeMaxGroup;
}

// Whether the model shape can run the megakernel (head_dim in {16, 32, 64, 128}, widths
// multiples of 8, hidden <= 8192, at most kDecodeMaxQueryHeads query heads per kv head).
bool MegaShapeSupported(int hidden, int heads, int kv_heads, int head_dim, int ffn);

// Dynamic shared memory of a launch: the activations of the widest GEMV input (p.rows of them)
// or the attention step's buffers, and the weight rings (128 KB). Depends on the shape fields
// and rows only.
size_t MegaSmemBytes(const MegaParams& p);

// Queues the barrier reset and the kernel: `blocks` <= the multiprocessors (every block must be
// resident at once; the launch is cooperative). dtype: kBF16 or kF16.
cudaError_t DecodeMegakernel(const MegaParams& p, DType dtype, int blocks, cudaStream_t stream);

}  // namespace linspec::kernels

#endif  // LINSPEC_KERNELS_DECODE_MEGAKERNEL_H_
