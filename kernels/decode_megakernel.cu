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
  return p.group_size > 0 ? p.group_size : kPlainSegment;
}
__host__ __device__ inline int VRowsCap(const MegaParams& p) {
  return WindowCap(p) > p.conv_taps ? WindowCap(p) : p.conv_taps;
}

// An attention item's slot data (LoadSlot): the window's k^ rows [WindowCap][D] (the new
// token's row last), the v columns [VRowsCap][kColBlock] of positions [vlo, start_pos] and S's
// columns [D][kColBlock].
__host__ __device__ inline size_t SlotBufFloats(const MegaParams& p) {
  const size_t d = p.head_dim;
  return WindowCap(p) * d + VRowsCap(p) * kColBlock + d * kColBlock;
}

// Shared memory: the activations of the widest GEMV input (or the attention step's other
// buffers; ActivationSmemBytes), p.slot_buffers attention items' slot data, then kWarps weight
// rings (from RingSmemOffset).
__host__ __device__ inline size_t ActivationSmemBytes(const MegaParams& p) {
  const size_t d = p.head_dim, q = p.heads / p.kv_heads;
  const size_t attention =
      sizeof(float) * ((q + 2) * d + q * d + d + q * WindowCap(p) + q * kRowGroups * kColBlock);
  size_t widest = p.hidden > p.ffn ? p.hidden : p.ffn;
  if (static_cast<size_t>(p.heads) * d > widest) widest = p.heads * d;
  const size_t acts = static_cast<size_t>(p.rows) * widest * 2;
  return ((acts > attention ? acts : attention) + 15) / 16 * 16;
}
__host__ __device__ inline size_t RingSmemOffset(const MegaParams& p) {
  return ActivationSmemBytes(p) + sizeof(float) * SlotBufFloats(p) * p.slot_buffers;
}

// The weight stream of a warp. Every projection of the step is a GEMV phase (per layer: qkv,
// o, gate/up, down; then the LM head) whose rows the grid's warps share round-robin (warp gw
// takes rows gw, gw + nw, ...; gate/up: index f takes gate row f and up row ffn + f). Weights
// never depend on the step, so the warp streams its rows of every phase, in order, through a
// private shared-memory ring of kStages batches (kB 16-byte chunks per lane) by cp.async,
// kStages - 1 batches ahead of the consumer: across phase ends and the grid barriers too, so
// the next phase's first weights arrive while the barrier and the activations are awaited.
// Each lane copies and reads back only its own chunks (no warp synchronization). The copies
// carry an L2 evict-first policy (weights are read once per step), which keeps the slots' state
// and the step's activations in L2.
//
// The depth (bench/cuda_notes.md, session 7; H100, 1.3B B=1, same-run): every byte in flight
// also queues in front of the grid barriers' and the activations' L2 round trips (2-3 us per
// barrier with 6 KB per warp ahead), so 7 batches of 512 bytes (3.5 KB per warp) beat 3 of 2 KB
// (1.271 vs 1.312 ms) and 3 of 1 KB (1.293); the evict-first policy then 1.258.
constexpr int kStages = 8;
constexpr int kB = 1;
constexpr int kBatchUnits = kB * 32;  // uint4 per batch per warp
constexpr size_t kRingBytes = size_t{kWarps} * kStages * kBatchUnits * 16;

