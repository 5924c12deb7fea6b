// The streaming-pattern kernels of cuda_stream_kernels.h.
#include <algorithm>
#include <cstdint>

#include "bench/cuda_device_timer.cuh"
#include "bench/cuda_stream_kernels.h"
#include "kernels/device_common.cuh"

namespace linspec::bench {
namespace {

constexpr int kD = 128, kThreads = 128;
constexpr size_t kTileFloats = size_t{kD} * kD;
constexpr size_t kSmemPerSm = 228 * 1024, kSmemReservedPerBlock = 1024;

using kernels::detail::CpAsync16;
using kernels::detail::CpAsyncCommit;
using kernels::detail::CpAsyncWait;

// The tiles of this block: first, first + stride, ... (< tiles); global stage g is stage
// g % num of the block's tile g / num.
struct TileWalk {
  int first, stride, mine;
  __device__ TileWalk(bool persistent, int tiles) {
    first = blockIdx.x;
    stride = persistent ? gridDim.x : tiles;
    mine = first < tiles ? (tiles - first + stride - 1) / stride : 0;
  }
  __device__ int Tile(int i) const { return first + i * stride; }
};

// The consumer side of both kernels: per tile the prologue stand-in, then per stage wait(g)
// (this thread's copies of global stage g landed), a block barrier (every thread is done with
// stage g - 1's slot), issue(g + kStages - 1) into that slot, and the stage's rows summed.
template <int kStages, int kRows, typename Wait, typename Issue>
__device__ __forceinline__ void ConsumeTiles(const TileWalk& walk, int delay_ns, const float* ring,
                                             float* out, Wait wait, Issue issue) {
  constexpr int kNum = kD / kRows;
  const int j = threadIdx.x;
  for (int i = 0; i < walk.mine; ++i) {
    SpinNs(delay_ns);
    float acc = 0.f;
    for (int st = 0; st < kNum; ++st) {
      const int g = i * kNum + st;
      wait(g);
      __syncthreads();
      issue(g + kStages - 1);
      const float* rows = ring + (g % kStages) * kRows * kD + j;
#pragma unroll
      for (int u = 0; u < kRows; ++u) acc = fmaf(rows[u * kD], 1.0001f, acc);
    }
    out[size_t(walk.Tile(i)) * kD + j] = acc;
  }
}

template <int kStages, int kRows>
__global__ void __launch_bounds__(kThreads)
    RingKernel(const float* s, int tiles, int delay_ns, bool persistent, float* out) {
  extern __shared__ float4 sm4[];
  float* ring = reinterpret_cast<float*>(sm4);
  constexpr int kNum = kD / kRows;
  const int j = threadIdx.x;
  const TileWalk walk(persistent, tiles);
  const int total = walk.mine * kNum;
  auto issue = [&](int g) {
    if (g < total) {
      float* dst = ring + (g % kStages) * kRows * kD;
      const float* src = s + walk.Tile(g / kNum) * kTileFloats + size_t(g % kNum) * kRows * kD;
      for (int u = j; u < kRows * kD / 4; u += kThreads) CpAsync16(dst + 4 * u, src + 4 * u);
    }
    CpAsyncCommit();
  };
  for (int g = 0; g < kStages - 1; ++g) issue(g);
  ConsumeTiles<kStages, kRows>(
      walk, delay_ns, ring, out, [](int) { CpAsyncWait<kStages - 2>(); }, issue);
  CpAsyncWait<0>();
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ unsigned SmemAddr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
#endif

template <int kStages, int kRows>
__global__ void __launch_bounds__(kThreads)
    BulkKernel(const float* s, int tiles, int delay_ns, float* out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // TMA bulk copies and tx-count mbarriers
  extern __shared__ float4 sm4[];
  float* ring = reinterpret_cast<float*>(sm4);
  uint64_t* bar = reinterpret_cast<uint64_t*>(ring + kStages * kRows * kD);
  constexpr int kNum = kD / kRows;
  constexpr unsigned kBytes = kRows * kD * 4;
  const int j = threadIdx.x;
  const TileWalk walk(true, tiles);
  const int total = walk.mine * kNum;
  if (j == 0) {
    for (int k = 0; k < kStages; ++k) {
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(SmemAddr(bar + k)));
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  auto issue = [&](int g) {  // thread 0
    if (g >= total) return;
    const unsigned b = SmemAddr(bar + g % kStages);
    const float* src = s + walk.Tile(g / kNum) * kTileFloats + size_t(g % kNum) * kRows * kD;
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(b), "r"(kBytes)
                 : "memory");
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, "
        "[%3];\n" ::"r"(SmemAddr(ring + (g % kStages) * kRows * kD)),
        "l"(src), "r"(kBytes), "r"(b)
        : "memory");
  };
  auto wait = [&](int g) {
    const unsigned b = SmemAddr(bar + g % kStages), parity = (g / kStages) & 1;
    unsigned done = 0;
    while (!done) {
      asm volatile(
          "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
          " selp.u32 %0, 1, 0, p;\n}\n"
          : "=r"(done)
          : "r"(b), "r"(parity)
          : "memory");
    }
  };
  if (j == 0) {
    for (int g = 0; g < kStages - 1; ++g) issue(g);
  }
  ConsumeTiles<kStages, kRows>(walk, delay_ns, ring, out, wait, [&](int g) {
    if (j == 0) issue(g);
  });
#else
  __trap();
#endif
}

__global__ void ReadPeakKernel(const uint4* s, size_t n4, float* out) {
  uint32_t acc = 0;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n4; i += 4 * stride) {
    uint4 v[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) v[u] = kernels::detail::LoadStream(s + i + u * stride);
#pragma unroll
    for (int u = 0; u < 4; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  for (; i < n4; i += stride) acc ^= kernels::detail::LoadStream(s + i).x;
  if (acc == 0x9e3779b9u) out[0] = 1.f;  // keeps the loads; practically never taken
}

size_t RingBytes(const StreamConfig& c) {
  return size_t(c.stages) * c.stage_rows * kD * 4 +
         (c.variant == StreamVariant::kPersistentBulk ? 8 * size_t(c.stages) : 0);
}

size_t SmemFor(const StreamConfig& c) {
  return std::max(kSmemPerSm / c.blocks_per_sm - kSmemReservedPerBlock, RingBytes(c));
}

template <typename K, typename... Args>
cudaError_t LaunchWith(K kernel, const StreamConfig& c, int grid, cudaStream_t stream,
                       Args... args) {
  const size_t smem = SmemFor(c);
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(smem));
  if (e != cudaSuccess) return e;
  kernel<<<grid, kThreads, smem, stream>>>(args...);
  return cudaGetLastError();
}

template <int kStages, int kRows>
cudaError_t LaunchInstance(const StreamConfig& c, const float* s, int tiles, float* out, int sms,
                           cudaStream_t stream) {
  const int persistent_grid = c.blocks_per_sm * sms;
  switch (c.variant) {
    case StreamVariant::kBlockPerItem:
      return LaunchWith(RingKernel<kStages, kRows>, c, tiles, stream, s, tiles, c.delay_ns, false,
                        out);
    case StreamVariant::kPersistent:
      return LaunchWith(RingKernel<kStages, kRows>, c, persistent_grid, stream, s, tiles,
                        c.delay_ns, true, out);
    default:
      return LaunchWith(BulkKernel<kStages, kRows>, c, persistent_grid, stream, s, tiles,
                        c.delay_ns, out);
  }
}

template <int kRows>
cudaError_t DispatchStages(const StreamConfig& c, const float* s, int tiles, float* out, int sms,
                           cudaStream_t stream) {
  switch (c.stages) {
    case 2:
      return LaunchInstance<2, kRows>(c, s, tiles, out, sms, stream);
    case 3:
      return LaunchInstance<3, kRows>(c, s, tiles, out, sms, stream);
    case 4:
      return LaunchInstance<4, kRows>(c, s, tiles, out, sms, stream);
    case 6:
      return LaunchInstance<6, kRows>(c, s, tiles, out, sms, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

bool StreamConfigSupported(const StreamConfig& c) {
  const bool stages_ok = c.stages == 2 || c.stages == 3 || c.stages == 4 || c.stages == 6;
  const bool rows_ok = c.stage_rows == 16 || c.stage_rows == 32;
  if (!stages_ok || !rows_ok || c.blocks_per_sm < 1 || c.blocks_per_sm > 8) return false;
  return RingBytes(c) + kSmemReservedPerBlock <= kSmemPerSm / c.blocks_per_sm;
}

cudaError_t LaunchStream(const StreamConfig& c, const float* s, int tiles, float* out, int sms,
                         cudaStream_t stream) {
  if (!StreamConfigSupported(c) || tiles <= 0) return cudaErrorInvalidValue;
  return c.stage_rows == 16 ? DispatchStages<16>(c, s, tiles, out, sms, stream)
                            : DispatchStages<32>(c, s, tiles, out, sms, stream);
}

cudaError_t LaunchReadPeak(const void* s, size_t n4, float* out, int sms, cudaStream_t stream) {
  ReadPeakKernel<<<sms * 8, 256, 0, stream>>>(static_cast<const uint4*>(s), n4, out);
  return cudaGetLastError();
}

}  // namespace linspec::bench
