// The one-kernel decode step (decode_megakernel.cu; internal): the GEMV phases' weight
// streams, one-row (CUDA cores) and multi-row (tensor cores).
#ifndef LINSPEC_KERNELS_MEGAKERNEL_STREAMS_CUH_
#define LINSPEC_KERNELS_MEGAKERNEL_STREAMS_CUH_

#include <cstdint>
#include <type_traits>

#include "kernels/decode_megakernel.h"
#include "kernels/device_common.cuh"
#include "kernels/megakernel_layout.cuh"

namespace linspec::kernels::mega {

template <typename T>
__device__ __forceinline__ float2 Unpack2(uint32_t w) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w));
  } else {
    return __half22float2(*reinterpret_cast<const __half2*>(&w));
  }
}

// acc + the dot product of 8 weights and 8 activations (both packed dtype T).
template <typename T>
__device__ __forceinline__ float Dot8(const uint4& w, const uint4& x, float acc) {
  const uint32_t ws[4] = {w.x, w.y, w.z, w.w}, xv[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 a = Unpack2<T>(ws[i]), b = Unpack2<T>(xv[i]);
    acc = fmaf(a.x, b.x, acc);
    acc = fmaf(a.y, b.y, acc);
  }
  return acc;
}

// The weights of GEMV phase `phase` (4 per layer: qkv, o, gate/up, down; last: the LM head):
// rows (gate/up: indices), k, and the up-row offset.
template <typename T>
__device__ __forceinline__ void PhaseWeights(const MegaParams& p, int phase, int last_phase,
                                             const T*& w, int& rows, int& k, int& pair) {
  const int ffn = p.ffn, H = p.hidden;
  const int nqkv = (p.heads + 2 * p.kv_heads) * p.head_dim, hd = p.heads * p.head_dim;
  pair = 0;
  if (phase == last_phase) {
    w = static_cast<const T*>(p.lm_head), rows = p.vocab, k = H;
    return;
  }
  const MegaLayer& L = p.layers[phase >> 2];
  switch (phase & 3) {
    case 0:
      w = static_cast<const T*>(L.qkv), rows = nqkv, k = H;
      break;
    case 1:
      w = static_cast<const T*>(L.o), rows = H, k = hd;
      break;
    case 2:
      w = static_cast<const T*>(L.gate_up), rows = ffn, k = H, pair = ffn;
      break;
    default:
      w = static_cast<const T*>(L.down), rows = H, k = ffn;
      break;
  }
}

// The weight streams. Every projection of the step is a GEMV phase (per layer: qkv, o,
// gate/up, down; then the LM head). Weights never depend on the step, so each warp streams its
// share of every phase, in order, through a private shared-memory ring of batches by cp.async,
// kStages - 1 batches ahead of the consumer: across phase ends and the grid barriers too, so
// the next phase's first weights arrive while the barrier and the activations are awaited.
// Each lane copies and reads back only its own chunks (no warp synchronization). The copies
// carry an L2 evict-first policy (weights are read once per step), which keeps the slots' state
// and the step's activations in L2.
//
// Both streams consume a phase through Consume<kR>(n, k, xs, xstride, m, pre, store): n output
// indices (kR weight rows each: gate/up takes gate row f and up row ffn + f) times the m
// activation rows xs [m][xstride]; for every (index, activation row r < m) one thread calls
// ctx = pre(index, r) before the index's products (loads the store needs, in flight meanwhile)
// and store(index, r, sums[kR], ctx) after them.
//
// The one-row stream (WeightStream): the grid's warps share a phase's indices round-robin (warp
// gw takes gw, gw + nw, ...), full-length dot products on the CUDA cores. Its depth
// (bench/cuda_notes.md, session 7; H100, 1.3B B=1, same-run): every byte in flight also queues
// in front of the grid barriers' and the activations' L2 round trips (2-3 us per barrier with
// 6 KB per warp ahead), so 7 batches of 512 bytes (3.5 KB per warp) beat 3 of 2 KB (1.271 vs
// 1.312 ms) and 3 of 1 KB (1.293); the evict-first policy then 1.258.
constexpr int kStages = 8;
constexpr int kBatchUnits = 32;  // uint4 per batch per warp
constexpr size_t kRingBytes = size_t{kWarps} * kStages * kBatchUnits * 16;

