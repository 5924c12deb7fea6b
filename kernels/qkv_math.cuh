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

// RoPE's (cos, sin) of the angle pos * inv_freq, in double as the CPU backend computes them
// (RopeTable's entries, or computed in place).
__device__ __forceinline__ float2 RopeCosSin(int pos, double inv_freq) {
  double sd, cd;
  sincos(static_cast<double>(pos) * inv_freq, &sd, &cd);
  return make_float2(static_cast<float>(cd), static_cast<float>(sd));
}

// Where a head vector's RoPE angles come from: the token row's RopeTable entries [d / 2]
// (table), else RopeCosSin(pos, inv_freq[i]); neither: no RoPE.
struct Rope {
  const float2* table;
  int pos;
  const double* inv_freq;
  __device__ __forceinline__ bool on() const { return table != nullptr || inv_freq != nullptr; }
  __device__ __forceinline__ float2 at(int i) const {
    return table ? __ldcg(table + i) : RopeCosSin(pos, inv_freq[i]);
  }
};

// rope of token row `row` at position pos: the step's RopeTable [rows][d / 2] when there is one.
__device__ __forceinline__ Rope RopeOf(const float2* table, size_t row, int d, int pos,
                                       const double* inv_freq) {
  return Rope{table ? table + row * (d / 2) : nullptr, pos, inv_freq};
}

// A Rope's angles of pairs lane and lane + 32 (what EpilogueHeadWarp<2> asks of lane `lane`),
// read ahead: their loads then share a round trip with the caller's.
struct LaneRope {
  float2 cs[2];
  bool enabled;
  __device__ __forceinline__ bool on() const { return enabled; }
  __device__ __forceinline__ float2 at(int i) const { return cs[i >> 5]; }
};
__device__ __forceinline__ LaneRope LaneRopeOf(const Rope& rope, int lane, int half) {
  LaneRope r;
  r.enabled = rope.on();
#pragma unroll
  for (int m = 0; m < 2; ++m) {
    const int i = lane + 32 * m;
    r.cs[m] = r.enabled && i < half ? rope.at(i) : make_float2(1.f, 0.f);
  }
  return r;
}

// One warp: dst[0..d) = phi(RoPE(sum_s partials[s][base..base+d))) (v: no RoPE/phi).
// d <= 64 * kPairs; the rotate-half pair (i, i + d/2) stays in one lane. R: Rope, or LaneRope
// (kPairs 2).
template <int kPairs = 4, typename R = Rope>
__device__ __forceinline__ void EpilogueHeadWarp(const float* partials, int splits,
                                                 size_t split_stride, size_t base, int d, bool is_v,
                                                 const R& rope, FeatureMapKind fm, float* dst,
                                                 int lane) {
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
    if (!is_v && rope.on()) {
      const float2 cs = rope.at(i);
      const float c = cs.x, s = cs.y;
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
