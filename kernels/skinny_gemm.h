// Split-K skinny GEMM for small batches: partials[s] = x · w^T over the s-th K slice.
//
// The decode step multiplies a few activation rows by every weight matrix, so it is bound by
// reading the weights. cuBLAS reaches ~34% of copy bandwidth there (DESIGN.md §7); this
// kernel streams each weight element once with 16-byte loads, many in flight, and uses the
// tensor cores (mma.sync m16n8k16, "swap AB": weights are the M operand) so batches up to 64
// rows cost about the same as one row.
//
// Buffers (all device, row-major):
//   w:        [n, k]            bf16 or f16
//   x:        [m, k]            same dtype as w
//   partials: [splits, m, n]    fp32, every element written; consumers sum the splits in order
// Requirements: 1 <= m <= kSkinnyMaxRows, k % 32 == 0, n >= 1, splits >= 1 (clamped so every
// split has at least 32 columns). The result is deterministic and independent of m for each row.
#ifndef LINSPEC_KERNELS_SKINNY_GEMM_H_
#define LINSPEC_KERNELS_SKINNY_GEMM_H_

#include <cuda_runtime_api.h>

#include "kernels/dtype.h"

namespace linspec::kernels {

inline constexpr int kSkinnyMaxRows = 64;

// The split count the launcher actually uses for a requested one (k slices are multiples of
// 32 and bounded by shared memory); `partials` must hold EffectiveSplits(...) * m * n floats.
int SkinnyGemmEffectiveSplits(int m, int k, int requested_splits);

// A split count that fills the device: about 3 blocks per multiprocessor.
int SkinnyGemmDefaultSplits(int m, int n, int k, int num_sms);

// Kernel variants (all write the same partial layout; for the same effective split count every
// variant gives bitwise the same result). kSkinnyClassic loads the whole activation slice
// before the first mma and refills its weight registers in batches of 4 chunks; the pipelined
// ones keep a rolling window of weight loads in flight and overlap the activation load
// (cp.async) with the first mma: 4 or 8 warps (128 / 256 weight rows per block), 4 or 8 chunks
// in flight per lane; the tiled ones stream weights and activations through a shared-memory
// ring (cp.async, 64 k per stage), so the activation slice need not stay resident; they return
// cudaErrorInvalidConfiguration where the device cannot give them up to 160 KB of smem; the
// narrow tiled ones (1 or 2 warps: 32 / 64 weight rows per block) fill the device with fewer
// k splits, so consumers that sum a row's partials in one block re-read fewer slices. OR
// kSkinnyEvictFirst into a pipelined variant to stream the weights with an L2 evict-first policy.
inline constexpr int kSkinnyClassic = 0;
inline constexpr int kSkinnyPipelined4 = 1;
inline constexpr int kSkinnyPipelined8 = 2;
inline constexpr int kSkinnyPipelined4Deep = 3;
inline constexpr int kSkinnyTiled4 = 4;  // weights + activations via a 4-stage cp.async ring
inline constexpr int kSkinnyTiled8 = 5;  // the same with 8 warps (256 weight rows per block)
inline constexpr int kSkinnyTiled1 = 6;  // ... with 1 warp (32 weight rows per block)
inline constexpr int kSkinnyTiled2 = 7;  // ... with 2 warps (64 weight rows per block)
inline constexpr int kSkinnyVariants = 8;
inline constexpr int kSkinnyEvictFirst = 16;

cudaError_t SkinnyGemm(const void* w, const void* x, float* partials, int m, int n, int k,
                       int splits, DType dtype, cudaStream_t stream, int variant = kSkinnyClassic);

// The down projection with SwiGLU fused into the activation load:
//   x[r, i] = silu(g) * u (rounded to dtype), g/u = sum_s gu_partials[s][r][i / ffn + i],
//   gu_partials: [gu_splits, m, 2 * k] fp32 (gate columns, then up columns). Same result as
//   SwiGlu followed by SkinnyGemm; worth it for m <= kSkinnySwiGluMaxRows (each block re-reads
//   its slice of the partials).
inline constexpr int kSkinnySwiGluMaxRows = 8;
cudaError_t SkinnyGemmSwiGlu(const void* w, const float* gu_partials, int gu_splits,
                             float* partials, int m, int n, int k, int splits, DType dtype,
                             cudaStream_t stream);

}  // namespace linspec::kernels

#endif  // LINSPEC_KERNELS_SKINNY_GEMM_H_
