// DecodeMegakernel: see decode_megakernel.h. One block of kThreads per multiprocessor; every
// phase spreads its work over all warps of the grid, and GridSync separates the phases.
// Data written by another block during the launch is read with __ldcg (from L2).
#include <algorithm>

#include "kernels/decode_megakernel.h"
#include "kernels/device_common.cuh"
#include "kernels/qkv_math.cuh"

namespace linspec::kernels {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kColBlock = kMegaColumnBlock;       // attention: v columns per work item
constexpr int kRowGroups = kThreads / kColBlock;  // attention: S row groups per work item
constexpr int kMaxSRows = 128 / kRowGroups;       // S entries per thread (head_dim <= 128)

// Grid-wide barrier over a counter that every block raises once per barrier (zero at launch;
// barrier number `epoch` completes at epoch * gridDim.x). Measured on the H100: faster than
// per-block flags polled by one thread per block (1.48 vs 1.54 ms per 1.3B step).
__device__ __forceinline__ void GridSync(unsigned int* counter, unsigned int& epoch) {
  __syncthreads();
  ++epoch;
  if (threadIdx.x == 0) {
    const unsigned int target = epoch * gridDim.x;
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(counter) : "memory");
    unsigned int v;
    do {
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(counter) : "memory");
    } while (v < target);
  }
  __syncthreads();
}

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

// Rows of an attention item's window (the positions not folded into S, the new token's
// included): the model's group, or kPlainSegment (FoldGroup); and of its v columns: the window
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

// xs[r, :] = residual[r, :] * rsqrt(mean(residual[r, :]^2) + eps) * weight, as AddRmsNorm; one
// pass over the residual (dim <= kNormVec * 4 * kThreads); xs rows xstride apart.
constexpr int kNormVec = 4;
template <typename T>
__device__ __forceinline__ void NormRows(const float* residual, const float* weight, T* xs, int m,
                                         int dim, int xstride, float eps, float* scratch) {
  const int n4 = dim / 4;
  for (int r = 0; r < m; ++r) {
    const float4* x4 = reinterpret_cast<const float4*>(residual + static_cast<size_t>(r) * dim);
    float4 v[kNormVec];
    float ss = 0.f;
#pragma unroll
    for (int u = 0; u < kNormVec; ++u) {
      const int i = threadIdx.x + u * kThreads;
      v[u] = i < n4 ? __ldcg(x4 + i) : make_float4(0.f, 0.f, 0.f, 0.f);
      ss += v[u].x * v[u].x + v[u].y * v[u].y + v[u].z * v[u].z + v[u].w * v[u].w;
    }
    const float inv = rsqrtf(detail::BlockSum(ss, scratch) / dim + eps);
#pragma unroll
    for (int u = 0; u < kNormVec; ++u) {
      const int i = threadIdx.x + u * kThreads;
      if (i >= n4) break;
      T* o = xs + static_cast<size_t>(r) * xstride + 4 * i;
      o[0] = detail::FromFloat<T>(v[u].x * inv * weight[4 * i]);
      o[1] = detail::FromFloat<T>(v[u].y * inv * weight[4 * i + 1]);
      o[2] = detail::FromFloat<T>(v[u].z * inv * weight[4 * i + 2]);
      o[3] = detail::FromFloat<T>(v[u].w * inv * weight[4 * i + 3]);
    }
  }
  __syncthreads();
}

// xs = src [m, dim] (dtype T, written by other blocks; xs rows xstride apart).
template <typename T>
__device__ __forceinline__ void CopyRows(const void* src, T* xs, int m, int dim, int xstride) {
  const uint4* s = static_cast<const uint4*>(src);
  const int per_row = dim * static_cast<int>(sizeof(T)) / 16;
  const int stride16 = xstride * static_cast<int>(sizeof(T)) / 16;
  uint4* x = reinterpret_cast<uint4*>(xs);
  for (int i = threadIdx.x; i < m * per_row; i += kThreads) {
    const int r = i / per_row;
    x[r * stride16 + i - r * per_row] = __ldcg(s + i);
  }
  __syncthreads();
}

