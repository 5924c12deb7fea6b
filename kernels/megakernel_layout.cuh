// The one-kernel decode step (decode_megakernel.cu; internal): the block shape and the
// dynamic shared memory layout of a launch.
#ifndef LINSPEC_KERNELS_MEGAKERNEL_LAYOUT_CUH_
#define LINSPEC_KERNELS_MEGAKERNEL_LAYOUT_CUH_

#include <cstddef>

#include "kernels/decode_megakernel.h"
#include "kernels/device_common.cuh"

namespace linspec::kernels::mega {

constexpr int kThreads = 512;  // the worker threads of a block
constexpr int kWarps = kThreads / 32;
// The one-row instance's block has a control warp beside its kWarps workers (kBlockThreads<1>):
// it raises and polls the grid barriers (ControlWarp), so that the fence that publishes the
// block's writes waits on no weight copies in flight.
template <int kM>
constexpr bool kControlWarp = kM == 1;
template <int kM>
constexpr int kBlockThreads = kControlWarp<kM> ? kThreads + 32 : kThreads;
// A barrier of the worker threads (named barrier 1; the control warp never joins it).
__device__ __forceinline__ void WorkerSync() {
  asm volatile("bar.sync 1, %0;\n" ::"n"(kThreads) : "memory");
}
constexpr int kColBlock = kMegaColumnBlock;       // attention: v columns per work item
constexpr int kRowGroups = kThreads / kColBlock;  // attention: S row groups per work item
constexpr int kMaxSRows = 128 / kRowGroups;       // S entries per thread (head_dim <= 128)

// Rows of an attention item's window (the positions not folded into S, the new token's
// included): the model's group, or kMegaPlainWindow; and of its v columns: the window
// and the conv's taps.
__host__ __device__ inline int WindowCap(const MegaParams& p) {
  return p.group_size > 0 ? p.group_size : kMegaPlainWindow;
}
__host__ __device__ inline int VRowsCap(const MegaParams& p) {
  const int conv = p.conv_taps > 0 ? p.conv_taps + kMegaMaxRows - 1 : 0;
  return WindowCap(p) > conv ? WindowCap(p) : conv;
}

// An attention item's slot data (LoadSlot): the window's k^ rows [WindowCap][D] (the new
// token's row last), the v columns [VRowsCap][kColBlock] of positions [vlo, start_pos] and S's
// columns [D][kColBlock].
__host__ __device__ inline size_t SlotBufFloats(const MegaParams& p) {
  const size_t d = p.head_dim;
  return WindowCap(p) * d + VRowsCap(p) * kColBlock + d * kColBlock;
}

// Whether a launch takes the tensor-core instance (TileStream): more than one row, or asked.
__host__ __device__ inline bool TensorCores(const MegaParams& p) {
  return p.rows > 1 || p.tensor_cores;
}
// Activation rows in shared memory: the one-row instance packs them; the tensor-core instance
// pads each row by 16 bytes, so that the 8 rows' B fragments hit distinct banks.
__host__ __device__ inline int XStride(int dim, bool tiles) { return tiles ? dim + 8 : dim; }

// Shared memory: the activations of the widest GEMV input (or the attention step's other
// buffers; ActivationSmemBytes), p.slot_buffers attention items' slot data, the tensor-core
// instance's split-K partials (RedSmemBytes), then kWarps weight rings (from RingSmemOffset).
__host__ __device__ inline size_t ActivationSmemBytes(const MegaParams& p) {
  const size_t d = p.head_dim, q = p.heads / p.kv_heads, nt = p.rows;  // a chunk's tokens <= rows
  const size_t attention =
      sizeof(float) * nt *
      ((q + 2) * d + q * d + d + q * WindowCap(p) + q * kRowGroups * kColBlock);
  int widest = p.hidden > p.ffn ? p.hidden : p.ffn;
  if (p.heads * p.head_dim > widest) widest = p.heads * p.head_dim;
  const size_t acts = static_cast<size_t>(p.rows) * XStride(widest, TensorCores(p)) * 2;
  return ((acts > attention ? acts : attention) + 127) / 128 * 128;
}
// The tensor-core instance's partials: p.red_slots tile slots x 2 (gate/up) x kWarps warps x
// one 16 x 8 fp32 accumulator tile.
constexpr size_t kRedSlotFloats = 2 * kWarps * 32 * 4;
__host__ __device__ inline size_t RedSmemBytes(const MegaParams& p) {
  return TensorCores(p) ? kRedSlotFloats * sizeof(float) * p.red_slots : 0;
}
// Sections start at multiples of 128 bytes: cp.async copies whose shared destination is not
// aligned like their global source lose their coalescing (H100: the tensor-core ring 16 bytes
// off made one L2 request per two lanes, twice the sectors, 1.36 vs 1.16 ms at one row).
__host__ __device__ inline size_t RedSmemOffset(const MegaParams& p) {
  return (ActivationSmemBytes(p) + sizeof(float) * SlotBufFloats(p) * p.slot_buffers + 127) / 128 *
         128;
}
__host__ __device__ inline size_t RingSmemOffset(const MegaParams& p) {
  return RedSmemOffset(p) + RedSmemBytes(p);
}

}  // namespace linspec::kernels::mega

#endif  // LINSPEC_KERNELS_MEGAKERNEL_LAYOUT_CUH_