template <typename T>
struct WeightStream {
  const MegaParams* p;
  uint4* ring;  // [kStages][kBatchUnits] of this warp
  int gw, nw;
  int phase, last_phase;  // 4 per layer, then the LM head
  int f, half, c0;        // the next batch to ask for
  const T* w;
  int rows, k8, pair;  // the phase's row count (gate/up: indices), k / 8, up-row offset
  unsigned int issued, consumed;
  uint64_t policy;

  __device__ __forceinline__ void SetPhase() {
    int k;
    PhaseWeights(*p, phase, last_phase, w, rows, k, pair);
    k8 = k / 8;
  }
  // Moves to the first phase (from `phase` on) in which this warp has rows.
  __device__ __forceinline__ void SkipEmpty() {
    while (phase <= last_phase) {
      SetPhase();
      if (gw < rows) return;
      ++phase;
    }
  }
  __device__ __forceinline__ void Init(const MegaParams* params, uint4* smem_ring, float*,
                                       unsigned int*) {
    p = params;
    const int warp = threadIdx.x >> 5;
    ring = smem_ring + warp * kStages * kBatchUnits;
    gw = blockIdx.x * kWarps + warp, nw = gridDim.x * kWarps;
    phase = 0, last_phase = 4 * p->num_layers;
    f = gw, half = 0, c0 = 0, issued = 0, consumed = 0;
    policy = detail::L2EvictFirst();
    SkipEmpty();
    for (int i = 0; i < kStages - 1; ++i) Issue();
  }
  // Asks for the next batch (an empty group once the step's weights are all asked for).
  __device__ __forceinline__ void Issue() {
    if (phase <= last_phase) {
      const int lane = threadIdx.x & 31;
      const uint4* src =
          reinterpret_cast<const uint4*>(w + static_cast<size_t>(f + half * pair) * k8 * 8);
      uint4* dst = ring + (issued % kStages) * kBatchUnits;
      const int c = c0 + lane;
      detail::CpAsync16(dst + lane, src + min(c, k8 - 1), c < k8, policy);
      ++issued;
      c0 += 32;
      if (c0 >= k8) {
        c0 = 0;
        if (pair > 0 && half == 0) {
          half = 1;
        } else {
          half = 0;
          f += nw;
          if (f >= rows) {
            ++phase;
            f = gw;
            SkipEmpty();
          }
        }
      }
    }
    detail::CpAsyncCommit();
  }
  template <int kR, typename Pre, typename Store>
  __device__ __forceinline__ void Consume(int n, int k, const T* xs, int, int, Pre&& pre,
                                          Store&& store) {
    const int lane = threadIdx.x & 31, kk8 = k / 8;
    const uint4* x = reinterpret_cast<const uint4*>(xs);
    for (int idx = gw; idx < n; idx += nw) {
      const float ctx = lane == 0 ? pre(idx, 0) : 0.f;
      float acc[kR];
#pragma unroll
      for (int q = 0; q < kR; ++q) acc[q] = 0.f;
#pragma unroll
      for (int q = 0; q < kR; ++q) {
        for (int cc = 0; cc < kk8; cc += 32) {
          detail::CpAsyncWait<kStages - 2>();
          const uint4* slot = ring + (consumed % kStages) * kBatchUnits;
          const int c = cc + lane;
          if (c < kk8) acc[q] = Dot8<T>(slot[lane], x[c], acc[q]);
          ++consumed;
          Issue();
        }
      }
#pragma unroll
      for (int q = 0; q < kR; ++q) acc[q] = detail::WarpSum(acc[q]);
      if (lane == 0) store(idx, 0, acc, ctx);
    }
  }
};