template <typename T, int kM>
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
    const int ffn = p->ffn, H = p->hidden;
    const int nqkv = (p->heads + 2 * p->kv_heads) * p->head_dim, hd = p->heads * p->head_dim;
    if (phase == last_phase) {
      w = static_cast<const T*>(p->lm_head), rows = p->vocab, k8 = H / 8, pair = 0;
      return;
    }
    const MegaLayer& L = p->layers[phase >> 2];
    switch (phase & 3) {
      case 0:
        w = static_cast<const T*>(L.qkv), rows = nqkv, k8 = H / 8, pair = 0;
        break;
      case 1:
        w = static_cast<const T*>(L.o), rows = H, k8 = hd / 8, pair = 0;
        break;
      case 2:
        w = static_cast<const T*>(L.gate_up), rows = ffn, k8 = H / 8, pair = ffn;
        break;
      default:
        w = static_cast<const T*>(L.down), rows = H, k8 = ffn / 8, pair = 0;
        break;
    }
  }
  // Moves to the first phase (from `phase` on) in which this warp has rows.
  __device__ __forceinline__ void SkipEmpty() {
    while (phase <= last_phase) {
      SetPhase();
      if (gw < rows) return;
      ++phase;
    }
  }
  __device__ __forceinline__ void Init(const MegaParams* params, uint4* smem_ring) {
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
#pragma unroll
      for (int b = 0; b < kB; ++b) {
        const int c = c0 + b * 32 + lane;
        detail::CpAsync16(dst + b * 32 + lane, src + min(c, k8 - 1), c < k8, policy);
      }
      ++issued;
      c0 += 32 * kB;
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
  // The current phase (the consumer's): kR rows per index (2: gate/up), times xs [m, k];
  // store(index, acc[kR][kM], pre(index)) on lane 0, where pre(index) runs before the
  // index's products (loads the store needs, in flight meanwhile).
  template <int kR, typename Pre, typename Store>
  __device__ __forceinline__ void Consume(int n, int k, const uint4* xs, int m, Pre&& pre,
                                          Store&& store) {
    const int lane = threadIdx.x & 31, kk8 = k / 8;
    for (int idx = gw; idx < n; idx += nw) {
      const auto ctx = pre(idx);
      float acc[kR][kM];
#pragma unroll
      for (int q = 0; q < kR; ++q)
#pragma unroll
        for (int r = 0; r < kM; ++r) acc[q][r] = 0.f;
#pragma unroll
      for (int q = 0; q < kR; ++q) {
        for (int cc = 0; cc < kk8; cc += 32 * kB) {
          detail::CpAsyncWait<kStages - 2>();
          const uint4* slot = ring + (consumed % kStages) * kBatchUnits;
#pragma unroll
          for (int b = 0; b < kB; ++b) {
            const int c = cc + b * 32 + lane;
            if (c >= kk8) break;
            const uint4 wv = slot[b * 32 + lane];
#pragma unroll
            for (int r = 0; r < kM; ++r) {
              if (r >= m) break;
              acc[q][r] = Dot8<T>(wv, xs[r * kk8 + c], acc[q][r]);
            }
          }
          ++consumed;
          Issue();
        }
      }
#pragma unroll
      for (int q = 0; q < kR; ++q)
#pragma unroll
        for (int r = 0; r < kM; ++r) acc[q][r] = detail::WarpSum(acc[q][r]);
      if (lane == 0) store(idx, acc, ctx);
    }
  }
};

// xs[r, :] = residual[r, :] * rsqrt(mean(residual[r, :]^2) + eps) * weight, as AddRmsNorm; one
// pass over the residual (dim <= kNormVec * 4 * kThreads).
constexpr int kNormVec = 4;
template <typename T>
__device__ __forceinline__ void NormRows(const float* residual, const float* weight, T* xs, int m,
                                         int dim, float eps, float* scratch) {
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
      T* o = xs + static_cast<size_t>(r) * dim + 4 * i;
      o[0] = detail::FromFloat<T>(v[u].x * inv * weight[4 * i]);
      o[1] = detail::FromFloat<T>(v[u].y * inv * weight[4 * i + 1]);
      o[2] = detail::FromFloat<T>(v[u].z * inv * weight[4 * i + 2]);
      o[3] = detail::FromFloat<T>(v[u].w * inv * weight[4 * i + 3]);
    }
  }
  __syncthreads();
}

