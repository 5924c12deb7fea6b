// Counter-based random numbers shared by the host sampler (scheduler/) and the device sampler
// (kernels/sampling.cu): every random number a request uses is a pure function of
// (seed, output index, stream), so the same seed gives the same draws on every backend and in
// every batch composition. Header-only; usable from host and device code.
//
// Thread-safety: pure functions.
#ifndef LINSPEC_COMMON_COUNTER_RNG_H_
#define LINSPEC_COMMON_COUNTER_RNG_H_

#include <cstdint>

#if defined(__CUDACC__)
#define LINSPEC_HOST_DEVICE __host__ __device__
#else
#define LINSPEC_HOST_DEVICE
#endif

namespace linspec {

// Independent random streams of one request.
enum class RandomStream : uint64_t {
  kTarget = 1,  // the token taken from the target (plain, residual or bonus draw)
  kDraft = 2,   // a draft model's proposal
  kAccept = 3,  // the accept/reject coin of rejection sampling
};

// The SplitMix64 finalizer.
LINSPEC_HOST_DEVICE inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 53 random bits for output index `index` of a request seeded `seed`.
LINSPEC_HOST_DEVICE inline double CounterUniform(uint64_t seed, uint64_t index,
                                                 RandomStream stream) {
  const uint64_t x =
      SplitMix64(seed ^ SplitMix64(index * 0xD1B54A32D192ED03ull + static_cast<uint64_t>(stream)));
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

}  // namespace linspec

#endif  // LINSPEC_COMMON_COUNTER_RNG_H_
