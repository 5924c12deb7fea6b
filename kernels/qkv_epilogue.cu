#include "kernels/device_common.cuh"
#include "kernels/qkv_epilogue.h"
#include "kernels/qkv_math.cuh"

namespace linspec::kernels {
namespace {

using detail::ApplyFeature;

// One block per (row, head of q/k/v); thread i handles the rotation pair (i, i + half).
__global__ void QkvEpilogueKernel(const float* __restrict__ partials, int splits,
                                  const int32_t* __restrict__ positions,
                                  const double* __restrict__ inv_freq, FeatureMapKind fm,
                                  float* __restrict__ q_out, float* __restrict__ k_out,
                                  float* __restrict__ v_out, int rows, int heads, int kv_heads,
                                  int head_dim) {
  __shared__ float scratch[32];
  detail::PdlWait();
  detail::PdlTrigger();
  const int r = blockIdx.x, h = blockIdx.y;
  const int half = head_dim / 2;
  const int width = (heads + 2 * kv_heads) * head_dim;
  const size_t split_stride = static_cast<size_t>(rows) * width;
  const size_t base = static_cast<size_t>(r) * width + static_cast<size_t>(h) * head_dim;
  const int i = threadIdx.x;
  const bool active = i < half;
  float a = 0.f, b = 0.f;
  if (active) {
    a = detail::SumSplits(partials, splits, split_stride, base + i);
    b = detail::SumSplits(partials, splits, split_stride, base + i + half);
  }
  float* dst;
  if (h >= heads + kv_heads) {  // v: copied as is
    if (active) {
      dst = v_out + (static_cast<size_t>(r) * kv_heads + (h - heads - kv_heads)) * head_dim;
      dst[i] = a;
      dst[i + half] = b;
    }
    return;
  }
  dst = h < heads ? q_out + (static_cast<size_t>(r) * heads + h) * head_dim
                  : k_out + (static_cast<size_t>(r) * kv_heads + (h - heads)) * head_dim;
  if (active && inv_freq) {
    const float2 cs = detail::RopeCosSin(positions[r], inv_freq[i]);
    const float c = cs.x, s = cs.y;
    const float ra = a * c - b * s;  // x * cos + rotate_half(x) * sin, rotate_half = (-x2, x1)
    const float rb = b * c + a * s;
    a = ra;
    b = rb;
  }
  if (fm == FeatureMapKind::kL2Norm) {
    const float ss = detail::BlockSum(active ? a * a + b * b : 0.f, scratch);
    const float inv = 1.f / fmaxf(sqrtf(ss), 1e-12f);
    a *= inv;
    b *= inv;
  } else {
    a = ApplyFeature(fm, a);
    b = ApplyFeature(fm, b);
  }
  if (active) {
    dst[i] = a;
    dst[i + half] = b;
  }
}

__global__ void RopeTableKernel(const int32_t* __restrict__ positions,
                                const double* __restrict__ inv_freq, int rows, int half,
                                float2* __restrict__ table) {
  detail::PdlWait();
  detail::PdlTrigger();
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= rows * half) return;
  const int r = idx / half;
  table[idx] = detail::RopeCosSin(positions[r], inv_freq[idx - r * half]);
}

}  // namespace

cudaError_t RopeTable(const int32_t* positions, const double* inv_freq, int rows, int head_dim,
                      float2* table, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  if (head_dim % 2 != 0 || inv_freq == nullptr) return cudaErrorInvalidValue;
  const int half = head_dim / 2, threads = 256;
  const int blocks = (rows * half + threads - 1) / threads;
  return detail::Launch(RopeTableKernel, dim3(blocks), threads, 0, stream, positions, inv_freq,
                        rows, half, table);
}

cudaError_t QkvEpilogue(const float* partials, int splits, const int32_t* positions,
                        const double* inv_freq, FeatureMapKind feature_map, float* q_out,
                        float* k_out, float* v_out, int rows, int heads, int kv_heads, int head_dim,
                        cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  if (head_dim % 2 != 0 || head_dim > 256) return cudaErrorInvalidValue;
  const int threads = ((head_dim / 2 + 31) / 32) * 32;
  dim3 grid(rows, heads + 2 * kv_heads);
  return detail::Launch(QkvEpilogueKernel, grid, threads, 0, stream, partials, splits, positions,
                        inv_freq, feature_map, q_out, k_out, v_out, rows, heads, kv_heads,
                        head_dim);
}

}  // namespace linspec::kernels
