// Grid-barrier kernels of linspec-cuda-barrier-bench (cuda_barrier_bench.cc): what a grid-wide
// barrier costs while the decode megakernel's weight streams have bytes in flight. One block of
// 16 streaming warps (plus one control warp that streams nothing) per multiprocessor; every warp
// streams its share of each phase through a private ring of 512-byte cp.async batches, kAhead
// batches ahead across phase ends (as kernels/megakernel_streams.cuh), and the phases are
// separated by the barrier under test.
#ifndef LINSPEC_BENCH_CUDA_BARRIER_KERNELS_H_
#define LINSPEC_BENCH_CUDA_BARRIER_KERNELS_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace linspec::bench {

enum class BarrierMode {
  kNone,            // no barrier at all (the streams alone)
  kBlock,           // a block barrier only (__syncthreads)
  kThread0,         // the megakernel's: thread 0 red.release + ld.acquire polls
  kThread0Relaxed,  // thread 0 red.release, ld.relaxed polls, one fence.acq_rel after
  kControl,         // as kThread0, by the control warp (no cp.async of its own in flight)
  kControlRelaxed,  // as kThread0Relaxed, by the control warp
  kDrain,           // every warp waits for its ring's copies first, then as kThread0
  kControlBurst,    // as kControl, each warp's ring twice as large (16 slots): at a barrier a
                    // warp tops it up to 15 batches ahead, and issues no more while streaming
                    // until it is back at 7 ahead (the DRAM kept busy through the wait)
};
constexpr int kBarrierModes = 8;
const char* BarrierModeName(BarrierMode m);

struct BarrierRun {
  BarrierMode mode = BarrierMode::kThread0;
  const void* weights = nullptr;  // the streamed bytes (read modulo weight_bytes)
  size_t weight_bytes = 0;        // a power of two
  int phases = 96;
  int batches[4] = {23, 8, 43, 21};  // per warp per phase, cycling (the 1.3B layer's phases)
  int idle_ns = 0;                   // a spin after every 4th barrier (the attention phase)
  unsigned int* counter = nullptr;   // zeroed by the launch
  float* sink = nullptr;             // [blocks * 16 warps * 32 lanes] per-lane sums
  // Optional [phases][blocks][2] %globaltimer ns: the control thread's arrival (before its
  // red) and departure (the poll seen complete).
  unsigned long long* times = nullptr;
};

// One cooperative launch of `blocks` blocks.
cudaError_t LaunchBarrierStream(const BarrierRun& r, int blocks, cudaStream_t stream);

}  // namespace linspec::bench

#endif  // LINSPEC_BENCH_CUDA_BARRIER_KERNELS_H_