// The multi-row stream (TileStream): on the tensor cores (mma.sync m16n8k16, the activation
// rows as the N operand, so 1..8 rows cost one pass over the weights). A phase's indices go
// in tiles of 16 to the blocks round-robin (block b takes tiles b, b + grid, ...), and a tile's
// k range splits over the block's kWarps warps (split-K in batches of 64 k, interleaved: warp w
// takes batches w, w + kWarps, ...): a batch is the warp's 16 rows x 64 k (2 KB), copied 4 rows
// x 128 bytes per instruction (16 rows x 64 bytes per instruction made 4x the L2 requests and
// ran 25% slower). Lane (g, t) then reads the 16-byte chunks t and t + 4 of rows g and g + 8,
// whose 8 values are two mma k steps' pairs, and the activations at the same k. After
// its batches each warp leaves its 16 x 8 accumulators in one of kRedSlots shared-memory slots
// and counts itself in; the tile's last warp sums the kWarps partials in warp order
// (deterministic) and stores the results, so no warp waits for the others (a warp that runs
// kRedSlots tiles ahead waits for its slot's previous sum).
constexpr int kTileStages = 3;
constexpr int kTileUnits = 128;  // uint4 per batch per warp: [16 rows][8 chunks], swizzled
constexpr int kTileK = 64;       // k per batch
constexpr size_t kTileRingBytes = size_t{kWarps} * kTileStages * kTileUnits * 16;
constexpr int kRedSlots = 2;  // at most (MegaParams::red_slots)
// A row's chunk c sits at c ^ 4 in odd rows, so that a quarter warp's reads (rows g, g + 1)
// cover all banks.
__device__ __forceinline__ int TileChunk(int row, int c) {
  return row * 8 + (c ^ ((row & 1) << 2));
}

template <typename T>
struct TileStream {
  const MegaParams* p;
  uint4* ring;           // [kTileStages][kTileUnits] of this warp
  float4* red;           // [kRedSlots][2][kWarps][32] accumulators (RedSmemBytes)
  int* arrived;          // [kRedSlots] warps counted in (shared)
  unsigned int* summed;  // [kRedSlots] tiles summed in the slot so far (shared)
  int warp, phase, last_phase;
  int tile, half, b;  // the next batch to ask for
  const T* w;
  int rows, k, pair, tiles, nb;  // the phase's shape; batches of kTileK per tile
  unsigned int issued, consumed, rounds, nslots;
  uint64_t policy;

  __device__ __forceinline__ void SkipEmpty() {
    while (phase <= last_phase) {
      PhaseWeights(*p, phase, last_phase, w, rows, k, pair);
      tiles = (rows + 15) / 16;
      nb = (k + kTileK - 1) / kTileK;
      if (blockIdx.x < tiles && warp < nb) {
        tile = blockIdx.x, half = 0, b = warp;
        return;
      }
      ++phase;
    }
  }
  // counters: [2 * kRedSlots] shared words, zeroed here; the caller syncs the block before
  // the first Consume.
  __device__ __forceinline__ void Init(const MegaParams* params, uint4* smem_ring, float* r,
                                       unsigned int* counters) {
    p = params, red = reinterpret_cast<float4*>(r);
    arrived = reinterpret_cast<int*>(counters), summed = counters + kRedSlots;
    if (threadIdx.x < 2 * kRedSlots) counters[threadIdx.x] = 0;
    nslots = p->red_slots;
    warp = threadIdx.x >> 5;
    ring = smem_ring + warp * kTileStages * kTileUnits;
    phase = 0, last_phase = 4 * p->num_layers;
    issued = 0, consumed = 0, rounds = 0;
    policy = detail::L2EvictFirst();
    SkipEmpty();
    for (int i = 0; i < kTileStages - 1; ++i) Issue();
  }
  __device__ __forceinline__ void Issue() {
    if (phase <= last_phase) {
      // Lane i of copy j fills ring unit 32 j + i (destinations in lane order), which holds
      // chunk (i % 8) ^ (odd row ? 4 : 0) of tile row 4 j + i / 8 (TileChunk).
      const int lane = threadIdx.x & 31;
      uint4* dst = ring + (issued % kTileStages) * kTileUnits;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int tr = 4 * i + (lane >> 3), row = 16 * tile + tr;
        const int kc = kTileK * b + 8 * ((lane & 7) ^ ((tr & 1) << 2));
        const bool ok = row < rows && kc < k;
        const T* src = w + static_cast<size_t>((ok ? row : 0) + half * pair) * k + (ok ? kc : 0);
        detail::CpAsync16(dst + 32 * i + lane, src, ok, policy);
      }
      ++issued;
      if ((b += kWarps) >= nb) {
        b = warp;
        if (pair > 0 && half == 0) {
          half = 1;
        } else {
          half = 0;
          tile += gridDim.x;
          if (tile >= tiles) {
            ++phase;
            SkipEmpty();
          }
        }
      }
    }
    detail::CpAsyncCommit();
  }
  template <int kR, typename Pre, typename Store>
  __device__ __forceinline__ void Consume(int n, int kdim, const T* xs, int xstride, int m,
                                          Pre&& pre, Store&& store) {
    const int lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
    const int nbk = (kdim + kTileK - 1) / kTileK;
    const T* xrow = xs + static_cast<size_t>(g) * xstride + 8 * t4;
    for (int tl = blockIdx.x; 16 * tl < n; tl += gridDim.x) {
      // What the stores need, asked for by every warp before its products (one of them sums
      // the tile): entry 2h + e for index 16 tl + g + 8h, row 2 t4 + e, as the accumulators.
      float ctx[4];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int idx = 16 * tl + g + 8 * h, r = 2 * t4 + e;
          ctx[2 * h + e] = idx < n && r < m ? pre(idx, r) : 0.f;
        }
      }
      float acc[kR][4];