// Where an attention item (sequence, kv head h, columns c0..) finds its slot data.
struct ItemSlot {
  LinearAttentionSeq sq;
  int h, c0;
  int old;      // window rows in the ring: positions [fold_pos, start_pos); the new tokens follow
  int vlo, nv;  // v rows of positions [vlo, start_pos + num_new) (window and conv taps)
  size_t ring_base, ring_stride;
  float* sbase;  // S of (slot, h)
};
// kGeneral: the augmented window (local groups, conv on v) at run-time sizes; else the plain
// window (WindowCap == VRowsCap == kMegaPlainWindow, vlo == fold_pos) at compile-time sizes.
template <bool kGeneral>
__device__ __forceinline__ ItemSlot ItemSlotOf(const MegaParams& p, const MegaLayer& L, int item) {
  const int D = p.head_dim, ncb = D / kColBlock;
  const int s = item / (p.kv_heads * ncb), rem = item - s * (p.kv_heads * ncb);
  ItemSlot it;
  it.sq = p.seqs[s];
  it.h = rem / ncb, it.c0 = (rem - it.h * ncb) * kColBlock;
  it.old = it.sq.start_pos - it.sq.fold_pos;
  it.vlo =
      kGeneral ? min(it.sq.fold_pos, max(0, it.sq.start_pos + 1 - p.conv_taps)) : it.sq.fold_pos;
  it.nv = it.sq.start_pos + it.sq.num_new - it.vlo;
  it.ring_base = (static_cast<size_t>(it.sq.slot) * p.ring_size * p.kv_heads + it.h) * D;
  it.ring_stride = static_cast<size_t>(p.kv_heads) * D;
  it.sbase = L.state + (static_cast<size_t>(it.sq.slot) * p.kv_heads + it.h) * D * D;
  return it;
}

// An item's slot data (written by earlier launches, read before this launch writes any of it)
// into buf (SlotBufFloats): by cp.async (kAsync; the caller commits and waits) or by loads.
template <bool kAsync, bool kGeneral>
__device__ void LoadSlot(const MegaParams& p, const MegaLayer& L, int item, float* buf) {
  const ItemSlot it = ItemSlotOf<kGeneral>(p, L, item);
  const int D = p.head_dim, d4_shift = __ffs(D) - 3;  // D / 4 = 1 << d4_shift
  // Ring rows of the window's first k^ row and first v row (rows r0 + r wrap once: r <
  // VRowsCap <= ring_size, RingSizeFor).
  const int k_row0 = it.sq.fold_pos % p.ring_size;
  const int v_row0 = kGeneral ? it.vlo % p.ring_size : k_row0;
  auto ring_row = [&](int r0, int r) {
    const int row = r0 + r;
    return static_cast<size_t>(row >= p.ring_size ? row - p.ring_size : row);
  };
  float* ks = buf;
  float* vs = ks + (kGeneral ? WindowCap(p) : kMegaPlainWindow) * D;
  float* sc = vs + (kGeneral ? VRowsCap(p) : kMegaPlainWindow) * kColBlock;
  auto copy = [](float* dst, const float* src) {
    if constexpr (kAsync) {
      detail::CpAsync16(dst, src);
    } else {
      *reinterpret_cast<float4*>(dst) = *reinterpret_cast<const float4*>(src);
    }
  };
#pragma unroll 1
  for (int idx = threadIdx.x; idx < it.old << d4_shift; idx += kThreads) {
    const int r = idx >> d4_shift, c = 4 * (idx & ((1 << d4_shift) - 1));
    copy(ks + r * D + c, L.ring_k + it.ring_base + ring_row(k_row0, r) * it.ring_stride + c);
  }
#pragma unroll 1
  for (int idx = threadIdx.x; idx < (it.sq.start_pos - it.vlo) * (kColBlock / 4); idx += kThreads) {
    const int r = idx / (kColBlock / 4), c = 4 * (idx - r * (kColBlock / 4));
    copy(vs + r * kColBlock + c,
         L.ring_v + it.ring_base + ring_row(v_row0, r) * it.ring_stride + it.c0 + c);
  }
#pragma unroll 1
  for (int idx = threadIdx.x; idx < D * (kColBlock / 4); idx += kThreads) {
    const int i = idx / (kColBlock / 4), c = 4 * (idx - i * (kColBlock / 4));
    copy(sc + i * kColBlock + c, it.sbase + static_cast<size_t>(i) * D + it.c0 + c);
  }
}

