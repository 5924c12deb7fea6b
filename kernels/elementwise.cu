#include <algorithm>
#include <cstdlib>

#include "kernels/device_common.cuh"
#include "kernels/elementwise.h"

namespace linspec::kernels {
namespace {

using detail::FromFloat;
using detail::SumSplits;
using detail::ToFloat;

template <typename T>
__global__ void EmbeddingKernel(const T* __restrict__ table, const int32_t* __restrict__ tokens,
                                float* __restrict__ x, int dim) {
  detail::PdlWait();
  detail::PdlTrigger();
  const int r = blockIdx.x;
  const T* src = table + static_cast<size_t>(tokens[r]) * dim;
  float* dst = x + static_cast<size_t>(r) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = ToFloat(src[i]);
}

// AddRmsNormKernel for dim % 4 == 0: thread i owns the float4 chunks i, i + blockDim, ...
// Sums the splits in split order (as SumSplits does), then adds them to x.
template <typename W, typename O>
__device__ __forceinline__ void AddRmsNormVec4(float* xr, const float* partials, int splits,
                                               size_t split_stride, size_t row_off, const W* weight,
                                               O* out, const int32_t* out_row_map, int r, int dim,
                                               float eps, float* scratch) {
  float4* x4 = reinterpret_cast<float4*>(xr);
  const int n4 = dim / 4;
  float ss = 0.f;
  for (int i = threadIdx.x; i < n4; i += blockDim.x) {
    float4 v = x4[i];
    if (splits > 0) {
      const float4 t = detail::SumSplits4(reinterpret_cast<const float4*>(partials + row_off) + i,
                                          splits, split_stride / 4);
      v = make_float4(v.x + t.x, v.y + t.y, v.z + t.z, v.w + t.w);
      x4[i] = v;
    }
    ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
  }
  ss = detail::BlockSum(ss, scratch);
  const int orow = out_row_map ? out_row_map[r] : r;
  if (orow < 0) return;
  const float inv = rsqrtf(ss / dim + eps);
  O* o = out + static_cast<size_t>(orow) * dim;
  for (int i = threadIdx.x; i < n4; i += blockDim.x) {
    const float4 v = x4[i];
    o[4 * i] = FromFloat<O>(v.x * inv * ToFloat(weight[4 * i]));
    o[4 * i + 1] = FromFloat<O>(v.y * inv * ToFloat(weight[4 * i + 1]));
    o[4 * i + 2] = FromFloat<O>(v.z * inv * ToFloat(weight[4 * i + 2]));
    o[4 * i + 3] = FromFloat<O>(v.w * inv * ToFloat(weight[4 * i + 3]));
  }
}

template <typename W, typename O>
__global__ void AddRmsNormKernel(float* __restrict__ x, const float* __restrict__ partials,
                                 int splits, const W* __restrict__ weight, O* __restrict__ out,
                                 const int32_t* __restrict__ out_row_map, int rows, int dim,
                                 float eps, bool vec4) {
  __shared__ float scratch[32];
  detail::PdlWait();
  detail::PdlTrigger();
  const int r = blockIdx.x;
  float* xr = x + static_cast<size_t>(r) * dim;
  const size_t split_stride = static_cast<size_t>(rows) * dim;
  float ss = 0.f;
  if (vec4) {  // dim % 4 == 0: float4 path: every split's load of a chunk in flight at once
    AddRmsNormVec4(xr, partials, splits, split_stride, static_cast<size_t>(r) * dim, weight, out,
                   out_row_map, r, dim, eps, scratch);
    return;
  }
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float v = xr[i];
    if (splits > 0) {
      v += SumSplits(partials, splits, split_stride, static_cast<size_t>(r) * dim + i);
      xr[i] = v;
    }
    ss += v * v;
  }
  ss = detail::BlockSum(ss, scratch);
  const int orow = out_row_map ? out_row_map[r] : r;
  if (orow < 0) return;
  const float inv = rsqrtf(ss / dim + eps);
  O* o = out + static_cast<size_t>(orow) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    o[i] = FromFloat<O>(xr[i] * inv * ToFloat(weight[i]));
  }
}

template <typename O>
__global__ void SwiGluKernel(const float* __restrict__ partials, int splits, O* __restrict__ out,
                             int rows, int ffn) {
  detail::PdlWait();
  detail::PdlTrigger();
  const size_t total = static_cast<size_t>(rows) * ffn;
  const size_t split_stride = total * 2;
  for (size_t idx = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = idx / ffn, i = idx - r * ffn;
    const float g = SumSplits(partials, splits, split_stride, r * 2 * ffn + i);
    const float u = SumSplits(partials, splits, split_stride, r * 2 * ffn + ffn + i);
    out[idx] = FromFloat<O>(detail::SwiGluAct(g, u));
  }
}

// SwiGluKernel for ffn % 4 == 0: four columns per thread by float4 (same math per element).
template <typename O>
__global__ void SwiGlu4Kernel(const float* __restrict__ partials, int splits, O* __restrict__ out,
                              int rows, int ffn) {
  detail::PdlWait();
  detail::PdlTrigger();
  const int f4 = ffn / 4;
  const size_t total4 = static_cast<size_t>(rows) * f4;
  const size_t split_stride4 = total4 * 2;
  const float4* p4 = reinterpret_cast<const float4*>(partials);
  for (size_t idx = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; idx < total4;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = idx / f4, i = idx - r * f4;
    const float4 g = detail::SumSplits4(p4 + r * 2 * f4 + i, splits, split_stride4);
    const float4 u = detail::SumSplits4(p4 + r * 2 * f4 + f4 + i, splits, split_stride4);
    O* o = out + idx * 4;
    o[0] = FromFloat<O>(detail::SwiGluAct(g.x, u.x));
    o[1] = FromFloat<O>(detail::SwiGluAct(g.y, u.y));
    o[2] = FromFloat<O>(detail::SwiGluAct(g.z, u.z));
    o[3] = FromFloat<O>(detail::SwiGluAct(g.w, u.w));
  }
}