// xs = src [m, dim] (dtype T, written by other blocks).
__device__ __forceinline__ void CopyRows(const void* src, uint4* xs, int m, int dim, int elem) {
  const uint4* s = static_cast<const uint4*>(src);
  const int n = m * dim * elem / 16;
  for (int i = threadIdx.x; i < n; i += kThreads) xs[i] = __ldcg(s + i);
  __syncthreads();
}

// Where an attention item (sequence, kv head h, columns c0..) finds its slot data.
struct ItemSlot {
  LinearAttentionSeq sq;
  int h, c0, len;  // len: the window [fold_pos, start_pos], the new token last
  int vlo, nv;     // v rows of positions [vlo, start_pos] (window and conv taps), nv of them
  size_t ring_base, ring_stride;
  float* sbase;  // S of (slot, h)
};
// kGeneral: the augmented window (local groups, conv on v) at run-time sizes; else the plain
// 16-row window (WindowCap == VRowsCap == kPlainSegment, vlo == fold_pos) at compile-time sizes.
template <bool kGeneral>
__device__ __forceinline__ ItemSlot ItemSlotOf(const MegaParams& p, const MegaLayer& L, int item) {
  const int D = p.head_dim, ncb = D / kColBlock;
  const int s = item / (p.kv_heads * ncb), rem = item - s * (p.kv_heads * ncb);
  ItemSlot it;
  it.sq = p.seqs[s];
  it.h = rem / ncb, it.c0 = (rem - it.h * ncb) * kColBlock;
  it.len = it.sq.start_pos + 1 - it.sq.fold_pos;
  it.vlo =
      kGeneral ? min(it.sq.fold_pos, max(0, it.sq.start_pos + 1 - p.conv_taps)) : it.sq.fold_pos;
  it.nv = it.sq.start_pos + 1 - it.vlo;
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
  float* vs = ks + (kGeneral ? WindowCap(p) : kPlainSegment) * D;
  float* sc = vs + (kGeneral ? VRowsCap(p) : kPlainSegment) * kColBlock;
  auto copy = [](float* dst, const float* src) {
    if constexpr (kAsync) {
      detail::CpAsync16(dst, src);
    } else {
      *reinterpret_cast<float4*>(dst) = *reinterpret_cast<const float4*>(src);
    }
  };
#pragma unroll 1
  for (int idx = threadIdx.x; idx < (it.len - 1) << d4_shift; idx += kThreads) {
    const int r = idx >> d4_shift, c = 4 * (idx & ((1 << d4_shift) - 1));
    copy(ks + r * D + c, L.ring_k + it.ring_base + ring_row(k_row0, r) * it.ring_stride + c);
  }
#pragma unroll 1
  for (int idx = threadIdx.x; idx < (it.nv - 1) * (kColBlock / 4); idx += kThreads) {
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

// One (sequence, kv head, 16-column block) of the decode step, as LinearAttentionDecode
// computes it: plain o = gamma * (q.S + sum over the window of (q.k^_i) v_i), augmented
// o = gamma * q.S + sum over the window of relu(q.k^_i)^2 v_i + conv(v); the new token's k^/v
// into the ring, and S += the window's k^ (x) v when the committed token completes its group.
// buf holds the item's slot data (LoadSlot), in place once the block syncs.
template <typename T, bool kGeneral>
__device__ void AttentionItem(const MegaParams& p, const MegaLayer& L, int item, float* sm,
                              float* buf) {
  const int D = p.head_dim, qpk = p.heads / p.kv_heads;
  const ItemSlot it = ItemSlotOf<kGeneral>(p, L, item);
  const LinearAttentionSeq& sq = it.sq;
  const int h = it.h, c0 = it.c0, len = it.len, row = sq.token_offset;
  const int cap = kGeneral ? WindowCap(p) : kPlainSegment;
  const int wv = kGeneral ? sq.fold_pos - it.vlo : 0;  // the window's first row in vs
  const bool aug = kGeneral && p.group_size > 0;
  const int t = threadIdx.x, warp = t >> 5, lane = t & 31, j = t % kColBlock, rg = t / kColBlock;
  float* raw = sm;                  // [qpk + 2][D] projections of this head
  float* qs = raw + (qpk + 2) * D;  // [qpk][D]
  float* vnew = qs + qpk * D;       // [D]
  float* ws = vnew + D;             // [qpk][cap]
  float* red = ws + qpk * cap;      // [qpk][kRowGroups][kColBlock]
  float* ks = buf;                  // LoadSlot's
  float* vs = ks + cap * D;
  const float* sc = vs + (kGeneral ? VRowsCap(p) : kPlainSegment) * kColBlock;
  const size_t ring_base = it.ring_base, ring_stride = it.ring_stride;
  float* sbase = it.sbase;
  // This step's q, k and v of the head (the QKV phase's output).
  const int nqkv = (p.heads + 2 * p.kv_heads) * D;
  const float* src = p.qkv + static_cast<size_t>(row) * nqkv;
  const int d_shift = __ffs(D) - 1;
#pragma unroll 1
  for (int idx = t; idx < (qpk + 2) * D; idx += kThreads) {
    const int which = idx >> d_shift, c = idx & (D - 1);
    const int head = which < qpk    ? h * qpk + which
                     : which == qpk ? p.heads + h
                                    : p.heads + p.kv_heads + h;
    raw[idx] = __ldcg(src + static_cast<size_t>(head) * D + c);
  }
  __syncthreads();  // raw and the slot data (every thread's copies) in place
  float sv[kMaxSRows];
#pragma unroll
  for (int u = 0; u < kMaxSRows; ++u) {
    const int i = rg + u * kRowGroups;
    sv[u] = i < D ? sc[i * kColBlock + j] : 0.f;
  }
  if (warp < qpk + 2) {  // RoPE and the feature map, as QkvEpilogue
    float* dst = warp < qpk ? qs + warp * D : warp == qpk ? ks + (len - 1) * D : vnew;
    const detail::Rope rope = detail::RopeOf(p.rope, row, D, sq.start_pos, p.inv_freq);
    detail::EpilogueHeadWarp<2>(raw + warp * D, 1, 0, 0, D, warp > qpk, rope, p.feature_map, dst,
                                lane);
  }
  __syncthreads();
  if (t < kColBlock) vs[(it.nv - 1) * kColBlock + t] = vnew[c0 + t];
  // Window weights: plain q.k^, augmented relu(q.k^)^2 (every window key is <= the query).
  for (int pr = warp; pr < qpk * len; pr += kWarps) {
    const int qi = pr / len, si = pr - qi * len;
    float dot = 0.f;
#pragma unroll 1
    for (int d = lane; d < D; d += 32) dot += qs[qi * D + d] * ks[si * D + d];
    dot = detail::WarpSum(dot);
    if (lane == 0) ws[qi * cap + si] = aug ? fmaxf(dot, 0.f) * fmaxf(dot, 0.f) : dot;
  }
  for (int qi = 0; qi < qpk; ++qi) {  // q.S over this thread's rows
    float a = 0.f;
#pragma unroll
    for (int u = 0; u < kMaxSRows; ++u) {
      const int i = rg + u * kRowGroups;
      if (i < D) a += qs[qi * D + i] * sv[u];
    }
    red[(qi * kRowGroups + rg) * kColBlock + j] = a;
  }
  __syncthreads();
  if (t < qpk * kColBlock) {
    const int qi = t / kColBlock, jj = t - qi * kColBlock;
    float acc = 0.f;
    for (int g = 0; g < kRowGroups; ++g) acc += red[(qi * kRowGroups + g) * kColBlock + jj];
    if (aug) acc *= L.gamma;  // the global term's factor, before the local window joins
#pragma unroll 1
    for (int si = 0; si < len; ++si) acc += ws[qi * cap + si] * vs[(wv + si) * kColBlock + jj];
    float conv = 0.f;  // the causal depthwise conv on v (augmented)
#pragma unroll 1
    for (int c = 0; c < (kGeneral && L.conv ? p.conv_taps : 0); ++c) {
      const int pos = sq.start_pos - p.conv_taps + 1 + c;
      if (pos >= 0) conv += L.conv[h * p.conv_taps + c] * vs[(pos - it.vlo) * kColBlock + jj];
    }
    const size_t o = (static_cast<size_t>(row) * p.heads + h * qpk + qi) * D + c0 + jj;
    static_cast<T*>(p.attn)[o] = detail::FromFloat<T>((aug ? acc : acc * L.gamma) + conv);
  }
  if (t < kColBlock) {  // the new token's k^ / v columns into the ring
    const size_t dst = ring_base + (sq.start_pos % p.ring_size) * ring_stride + c0 + t;
    L.ring_k[dst] = ks[(len - 1) * D + c0 + t];
    L.ring_v[dst] = vnew[c0 + t];
  }
  if (OneTokenStepFolds(sq, cap)) {
#pragma unroll
    for (int u = 0; u < kMaxSRows; ++u) {  // fold, token by token as the decode kernel does
      const int i = rg + u * kRowGroups;
      if (i >= D) break;
      float v = sv[u];
#pragma unroll 1
      for (int si = 0; si < len; ++si) v += ks[si * D + i] * vs[(wv + si) * kColBlock + j];
      sbase[static_cast<size_t>(i) * D + c0 + j] = v;
    }
  }
}

__device__ __forceinline__ unsigned long long ArgmaxKey(float v, int idx) {
  unsigned int u = __float_as_uint(v);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // orders as the floats do
  return (static_cast<unsigned long long>(u) << 32) | (0xffffffffu - static_cast<unsigned>(idx));
}

// kM: the most rows the instance takes (1: a one-row instance, smaller and unrolled for it);
// kGeneral: see ItemSlotOf.
template <typename T, int kM, bool kGeneral>
__global__ void __launch_bounds__(kThreads, 1) MegaKernel(const __grid_constant__ MegaParams p) {
  extern __shared__ uint4 smem4[];
  __shared__ float scratch[32];
  __shared__ unsigned long long best_sm[kWarps][kM];
  T* xs = reinterpret_cast<T*>(smem4);
  const int m = kM == 1 ? 1 : p.rows, H = p.hidden, D = p.head_dim, t = threadIdx.x;
  const int nqkv = (p.heads + 2 * p.kv_heads) * D, hd = p.heads * D;
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
        p.rope[idx] = detail::RopeCosSin(p.seqs[r].start_pos, p.inv_freq[idx - r * half]);
      }
    }
  }
  WeightStream<T, kM> ws;
  ws.Init(&p, smem4 + RingSmemOffset(p) / 16);
  // o and down add their rows to the residual: lane 0 asks for the residual entries before
  // the row's products, so the add waits for no round trip.
  struct Rows {
    float v[kM];
  };
  auto no_pre = [](int) { return 0; };
  auto load_residual = [&](int row) {
    Rows x;
#pragma unroll
    for (int r = 0; r < kM; ++r) {
      x.v[r] = (t & 31) == 0 && r < m ? __ldcg(p.residual + static_cast<size_t>(r) * H + row) : 0.f;
    }
    return x;
  };
  auto add_residual = [&](int row, const float(&a)[1][kM], const Rows& x) {
#pragma unroll
    for (int r = 0; r < kM; ++r) {
      if (r < m) p.residual[static_cast<size_t>(r) * H + row] = x.v[r] + a[0][r];
    }
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
    NormRows<T>(p.residual, L.in_norm, xs, m, H, p.eps, scratch);
    ws.template Consume<1>(nqkv, H, smem4, m, no_pre, [&](int row, const float(&a)[1][kM], int) {
#pragma unroll
      for (int r = 0; r < kM; ++r) {
        if (r < m) p.qkv[static_cast<size_t>(r) * nqkv + row] = a[0][r];
      }
    });
    GridSync(p.barrier, epoch);
    for (int item = blockIdx.x, k = 0; item < items; item += gridDim.x, ++k) {
      float* buf = slot_bufs + min(k, p.slot_buffers - 1) * slot_floats;
      if (k >= p.slot_buffers) {
        LoadSlot<false, kGeneral>(p, L, item, buf);
      } else if (k == 0) {  // the prefetched items' group (later items: already waited for)
        if (ws.issued - slot_mark >= kStages - 2) {  // groups committed after the copies
          detail::CpAsyncWait<kStages - 2>();
        } else {
          detail::CpAsyncWait<0>();
        }
      }
      AttentionItem<T, kGeneral>(p, L, item, reinterpret_cast<float*>(smem4), buf);
      __syncthreads();
    }
    GridSync(p.barrier, epoch);
    CopyRows(p.attn, smem4, m, hd, sizeof(T));
    ws.template Consume<1>(H, hd, smem4, m, load_residual, add_residual);
    GridSync(p.barrier, epoch);
    NormRows<T>(p.residual, L.post_norm, xs, m, H, p.eps, scratch);
    ws.template Consume<2>(p.ffn, H, smem4, m, no_pre, [&](int row, const float(&a)[2][kM], int) {
      T* out = static_cast<T*>(p.mlp);
#pragma unroll
      for (int r = 0; r < kM; ++r) {
        if (r < m) {
          out[static_cast<size_t>(r) * p.ffn + row] =
              detail::FromFloat<T>(detail::SwiGluAct(a[0][r], a[1][r]));
        }
      }
    });
    GridSync(p.barrier, epoch);
    CopyRows(p.mlp, smem4, m, p.ffn, sizeof(T));
    ws.template Consume<1>(H, p.ffn, smem4, m, load_residual, add_residual);
    GridSync(p.barrier, epoch);
  }
  NormRows<T>(p.residual, p.final_norm, xs, m, H, p.eps, scratch);
  unsigned long long best[kM] = {};  // lane 0's best key per row
  ws.template Consume<1>(p.vocab, H, smem4, m, no_pre, [&](int row, const float(&a)[1][kM], int) {
#pragma unroll
    for (int r = 0; r < kM; ++r) {
      if (r < m) {
        best[r] = max(best[r], ArgmaxKey(a[0][r], row));
        if (p.logits) p.logits[static_cast<size_t>(r) * p.vocab + row] = a[0][r];
      }
    }
  });
  detail::CpAsyncWait<0>();
  const int warp = t >> 5, lane = t & 31;
  if (lane == 0) {
    for (int r = 0; r < kM; ++r) best_sm[warp][r] = best[r];
  }
  __syncthreads();
  if (t < m) {
    unsigned long long b = 0;
    for (int w = 0; w < kWarps; ++w) b = max(b, best_sm[w][t]);
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

size_t MegaSmemBytes(const MegaParams& p) { return RingSmemOffset(p) + kRingBytes; }

cudaError_t DecodeMegakernel(const MegaParams& p, DType dtype, int blocks, cudaStream_t stream) {
  if (p.rows < 1 || p.rows > kMegaMaxRows || blocks < 1 || dtype == DType::kF32 ||
      !MegaShapeSupported(p.hidden, p.heads, p.kv_heads, p.head_dim, p.ffn) || p.group_size < 0 ||
      p.group_size > kDecodeMaxGroup || p.conv_taps < 0 || p.ring_size < VRowsCap(p) ||
      p.slot_buffers < 1 || p.slot_buffers > 2) {
    return cudaErrorInvalidValue;
  }
  cudaError_t e = cudaMemsetAsync(p.barrier, 0, sizeof(unsigned int), stream);
  if (e != cudaSuccess) return e;
  const size_t smem = MegaSmemBytes(p);
  const bool one = p.rows == 1, general = p.group_size > 0 || p.conv_taps > 0;
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