// One (sequence, kv head, 16-column block) of the step, for each of the sequence's new tokens
// (kMaxT: the most an instance takes) as LinearAttentionDecode / LinearAttentionStep compute it:
// plain o = gamma * (q.S + sum over the window of (q.k^_i) v_i), augmented o = gamma * q.S +
// sum over the window of relu(q.k^_i)^2 v_i + conv(v), the window of the token at position
// start_pos + u being [fold_pos, start_pos + u]; the new tokens' k^ / v into the ring, and for a
// one-token step S += the window's k^ (x) v when the committed token completes its group (a
// plain chunk: its first segment once committed; MegaChunkOk). buf holds the item's slot data
// (LoadSlot), in place once the block syncs.
template <typename T, bool kGeneral, int kMaxT>
__device__ void AttentionItem(const MegaParams& p, const MegaLayer& L, int item, float* sm,
                              float* buf) {
  const int D = p.head_dim, qpk = p.heads / p.kv_heads;
  const ItemSlot it = ItemSlotOf<kGeneral>(p, L, item);
  const LinearAttentionSeq& sq = it.sq;
  const int nt = kMaxT == 1 ? 1 : sq.num_new, nq = nt * qpk;  // query rows: token-major
  const int h = it.h, c0 = it.c0, old = it.old, row0 = sq.token_offset;
  const int cap = kGeneral ? WindowCap(p) : kMegaPlainWindow;
  const int wv = kGeneral ? sq.fold_pos - it.vlo : 0;  // the window's first row in vs
  const int vold = sq.start_pos - it.vlo;              // the first new token's row in vs
  const bool aug = kGeneral && p.group_size > 0;
  const int t = threadIdx.x, warp = t >> 5, lane = t & 31, j = t % kColBlock, rg = t / kColBlock;
  float* raw = sm;                       // [nt][qpk + 2][D] projections of this head
  float* qs = raw + nt * (qpk + 2) * D;  // [nq][D]
  float* vnew = qs + nq * D;             // [nt][D]
  float* ws = vnew + nt * D;             // [nq][cap]
  float* red = ws + nq * cap;            // [nq][kRowGroups][kColBlock]
  float* ks = buf;                       // LoadSlot's
  float* vs = ks + cap * D;
  const float* sc = vs + (kGeneral ? VRowsCap(p) : kMegaPlainWindow) * kColBlock;
  const size_t ring_base = it.ring_base, ring_stride = it.ring_stride;
  float* sbase = it.sbase;
  // This step's q, k and v of the head (the QKV phase's output).
  const int nqkv = (p.heads + 2 * p.kv_heads) * D, per_tok = (qpk + 2) * D;
  const int d_shift = __ffs(D) - 1;
#pragma unroll 1
  for (int idx = t; idx < nt * per_tok; idx += kThreads) {
    const int u = kMaxT == 1 ? 0 : idx / per_tok, within = idx - u * per_tok;
    const int which = within >> d_shift, c = within & (D - 1);
    const int head = which < qpk    ? h * qpk + which
                     : which == qpk ? p.heads + h
                                    : p.heads + p.kv_heads + h;
    raw[idx] = __ldcg(p.qkv + static_cast<size_t>(row0 + u) * nqkv + head * D + c);
  }
  __syncthreads();  // raw and the slot data (every thread's copies) in place
  float sv[kMaxSRows];
#pragma unroll
  for (int u = 0; u < kMaxSRows; ++u) {
    const int i = rg + u * kRowGroups;
    sv[u] = i < D ? sc[i * kColBlock + j] : 0.f;
  }
  for (int wi = warp; wi < nt * (qpk + 2); wi += kWarps) {  // RoPE and the feature map
    const int u = kMaxT == 1 ? 0 : wi / (qpk + 2), which = wi - u * (qpk + 2);
    float* dst = which < qpk    ? qs + (u * qpk + which) * D
                 : which == qpk ? ks + (old + u) * D
                                : vnew + u * D;
    const detail::Rope rope = detail::RopeOf(p.rope, row0 + u, D, sq.start_pos + u, p.inv_freq);
    detail::EpilogueHeadWarp<2>(raw + wi * D, 1, 0, 0, D, which > qpk, rope, p.feature_map, dst,
                                lane);
  }
  __syncthreads();
  for (int idx = t; idx < nt * kColBlock; idx += kThreads) {
    const int u = idx / kColBlock, c = idx - u * kColBlock;
    vs[(vold + u) * kColBlock + c] = vnew[u * D + c0 + c];
  }
  // Window weights: plain q.k^, augmented relu(q.k^)^2, of every key up to the query's token.
  const int wl = old + nt;
  for (int pr = warp; pr < nq * wl; pr += kWarps) {
    const int qr = pr / wl, si = pr - qr * wl;
    if (si > old + qr / qpk) continue;
    float dot = 0.f;
#pragma unroll 1
    for (int d = lane; d < D; d += 32) dot += qs[qr * D + d] * ks[si * D + d];
    dot = detail::WarpSum(dot);
    if (lane == 0) ws[qr * cap + si] = aug ? fmaxf(dot, 0.f) * fmaxf(dot, 0.f) : dot;
  }
  for (int qr = 0; qr < nq; ++qr) {  // q.S over this thread's rows
    float a = 0.f;
#pragma unroll
    for (int u = 0; u < kMaxSRows; ++u) {
      const int i = rg + u * kRowGroups;
      if (i < D) a += qs[qr * D + i] * sv[u];
    }
    red[(qr * kRowGroups + rg) * kColBlock + j] = a;
  }
  __syncthreads();
  for (int o = t; o < nq * kColBlock; o += kThreads) {
    const int qr = o / kColBlock, jj = o - qr * kColBlock, u = qr / qpk;
    float acc = 0.f;
    for (int g = 0; g < kRowGroups; ++g) acc += red[(qr * kRowGroups + g) * kColBlock + jj];
    if (aug) acc *= L.gamma;  // the global term's factor, before the local window joins
#pragma unroll 1
    for (int si = 0; si <= old + u; ++si) acc += ws[qr * cap + si] * vs[(wv + si) * kColBlock + jj];
    float conv = 0.f;  // the causal depthwise conv on v (augmented)
#pragma unroll 1
    for (int c = 0; c < (kGeneral && L.conv ? p.conv_taps : 0); ++c) {
      const int pos = sq.start_pos + u - p.conv_taps + 1 + c;
      if (pos >= 0) conv += L.conv[h * p.conv_taps + c] * vs[(pos - it.vlo) * kColBlock + jj];
    }
    const size_t out =
        (static_cast<size_t>(row0 + u) * p.heads + h * qpk + qr - u * qpk) * D + c0 + jj;
    static_cast<T*>(p.attn)[out] = detail::FromFloat<T>((aug ? acc : acc * L.gamma) + conv);
  }
  for (int idx = t; idx < nt * kColBlock; idx += kThreads) {  // the new k^ / v columns
    const int u = idx / kColBlock, c = idx - u * kColBlock;
    const size_t dst = ring_base + ((sq.start_pos + u) % p.ring_size) * ring_stride + c0 + c;
    L.ring_k[dst] = ks[(old + u) * D + c0 + c];
    L.ring_v[dst] = vnew[u * D + c0 + c];
  }
  // Window rows folded into S (the outputs above used S before the fold and every window row,
  // the same sum): a one-token step's whole window when its token completes its group; a plain
  // chunk's first kPlainSegment rows when committed tokens complete that segment (MegaChunkOk).
  int nfold = 0;
  if (nt == 1) {
    if (OneTokenStepFolds(sq, p.group_size > 0 ? p.group_size : kPlainSegment)) nfold = old + 1;
  } else if (p.group_size == 0 && sq.commit_pos >= sq.fold_pos + kPlainSegment) {
    nfold = kPlainSegment;
  }
  if (nfold > 0) {
#pragma unroll
    for (int u = 0; u < kMaxSRows; ++u) {  // fold, token by token as the decode kernel does
      const int i = rg + u * kRowGroups;
      if (i >= D) break;
      float v = sv[u];
#pragma unroll 1
      for (int si = 0; si < nfold; ++si) v += ks[si * D + i] * vs[(wv + si) * kColBlock + j];
      sbase[static_cast<size_t>(i) * D + c0 + j] = v;
    }
  }
}

