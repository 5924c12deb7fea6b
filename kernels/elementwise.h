// Row-wise kernels of the decoder step: embedding gather, residual add + RMSNorm, SwiGLU.
// Every launcher returns the launch error (cudaSuccess when queued); buffers are device
// pointers, row-major. GEMM outputs arrive as split-K partials [splits, rows, cols] fp32
// (see skinny_gemm.h) and are summed here, in split order, so no separate reduction runs.
#ifndef LINSPEC_KERNELS_ELEMENTWISE_H_
#define LINSPEC_KERNELS_ELEMENTWISE_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/dtype.h"

namespace linspec::kernels {

// x[r, :] = table[tokens[r], :] as fp32.
//   table: [vocab, dim] table_dtype; tokens: [rows] int32 (already validated < vocab);
//   x: [rows, dim] fp32.
cudaError_t EmbeddingGather(const void* table, DType table_dtype, const int32_t* tokens, float* x,
                            int rows, int dim, cudaStream_t stream);

// Residual add + RMSNorm:
//   x += sum_s partials[s]                         (when splits > 0)
//   out[map(r)] = x[r] * rsqrt(mean(x[r]^2) + eps) * weight
//   x: [rows, dim] fp32 (in/out); partials: [splits, rows, dim] fp32 or null (splits == 0);
//   weight: [dim] weight_dtype; out: [*, dim] out_dtype; out_row_map: [rows] int32 or null
//   (identity); rows whose map is < 0 get no output.
cudaError_t AddRmsNorm(float* x, const float* partials, int splits, const void* weight,
                       DType weight_dtype, void* out, DType out_dtype, const int32_t* out_row_map,
                       int rows, int dim, float eps, cudaStream_t stream);

// SwiGLU over the fused gate+up projection:
//   gu = sum_s partials[s]: [rows, 2 * ffn] fp32, gate = gu[:, :ffn], up = gu[:, ffn:]
//   out[r, i] = silu(gate[r, i]) * up[r, i]: [rows, ffn] out_dtype
cudaError_t SwiGlu(const float* partials, int splits, void* out, DType out_dtype, int rows, int ffn,
                   cudaStream_t stream);

// Logits and greedy tokens:
//   logits = sum_s partials[s]: [splits, rows, vocab] -> logits_out [rows, vocab] fp32 (may be
//   null, or alias partials when splits == 1); argmax_out: [rows] int32, lowest id on ties.
cudaError_t LogitsArgmax(const float* partials, int splits, float* logits_out, int32_t* argmax_out,
                         int rows, int vocab, cudaStream_t stream);

}  // namespace linspec::kernels

#endif  // LINSPEC_KERNELS_ELEMENTWISE_H_
