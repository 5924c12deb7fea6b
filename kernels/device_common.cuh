// Device helpers shared by the kernels (internal; included by .cu files only).
#ifndef LINSPEC_KERNELS_DEVICE_COMMON_CUH_
#define LINSPEC_KERNELS_DEVICE_COMMON_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/dtype.h"
#include "kernels/launch.h"

namespace linspec::kernels::detail {

__device__ __forceinline__ float ToFloat(float x) { return x; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float ToFloat(__half x) { return __half2float(x); }

template <typename T>
__device__ __forceinline__ T FromFloat(float x);
template <>
__device__ __forceinline__ float FromFloat<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float x) {
  return __float2bfloat16(x);
}
template <>
__device__ __forceinline__ __half FromFloat<__half>(float x) {
  return __float2half(x);
}

// Writes one element of an activation buffer of dtype `dtype` (one 4- or 2-byte store).
__device__ __forceinline__ void StoreOut(void* out, DType dtype, size_t index, float v) {
  if (dtype == DType::kF32) {
    static_cast<float*>(out)[index] = v;
  } else if (dtype == DType::kBF16) {
    static_cast<__nv_bfloat16*>(out)[index] = __float2bfloat16(v);
  } else {
    static_cast<__half*>(out)[index] = __float2half(v);
  }
}

// Sums the split-K partial products of a GEMM: partials [splits, rows, cols] fp32.
__device__ __forceinline__ float SumSplits(const float* partials, int splits, size_t split_stride,
                                           size_t index) {
  float s = 0.f;
#pragma unroll 8
  for (int i = 0; i < splits; ++i) s += partials[i * split_stride + index];
  return s;
}

// SumSplits for four consecutive columns: p4 = the float4 at `index` of split 0, split_stride4
// in float4s; the same per-element order and result.
__device__ __forceinline__ float4 SumSplits4(const float4* p4, int splits, size_t split_stride4) {
  float4 t = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 16
  for (int i = 0; i < splits; ++i) {
    const float4 u = p4[i * split_stride4];
    t.x += u.x;
    t.y += u.y;
    t.z += u.z;
    t.w += u.w;
  }
  return t;
}

// The SwiGLU activation silu(g) * u of a gate and an up value.
__device__ __forceinline__ float SwiGluAct(float g, float u) { return g / (1.f + expf(-g)) * u; }

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Block-wide sum; `scratch` holds at least 32 floats. All threads get the result.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
  v = WarpSum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < nwarps ? scratch[lane] : 0.f;
  return WarpSum(t);
}

// A 16-byte load of immutable data (weights) that streams past L1.
__device__ __forceinline__ uint4 LoadStream(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}

// 16-byte global -> shared copies that bypass registers (sm_80+): issue, commit a group, wait
// until at most N groups are pending (for this thread; __syncthreads() for the block's).
// c += a . b on the tensor cores (mma.sync m16n8k16, fp32 accumulators): a is the 16 x 16
// fragment of 16-bit T (rows lane / 4 and lane / 4 + 8), b the 16 x 8 one (column lane / 4).
template <typename T>
__device__ __forceinline__ void Mma(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                    uint32_t a3, uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
}
// The same, zero-filling the 16 bytes instead when !valid.
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem),
               "r"(valid ? 16 : 0)
               : "memory");
}
// The same with an L2 cache policy (e.g. L2EvictFirst() for data read once).
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem, bool valid,
                                          uint64_t policy) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(s),
               "l"(gmem), "r"(valid ? 16 : 0), "l"(policy)
               : "memory");
}
__device__ __forceinline__ uint64_t L2EvictFirst() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}
__device__ __forceinline__ void CpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
// Waits until at most min(pending, N) of this thread's groups are pending (a runtime count).
template <int N>
__device__ __forceinline__ void CpAsyncWaitPending(int pending) {
  if constexpr (N == 0) {
    CpAsyncWait<0>();
  } else {
    if (pending >= N) {
      CpAsyncWait<N>();
    } else {
      CpAsyncWaitPending<N - 1>(pending);
    }
  }
}

// Programmatic dependent launch (Hopper): a kernel launched with the PDL attribute may start
// while its predecessor finishes. Everything before PdlWait() must read only immutable data
// (weights); every kernel calls PdlWait() before touching anything a predecessor writes, so
// the chain stays ordered transitively. No-ops before sm_90 or without the attribute.
__device__ __forceinline__ void PdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void PdlTrigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// cudaLaunchKernelEx with `nattr` launch attributes.
template <typename... KArgs, typename... Args>
cudaError_t LaunchWith(cudaLaunchAttribute* attr, int nattr, void (*kernel)(KArgs...), dim3 grid,
                       dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = nattr;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

// Launches with the PDL attribute when enabled (SetProgrammaticDependentLaunch).
template <typename... KArgs, typename... Args>
cudaError_t Launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  return LaunchWith(attr, ProgrammaticDependentLaunch() ? 1 : 0, kernel, grid, block, smem, stream,
                    std::forward<Args>(args)...);
}

// A cooperative launch (every block resident at once, so grid-wide barriers are safe) with
// `smem` bytes of dynamic shared memory, which the kernel is first allowed.
template <typename... KArgs, typename... Args>
cudaError_t LaunchCooperative(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                              cudaStream_t stream, Args&&... args) {
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem));
  if (e != cudaSuccess) return e;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  return LaunchWith(attr, 1, kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

// Calls f(std::integral_constant<int, D>{}) for a head dimension D in {16, 32, 64, 128};
// cudaErrorInvalidValue for any other.
template <typename F>
cudaError_t DispatchHeadDim(int head_dim, F&& f) {
  switch (head_dim) {
    case 16:
      return f(std::integral_constant<int, 16>{});
    case 32:
      return f(std::integral_constant<int, 32>{});
    case 64:
      return f(std::integral_constant<int, 64>{});
    case 128:
      return f(std::integral_constant<int, 128>{});
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace linspec::kernels::detail

// Dispatches on a DType to a typed lambda body: LINSPEC_DISPATCH_DTYPE(dt, T, { ... }).
#define LINSPEC_DISPATCH_DTYPE(dt, T, ...)   \
  switch (dt) {                              \
    case ::linspec::kernels::DType::kF32: {  \
      using T = float;                       \
      __VA_ARGS__;                           \
    } break;                                 \
    case ::linspec::kernels::DType::kBF16: { \
      using T = __nv_bfloat16;               \
      __VA_ARGS__;                           \
    } break;                                 \
    case ::linspec::kernels::DType::kF16: {  \
      using T = __half;                      \
      __VA_ARGS__;                           \
    } break;                                 \
  }

#endif  // LINSPEC_KERNELS_DEVICE_COMMON_CUH_