__device__ __forceinline__ unsigned long long ArgmaxKey(float v, int idx) {
  unsigned int u = __float_as_uint(v);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // orders as the floats do
  return (static_cast<unsigned long long>(u) << 32) | (0xffffffffu - static_cast<unsigned>(idx));
}

// kM: the most rows the instance takes (1: the one-row instance on the CUDA cores, smaller and
// unrolled for it; kMegaMaxRows: the tensor-core one); kGeneral: see ItemSlotOf.
template <typename T, int kM, bool kGeneral>
__global__ void __launch_bounds__(kThreads, 1) MegaKernel(const __grid_constant__ MegaParams p) {
  extern __shared__ uint4 smem4[];
  __shared__ float scratch[32];
  __shared__ unsigned long long best_sm[kWarps][8];
  __shared__ unsigned int tile_counters[8];
  T* xs = reinterpret_cast<T*>(smem4);
  const int m = kM == 1 ? 1 : p.rows, H = p.hidden, D = p.head_dim, t = threadIdx.x;
  const int nqkv = (p.heads + 2 * p.kv_heads) * D, hd = p.heads * D;
  auto xstride = [&](int dim) { return XStride(dim, kM > 1); };
  unsigned int epoch = 0;
  if (blockIdx.x == 0) {
    const T* embed = static_cast<const T*>(p.embed);
    for (int idx = t; idx < m * H; idx += kThreads) {
      const int r = idx / H;
      p.residual[idx] = detail::ToFloat(embed[static_cast<size_t>(p.tokens[r]) * H + idx - r * H]);
    }
    if (t < m) p.argmax_keys[t] = 0ull;
    if (p.rope && p.inv_freq) {  // the step's RoPE table (read after the first barrier)
      const int half = D / 2;
      for (int idx = t; idx < m * half; idx += kThreads) {
        const int r = idx / half;
        int pos = 0;  // the row's position: its chunk's start plus its place in the chunk
        for (int s = 0; s < p.num_seqs; ++s) {
          const LinearAttentionSeq& sq = p.seqs[s];
          if (r >= sq.token_offset && r < sq.token_offset + sq.num_new) {
            pos = sq.start_pos + r - sq.token_offset;
          }
        }
        p.rope[idx] = detail::RopeCosSin(pos, p.inv_freq[idx - r * half]);
      }
    }
  }
  std::conditional_t<kM == 1, WeightStream<T>, TileStream<T>> ws;
  ws.Init(&p, smem4 + RingSmemOffset(p) / 16,
          reinterpret_cast<float*>(smem4 + RedSmemOffset(p) / 16), tile_counters);
  // o and down add their rows to the residual: the entries are asked for before the row's
  // products, so the add waits for no round trip.
  auto no_pre = [](int, int) { return 0.f; };
  auto load_residual = [&](int row, int r) {
    return __ldcg(p.residual + static_cast<size_t>(r) * H + row);
  };
  auto add_residual = [&](int row, int r, const float(&a)[1], float x) {
    p.residual[static_cast<size_t>(r) * H + row] = x + a[0];
  };
  GridSync(p.barrier, epoch);
  // The block's first p.slot_buffers attention items of a layer have their slot data copied
  // while the norm and the QKV phase run (the copies' group is followed by the weight
  // stream's); later items load theirs into the last buffer.
  float* slot_bufs = reinterpret_cast<float*>(smem4 + ActivationSmemBytes(p) / 16);
  const size_t slot_floats = SlotBufFloats(p);
  const int items = MegaAttentionItems(p);
  for (int l = 0; l < p.num_layers; ++l) {
    const MegaLayer L = p.layers[l];
    unsigned int slot_mark = 0;
    if (blockIdx.x < items) {
      for (int b = 0; b < p.slot_buffers; ++b) {
        const int item = blockIdx.x + b * gridDim.x;
        if (item < items) LoadSlot<true, kGeneral>(p, L, item, slot_bufs + b * slot_floats);
      }
      detail::CpAsyncCommit();
      slot_mark = ws.issued;
    }
    NormRows<T>(p.residual, L.in_norm, xs, m, H, xstride(H), p.eps, scratch);
    ws.template Consume<1>(nqkv, H, xs, xstride(H), m, no_pre,
                           [&](int row, int r, const float(&a)[1], float) {
                             p.qkv[static_cast<size_t>(r) * nqkv + row] = a[0];
                           });
    GridSync(p.barrier, epoch);
    constexpr int kRingStages = kM == 1 ? kStages : kTileStages;
    for (int item = blockIdx.x, k = 0; item < items; item += gridDim.x, ++k) {
      float* buf = slot_bufs + min(k, p.slot_buffers - 1) * slot_floats;
      if (k >= p.slot_buffers) {
        LoadSlot<false, kGeneral>(p, L, item, buf);
      } else if (k == 0) {  // the prefetched items' group (later items: already waited for)
        if (ws.issued - slot_mark >= kRingStages - 2) {  // groups committed after the copies
          detail::CpAsyncWait<kRingStages - 2>();
        } else {
          detail::CpAsyncWait<0>();
        }
      }
      AttentionItem<T, kGeneral, kM>(p, L, item, reinterpret_cast<float*>(smem4), buf);
      __syncthreads();
    }
    GridSync(p.barrier, epoch);
    CopyRows<T>(p.attn, xs, m, hd, xstride(hd));
    ws.template Consume<1>(H, hd, xs, xstride(hd), m, load_residual, add_residual);
    GridSync(p.barrier, epoch);
    NormRows<T>(p.residual, L.post_norm, xs, m, H, xstride(H), p.eps, scratch);
    ws.template Consume<2>(p.ffn, H, xs, xstride(H), m, no_pre,
                           [&](int row, int r, const float(&a)[2], float) {
                             static_cast<T*>(p.mlp)[static_cast<size_t>(r) * p.ffn + row] =
                                 detail::FromFloat<T>(detail::SwiGluAct(a[0], a[1]));
                           });
    GridSync(p.barrier, epoch);
    CopyRows<T>(p.mlp, xs, m, p.ffn, xstride(p.ffn));
    ws.template Consume<1>(H, p.ffn, xs, xstride(p.ffn), m, load_residual, add_residual);
    GridSync(p.barrier, epoch);
  }
  NormRows<T>(p.residual, p.final_norm, xs, m, H, xstride(H), p.eps, scratch);
  // Each storing thread keeps its best key per row (the one-row stream: lane 0 of every warp,
  // row 0; the tile stream: lane (g, t) of a tile's last warp, rows 2t and 2t + 1).
  unsigned long long best[2] = {0ull, 0ull};
  ws.template Consume<1>(p.vocab, H, xs, xstride(H), m, no_pre,
                         [&](int row, int r, const float(&a)[1], float) {
                           best[r & 1] = max(best[r & 1], ArgmaxKey(a[0], row));
                           if (p.logits) p.logits[static_cast<size_t>(r) * p.vocab + row] = a[0];
                         });
  detail::CpAsyncWait<0>();
  const int warp = t >> 5, lane = t & 31;
#pragma unroll
  for (int e = 0; e < 2; ++e) {
    for (int o = kM == 1 ? 1 : 4; o < 32; o <<= 1) {
      best[e] = max(best[e], __shfl_xor_sync(~0u, best[e], o));
    }
  }
  if (lane < 4) {  // the warp's best of rows 2 lane, 2 lane + 1 (one-row: row 0 in every lane)
    best_sm[warp][2 * lane] = best[0];
    best_sm[warp][2 * lane + 1] = best[1];
  }
  __syncthreads();
  if (t < m) {
    unsigned long long b = 0;
    for (int w = 0; w < kWarps; ++w) b = max(b, best_sm[w][kM == 1 ? 0 : t]);
    atomicMax(p.argmax_keys + t, b);
  }
  GridSync(p.barrier, epoch);
  if (blockIdx.x == 0 && t < m) {
    const unsigned long long key = __ldcg(p.argmax_keys + t);
    p.argmax_out[t] = static_cast<int32_t>(0xffffffffu - static_cast<unsigned>(key & 0xffffffffu));
  }
}

}  // namespace

