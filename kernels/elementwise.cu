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

template <typename W, typename O>
__global__ void AddRmsNormKernel(float* __restrict__ x, const float* __restrict__ partials,
                                 int splits, const W* __restrict__ weight, O* __restrict__ out,
                                 const int32_t* __restrict__ out_row_map, int rows, int dim,
                                 float eps) {
  __shared__ float scratch[32];
  detail::PdlWait();
  detail::PdlTrigger();
  const int r = blockIdx.x;
  float* xr = x + static_cast<size_t>(r) * dim;
  const size_t split_stride = static_cast<size_t>(rows) * dim;
  float ss = 0.f;
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
    out[idx] = FromFloat<O>(g / (1.f + expf(-g)) * u);
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
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const size_t idx = static_cast<size_t>(r) * vocab + i;
    const float v = SumSplits(partials, splits, split_stride, idx);
    if (logits_out) logits_out[idx] = v;
    if (v > bv || (v == bv && i < bi)) {
      bv = v;
      bi = i;
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

int NormThreads(int dim) { return dim >= 1024 ? 1024 : dim >= 256 ? 256 : 128; }

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
                         dim, eps);
    });
  });
  return e;
}

cudaError_t SwiGlu(const float* partials, int splits, void* out, DType out_dtype, int rows, int ffn,
                   cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const size_t total = static_cast<size_t>(rows) * ffn;
  const int blocks = static_cast<int>(std::min<size_t>((total + 255) / 256, 4096));
  cudaError_t e = cudaErrorInvalidValue;
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