#pragma unroll
      for (int q = 0; q < kR; ++q) {
        acc[q][0] = acc[q][1] = acc[q][2] = acc[q][3] = 0.f;
#pragma unroll 1
        for (int bb = warp; bb < nbk; bb += kWarps) {
          detail::CpAsyncWait<kTileStages - 2>();
          const uint4* slot = ring + (consumed % kTileStages) * kTileUnits;
#pragma unroll
          for (int s = 0; s < 2; ++s) {  // chunks t4 and t4 + 4
            const int c = t4 + 4 * s;
            const uint4 lo = slot[TileChunk(g, c)], hi = slot[TileChunk(g + 8, c)];
            const uint4 x = g < m && kTileK * bb + 8 * c < kdim
                                ? *reinterpret_cast<const uint4*>(xrow + kTileK * bb + 32 * s)
                                : make_uint4(0u, 0u, 0u, 0u);
            detail::Mma<T>(acc[q], lo.x, hi.x, lo.y, hi.y, x.x, x.y);
            detail::Mma<T>(acc[q], lo.z, hi.z, lo.w, hi.w, x.z, x.w);
          }
          ++consumed;
          Issue();
        }
      }
      const int rs = rounds % nslots;
      if (lane == 0 && rounds >= nslots) {  // the slot's previous tile summed
        while (*reinterpret_cast<volatile unsigned int*>(summed + rs) + nslots <= rounds) {
        }
      }
      __syncwarp();
      volatile float4* part = red + rs * 2 * kWarps * 32;
#pragma unroll
      for (int q = 0; q < kR; ++q) {
        float4 v;
        v.x = acc[q][0], v.y = acc[q][1], v.z = acc[q][2], v.w = acc[q][3];
        const_cast<float4*>(part)[(q * kWarps + warp) * 32 + lane] = v;
      }
      __threadfence_block();
      __syncwarp();
      int last = 0;
      if (lane == 0) last = atomicAdd(arrived + rs, 1) == kWarps - 1;
      last = __shfl_sync(~0u, last, 0);
      ++rounds;
      if (!last) continue;
      __threadfence_block();
      float sums[kR][4];  // the tile's accumulators, as the mma's: rows g, g + 8; rows 2t, 2t + 1
#pragma unroll
      for (int q = 0; q < kR; ++q) {
        sums[q][0] = sums[q][1] = sums[q][2] = sums[q][3] = 0.f;
#pragma unroll 4
        for (int wp = 0; wp < kWarps; ++wp) {
          const float4 v = const_cast<const float4*>(part)[(q * kWarps + wp) * 32 + lane];
          sums[q][0] += v.x, sums[q][1] += v.y, sums[q][2] += v.z, sums[q][3] += v.w;
        }
      }
      __syncwarp();
      if (lane == 0) {
        arrived[rs] = 0;
        __threadfence_block();
        *reinterpret_cast<volatile unsigned int*>(summed + rs) = rounds;
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int idx = 16 * tl + g + 8 * h, r = 2 * t4 + e;
          if (idx < n && r < m) {
            float v[kR];
#pragma unroll
            for (int q = 0; q < kR; ++q) v[q] = sums[q][2 * h + e];
            store(idx, r, v, ctx[2 * h + e]);
          }
        }
      }
    }
  }
};

}  // namespace linspec::kernels::mega

#endif  // LINSPEC_KERNELS_MEGAKERNEL_STREAMS_CUH_