bool MegaShapeSupported(int hidden, int heads, int kv_heads, int head_dim, int ffn) {
  return (head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128) &&
         hidden % 8 == 0 && hidden <= kNormVec * 4 * kThreads && ffn % 8 == 0 && kv_heads > 0 &&
         heads % kv_heads == 0 && heads / kv_heads <= kDecodeMaxQueryHeads;
}

size_t MegaSmemBytes(const MegaParams& p) {
  return RingSmemOffset(p) + (TensorCores(p) ? kTileRingBytes : kRingBytes);
}

cudaError_t DecodeMegakernel(const MegaParams& p, DType dtype, int blocks, cudaStream_t stream) {
  if (p.rows < 1 || p.rows > kMegaMaxRows || p.num_seqs < 1 || p.num_seqs > p.rows || blocks < 1 ||
      dtype == DType::kF32 ||
      !MegaShapeSupported(p.hidden, p.heads, p.kv_heads, p.head_dim, p.ffn) || p.group_size < 0 ||
      p.group_size > kDecodeMaxGroup || p.conv_taps < 0 ||
      p.ring_size < std::max({FoldGroup(p.group_size), p.conv_taps, 1}) || p.slot_buffers < 1 ||
      p.slot_buffers > 2 || p.red_slots < 1 || p.red_slots > 2) {
    return cudaErrorInvalidValue;
  }
  cudaError_t e = cudaMemsetAsync(p.barrier, 0, sizeof(unsigned int), stream);
  if (e != cudaSuccess) return e;
  const size_t smem = MegaSmemBytes(p);
  const bool one = !TensorCores(p), general = p.group_size > 0 || p.conv_taps > 0;
  auto pick = [&](auto t) {
    using T = decltype(t);
    if (general) return one ? MegaKernel<T, 1, true> : MegaKernel<T, kMegaMaxRows, true>;
    return one ? MegaKernel<T, 1, false> : MegaKernel<T, kMegaMaxRows, false>;
  };
  auto* kernel = dtype == DType::kBF16 ? pick(__nv_bfloat16{}) : pick(__half{});
  e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(smem));
  if (e != cudaSuccess) return e;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(blocks);
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, kernel, p);
}

}  // namespace linspec::kernels
