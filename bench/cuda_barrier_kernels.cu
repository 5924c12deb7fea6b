// The grid-barrier kernels of cuda_barrier_kernels.h.
#include <cstdint>

#include "bench/cuda_barrier_kernels.h"
#include "bench/cuda_device_timer.cuh"
#include "kernels/device_common.cuh"

namespace linspec::bench {
namespace {

constexpr int kWarps = 16, kThreads = (kWarps + 1) * 32, kControl = kWarps * 32;
constexpr int kAhead = 7, kUnits = 32;  // 7 batches of 512 bytes per warp ahead while streaming

using kernels::detail::CpAsync16;
using kernels::detail::CpAsyncCommit;
using kernels::detail::CpAsyncWait;

// Ring slots per warp: kAhead + 1, or 2 (kAhead + 1) for the burst mode.
template <BarrierMode kMode>
constexpr int kSlots = kMode == BarrierMode::kControlBurst ? 2 * (kAhead + 1) : kAhead + 1;

// The barrier under test (see BarrierMode).
template <BarrierMode kMode>
__device__ __forceinline__ void Barrier(const BarrierRun& r, unsigned int epoch, int phase) {
  if constexpr (kMode == BarrierMode::kNone) return;
  if constexpr (kMode == BarrierMode::kDrain) {
    if (threadIdx.x < kControl) CpAsyncWait<0>();
  }
  __syncthreads();
  if constexpr (kMode == BarrierMode::kBlock) return;
  constexpr bool control = kMode == BarrierMode::kControl ||
                           kMode == BarrierMode::kControlRelaxed ||
                           kMode == BarrierMode::kControlBurst;
  constexpr bool relaxed =
      kMode == BarrierMode::kThread0Relaxed || kMode == BarrierMode::kControlRelaxed;
  if (threadIdx.x == (control ? kControl : 0)) {
    const uint64_t t0 = r.times ? GlobalTimer() : 0ull;
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(r.counter) : "memory");
    const unsigned int target = epoch * gridDim.x;
    unsigned int v;
    do {
      if constexpr (relaxed) {
        asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(r.counter) : "memory");
      } else {
        asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(r.counter) : "memory");
      }
    } while (v < target);
    if constexpr (relaxed) asm volatile("fence.acq_rel.gpu;\n" ::: "memory");
    if (r.times) {
      unsigned long long* t = r.times + (static_cast<size_t>(phase) * gridDim.x + blockIdx.x) * 2;
      t[0] = t0;
      t[1] = GlobalTimer();
    }
  }
  __syncthreads();
}

template <BarrierMode kMode>
__global__ void __launch_bounds__(kThreads, 1) BarrierStream(const __grid_constant__ BarrierRun r) {
  extern __shared__ uint4 ring_all[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const bool worker = warp < kWarps;
  constexpr int kS = kSlots<kMode>;
  uint4* ring = ring_all + (worker ? warp : 0) * kS * kUnits;
  const size_t nw = static_cast<size_t>(gridDim.x) * kWarps, gw = blockIdx.x * kWarps + warp;
  const size_t mask = r.weight_bytes / 16 - 1;  // a power of two
  const uint4* w = static_cast<const uint4*>(r.weights);
  const uint64_t policy = kernels::detail::L2EvictFirst();
  size_t issued = 0;
  // Batch q of this warp: 512 bytes at ((q * nw + gw) * 32) units, so a phase's batches cover a
  // contiguous range of the buffer, as a projection's rows do.
  auto issue = [&] {
    CpAsync16(ring + (issued % kS) * kUnits + lane,
              w + (((issued * nw + gw) * kUnits + lane) & mask), true, policy);
    CpAsyncCommit();
    ++issued;
  };
  if (worker) {
    for (int i = 0; i < kAhead; ++i) issue();
  }
  // A fixed activation chunk; the sums are the phase's "outputs".
  const uint4 x = make_uint4(0x3f803f80u, 0x3f803f80u, 0x3f803f80u, 0x3f803f80u);
  size_t consumed = 0;
  for (int ph = 0; ph < r.phases; ++ph) {
    if (worker) {
      float acc = 0.f;
      for (int b = 0; b < r.batches[ph & 3]; ++b) {
        kernels::detail::CpAsyncWaitPending<kS - 2>(static_cast<int>(issued - consumed) -
                                                    1);  // groups after this one
        const uint4 v = ring[(consumed % kS) * kUnits + lane];
        ++consumed;
        const uint32_t ws[4] = {v.x, v.y, v.z, v.w}, xs[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&ws[i]));
          const float2 c = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&xs[i]));
          acc = fmaf(a.x, c.x, fmaf(a.y, c.y, acc));
        }
        if (issued - consumed < kAhead) issue();
      }
      r.sink[gw * 32 + lane] = acc;
      if constexpr (kS > kAhead + 1) {  // the burst: the next batches asked for before the wait
        while (issued - consumed < kS - 1) issue();
      }
    }
    Barrier<kMode>(r, static_cast<unsigned int>(ph + 1), ph);
    if ((ph & 3) == 0) SpinNs(r.idle_ns);
  }
  if (worker) CpAsyncWait<0>();
}

template <BarrierMode kMode>
cudaError_t Launch(const BarrierRun& r, int blocks, cudaStream_t stream) {
  const size_t smem = size_t{kWarps} * kSlots<kMode> * kUnits * 16;
  return kernels::detail::LaunchCooperative(BarrierStream<kMode>, dim3(blocks), dim3(kThreads),
                                            smem, stream, r);
}

}  // namespace

const char* BarrierModeName(BarrierMode m) {
  static const char* const kNames[kBarrierModes] = {
      "none",    "block",           "thread0", "thread0-relaxed",
      "control", "control-relaxed", "drain",   "control-burst"};
  return kNames[static_cast<int>(m)];
}

cudaError_t LaunchBarrierStream(const BarrierRun& r, int blocks, cudaStream_t stream) {
  if (!r.weights || r.weight_bytes < 16 || (r.weight_bytes & (r.weight_bytes - 1)) != 0 ||
      !r.counter || !r.sink || r.phases < 1 || blocks < 1) {
    return cudaErrorInvalidValue;
  }
  cudaError_t e = cudaMemsetAsync(r.counter, 0, sizeof(unsigned int), stream);
  if (e != cudaSuccess) return e;
  switch (r.mode) {
    case BarrierMode::kNone:
      return Launch<BarrierMode::kNone>(r, blocks, stream);
    case BarrierMode::kBlock:
      return Launch<BarrierMode::kBlock>(r, blocks, stream);
    case BarrierMode::kThread0:
      return Launch<BarrierMode::kThread0>(r, blocks, stream);
    case BarrierMode::kThread0Relaxed:
      return Launch<BarrierMode::kThread0Relaxed>(r, blocks, stream);
    case BarrierMode::kControl:
      return Launch<BarrierMode::kControl>(r, blocks, stream);
    case BarrierMode::kControlRelaxed:
      return Launch<BarrierMode::kControlRelaxed>(r, blocks, stream);
    case BarrierMode::kDrain:
      return Launch<BarrierMode::kDrain>(r, blocks, stream);
    case BarrierMode::kControlBurst:
      return Launch<BarrierMode::kControlBurst>(r, blocks, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace linspec::bench
