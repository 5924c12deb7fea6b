// Device-side time for the bench kernels: the %globaltimer clock and a spin that stands in for
// work of a given duration.
#ifndef LINSPEC_BENCH_CUDA_DEVICE_TIMER_CUH_
#define LINSPEC_BENCH_CUDA_DEVICE_TIMER_CUH_

#include <cstdint>

namespace linspec::bench {

__device__ __forceinline__ uint64_t GlobalTimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Spins for `ns` nanoseconds (nothing when ns <= 0).
__device__ __forceinline__ void SpinNs(int ns) {
  if (ns <= 0) return;
  const uint64_t t0 = GlobalTimer();
  while (GlobalTimer() - t0 < static_cast<uint64_t>(ns)) {
  }
}

}  // namespace linspec::bench

#endif  // LINSPEC_BENCH_CUDA_DEVICE_TIMER_CUH_
