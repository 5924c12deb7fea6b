// The q/k/v epilogue math of one head vector, shared by QkvEpilogue and the fused path of
// LinearAttentionStep (internal; included by .cu files only).
#ifndef LINSPEC_KERNELS_QKV_MATH_CUH_
#define LINSPEC_KERNELS_QKV_MATH_CUH_

#include "kernels/device_common.cuh"
#include "kernels/qkv_epilogue.h"

namespace linspec::kernels::detail {

__device__ __forceinline__ float ApplyFeature(FeatureMapKind fm, float x) {
  switch (fm) {
    case FeatureMapKind::kElu1:
      return x > 0.f ? x + 1.f : expf(x);
    case FeatureMapKind::kRelu:
      return fmaxf(x, 0.f);
    default:
      return x;
  }
}

// One warp: dst[0..d) = phi(RoPE(sum_s partials[s][base..base+d))) (v: no RoPE/phi).
// d <= 64 * kPairs; the rotate-half pair (i, i + d/2) stays in one lane.
template <int kPairs = 4>
__device__ __forceinline__ void EpilogueHeadWarp(const float* partials, int splits,
                                                 size_t split_stride, size_t base, int d, bool is_v,
                                                 int pos, const double* inv_freq, FeatureMapKind fm,
                                                 float* dst, int lane) {
  const int half = d / 2;
  float a[kPairs], b[kPairs];
  float ss = 0.f;
#pragma unroll
  for (int m = 0; m < kPairs; ++m) {
    const int i = lane + 32 * m;
    a[m] = b[m] = 0.f;
    if (i >= half) continue;
    a[m] = SumSplits(partials, splits, split_stride, base + i);
    b[m] = SumSplits(partials, splits, split_stride, base + i + half);
    if (!is_v && inv_freq) {
      double sd, cd;
      sincos(static_cast<double>(pos) * inv_freq[i], &sd, &cd);
      const float s = static_cast<float>(sd), c = static_cast<float>(cd);
      const float ra = a[m] * c - b[m] * s, rb = b[m] * c + a[m] * s;
      a[m] = ra;
      b[m] = rb;
    }
    ss += a[m] * a[m] + b[m] * b[m];
  }
  float scale = 1.f;
  if (!is_v && fm == FeatureMapKind::kL2Norm) scale = 1.f / fmaxf(sqrtf(WarpSum(ss)), 1e-12f);
#pragma unroll
  for (int m = 0; m < kPairs; ++m) {
    const int i = lane + 32 * m;
    if (i >= half) continue;
    float x = a[m], y = b[m];
    if (!is_v) {
      if (fm == FeatureMapKind::kL2Norm) {
        x *= scale;
        y *= scale;
      } else {
        x = ApplyFeature(fm, x);
        y = ApplyFeature(fm, y);
      }
    }
    dst[i] = x;
    dst[i + half] = y;
  }
}

}  // namespace linspec::kernels::detail

#endif  // LINSPEC_KERNELS_QKV_MATH_CUH_