__global__ void LogitsArgmaxKernel(const float* __restrict__ partials, int splits,
                                   float* __restrict__ logits_out, int32_t* __restrict__ argmax_out,
                                   int rows, int vocab) {
  __shared__ float best_v[32];
  __shared__ int best_i[32];
  detail::PdlWait();
  detail::PdlTrigger();
  const int r = blockIdx.x;
  const size_t split_stride = static_cast<size_t>(rows) * vocab;
  float bv = -INFINITY;
  int bi = 0x7fffffff;
  // kUnroll columns per thread per pass: their split loads are all in flight before the first
  // compare (one block per row reads the whole vocabulary).
  constexpr int kUnroll = 4;
  const size_t row_off = static_cast<size_t>(r) * vocab;
  for (int i0 = threadIdx.x; i0 < vocab; i0 += kUnroll * blockDim.x) {
    float v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = i0 + u * blockDim.x;
      v[u] = i < vocab ? SumSplits(partials, splits, split_stride, row_off + i) : 0.f;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = i0 + u * blockDim.x;
      if (i >= vocab) break;
      if (logits_out) logits_out[row_off + i] = v[u];
      if (v[u] > bv || (v[u] == bv && i < bi)) {
        bv = v[u];
        bi = i;
      }
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > bv || (ov == bv && oi < bi)) {
      bv = ov;
      bi = oi;
    }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    best_v[warp] = bv;
    best_i[warp] = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
      if (best_v[w] > bv || (best_v[w] == bv && best_i[w] < bi)) {
        bv = best_v[w];
        bi = best_i[w];
      }
    }
    argmax_out[r] = bi == 0x7fffffff ? 0 : bi;
  }
}

// The float4 norm path (LINSPEC_CUDA_NORM_VEC4=0 turns it off for A/B runs).
bool NormVec4(int dim) {
  static const bool enabled = [] {
    const char* e = std::getenv("LINSPEC_CUDA_NORM_VEC4");
    return !(e && e[0] == '0');
  }();
  return enabled && dim % 4 == 0;
}

// The float4 SwiGLU path (LINSPEC_CUDA_SWIGLU_VEC4=0 turns it off for A/B runs).
bool SwiGluVec4() {
  static const bool enabled = [] {
    const char* e = std::getenv("LINSPEC_CUDA_SWIGLU_VEC4");
    return !(e && e[0] == '0');
  }();
  return enabled;
}

int NormThreads(int dim) {
  if (NormVec4(dim)) return std::clamp((dim / 4 + 31) / 32 * 32, 128, 1024);  // one float4 each
  return dim >= 1024 ? 1024 : dim >= 256 ? 256 : 128;
}

}  // namespace

cudaError_t EmbeddingGather(const void* table, DType table_dtype, const int32_t* tokens, float* x,
                            int rows, int dim, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  cudaError_t e = cudaErrorInvalidValue;
  LINSPEC_DISPATCH_DTYPE(table_dtype, T, {
    e = detail::Launch(EmbeddingKernel<T>, rows, 256, 0, stream, static_cast<const T*>(table),
                       tokens, x, dim);
  });
  return e;
}

cudaError_t AddRmsNorm(float* x, const float* partials, int splits, const void* weight,
                       DType weight_dtype, void* out, DType out_dtype, const int32_t* out_row_map,
                       int rows, int dim, float eps, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const int threads = NormThreads(dim);
  cudaError_t e = cudaErrorInvalidValue;
  LINSPEC_DISPATCH_DTYPE(weight_dtype, W, {
    LINSPEC_DISPATCH_DTYPE(out_dtype, O, {
      e = detail::Launch(AddRmsNormKernel<W, O>, rows, threads, 0, stream, x, partials, splits,
                         static_cast<const W*>(weight), static_cast<O*>(out), out_row_map, rows,
                         dim, eps, NormVec4(dim));
    });
  });
  return e;
}

cudaError_t SwiGlu(const float* partials, int splits, void* out, DType out_dtype, int rows, int ffn,
                   cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const size_t total = static_cast<size_t>(rows) * ffn;
  cudaError_t e = cudaErrorInvalidValue;
  if (ffn % 4 == 0 && SwiGluVec4()) {
    const int blocks = static_cast<int>(std::min<size_t>((total / 4 + 255) / 256, 4096));
    LINSPEC_DISPATCH_DTYPE(out_dtype, O, {
      e = detail::Launch(SwiGlu4Kernel<O>, blocks, 256, 0, stream, partials, splits,
                         static_cast<O*>(out), rows, ffn);
    });
    return e;
  }
  const int blocks = static_cast<int>(std::min<size_t>((total + 255) / 256, 4096));
  LINSPEC_DISPATCH_DTYPE(out_dtype, O, {
    e = detail::Launch(SwiGluKernel<O>, blocks, 256, 0, stream, partials, splits,
                       static_cast<O*>(out), rows, ffn);
  });
  return e;
}

cudaError_t LogitsArgmax(const float* partials, int splits, float* logits_out, int32_t* argmax_out,
                         int rows, int vocab, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  return detail::Launch(LogitsArgmaxKernel, rows, 1024, 0, stream, partials, splits, logits_out,
                        argmax_out, rows, vocab);
}

}  // namespace linspec::kernels
