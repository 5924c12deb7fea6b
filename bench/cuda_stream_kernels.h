// Streaming-pattern kernels of linspec-cuda-stream-bench (cuda_stream_bench.cc): how fast the
// decode kernel's access pattern (one 64 KB fp32 state tile per (sequence, kv head), 128
// threads, a shared-memory ring of row stages) can read HBM, apart from the attention math.
#ifndef LINSPEC_BENCH_CUDA_STREAM_KERNELS_H_
#define LINSPEC_BENCH_CUDA_STREAM_KERNELS_H_

#include <cuda_runtime.h>

#include <cstddef>

namespace linspec::bench {

enum class StreamVariant {
  kBlockPerItem,    // one block per tile (the decode kernel's grid): the ring drains per tile
  kPersistent,      // blocks_per_sm x SMs blocks loop over tiles; the ring runs across tiles
  kPersistentBulk,  // the same, each stage one TMA bulk copy (cp.async.bulk + mbarrier; sm_90+)
};

struct StreamConfig {
  StreamVariant variant = StreamVariant::kBlockPerItem;
  int stages = 3;         // ring slots (stages - 1 in flight ahead of the consumer)
  int stage_rows = 16;    // 128-float rows per stage (16: 8 KB)
  int blocks_per_sm = 4;  // forced by the dynamic shared memory size
  int delay_ns = 0;       // per-tile prologue stand-in: a spin before the tile's first stage
};

// Whether `c` is one of the compiled instances and its ring fits blocks_per_sm blocks per SM.
bool StreamConfigSupported(const StreamConfig& c);

// Reads `tiles` consecutive 128 x 128 fp32 tiles from `s`, each block writing one 128-float sum
// per tile to out [tiles][128].
cudaError_t LaunchStream(const StreamConfig& c, const float* s, int tiles, float* out, int sms,
                         cudaStream_t stream);

// A plain grid-stride 16-byte read of n4 float4s (the read bandwidth reference).
cudaError_t LaunchReadPeak(const void* s, size_t n4, float* out, int sms, cudaStream_t stream);

}  // namespace linspec::bench

#endif  // LINSPEC_BENCH_CUDA_STREAM_KERNELS_H_
