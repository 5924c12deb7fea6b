// QKV epilogue: sums the fused q/k/v projection's split-K partials, applies RoPE
// (Hugging Face rotate-half pairs (i, i + d/2)) and the feature map to q and k.
//
//   partials:  [splits, rows, (heads + 2 * kv_heads) * head_dim] fp32 (q heads, k heads, v heads)
//   positions: [rows] int32, absolute token positions
//   inv_freq:  [head_dim / 2] fp64, RoPE frequencies theta^(-2i/d); null disables RoPE
//              (angles and sin/cos in double, as the CPU backend computes them)
//   q_out:     [rows, heads, head_dim] fp32       phi(RoPE(q))
//   k_out:     [rows, kv_heads, head_dim] fp32    phi(RoPE(k))
//   v_out:     [rows, kv_heads, head_dim] fp32
// head_dim must be even and <= 256. l2norm is x / max(||x||, 1e-12) (F.normalize).
#ifndef LINSPEC_KERNELS_QKV_EPILOGUE_H_
#define LINSPEC_KERNELS_QKV_EPILOGUE_H_

#include <cuda_runtime_api.h>
#include <vector_types.h>

#include <cstdint>

namespace linspec::kernels {

enum class FeatureMapKind { kL2Norm, kElu1, kRelu, kIdentity };

// RoPE's (cos, sin) of every row's angles, once per step instead of once per layer and head:
// table [rows, head_dim / 2] float2 = (cos, sin)(positions[r] * inv_freq[i]), computed in double
// and rounded to float exactly as the epilogues compute them in place (identical results).
cudaError_t RopeTable(const int32_t* positions, const double* inv_freq, int rows, int head_dim,
                      float2* table, cudaStream_t stream);

cudaError_t QkvEpilogue(const float* partials, int splits, const int32_t* positions,
                        const double* inv_freq, FeatureMapKind feature_map, float* q_out,
                        float* k_out, float* v_out, int rows, int heads, int kv_heads, int head_dim,
                        cudaStream_t stream);

}  // namespace linspec::kernels

#endif  // LINSPEC_KERNELS_QKV_EPILOGUE_H_
