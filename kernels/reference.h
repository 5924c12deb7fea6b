// CPU twins of the CUDA kernels: the same operations on host fp32 buffers, written as the
// plain sequential math of DESIGN.md §2/§3 (the linear-attention twin steps token by token,
// not in segments). The GPU parity tests (tests/gpu/) compare every kernel against these.
// CUDA-free; thread-compatible (no shared state).
#ifndef LINSPEC_KERNELS_REFERENCE_H_
#define LINSPEC_KERNELS_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "kernels/linear_attention.h"
#include "kernels/qkv_epilogue.h"

namespace linspec::kernels::ref {

void EmbeddingGather(const float* table, const int32_t* tokens, float* x, int rows, int dim);

void AddRmsNorm(float* x, const float* partials, int splits, const float* weight, float* out,
                const int32_t* out_row_map, int rows, int dim, float eps);

void SwiGlu(const float* partials, int splits, float* out, int rows, int ffn);

void LogitsArgmax(const float* partials, int splits, float* logits_out, int32_t* argmax_out,
                  int rows, int vocab);

// out[m, n] = x[m, k] . w[n, k]^T, accumulated in double.
void Gemm(const float* w, const float* x, float* out, int m, int n, int k);

void QkvEpilogue(const float* partials, int splits, const int32_t* positions,
                 const double* inv_freq, FeatureMapKind feature_map, float* q_out, float* k_out,
                 float* v_out, int rows, int heads, int kv_heads, int head_dim);

// Same contract as kernels::LinearAttentionStep, with every pointer (seqs included) on the
// host and out as fp32.
void LinearAttentionStep(const LinearAttentionParams& p);

// RoPE frequencies as the engine uploads them: theta^(-2i / head_dim) in double.
std::vector<double> RopeInvFreq(int head_dim, float theta);

}  // namespace linspec::kernels::ref

#endif  // LINSPEC_KERNELS_REFERENCE_H_
