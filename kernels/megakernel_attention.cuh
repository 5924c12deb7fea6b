// The one-kernel decode step (decode_megakernel.cu; internal): an attention work item, its
// slot data and its math for each of a sequence's new tokens.
#ifndef LINSPEC_KERNELS_MEGAKERNEL_ATTENTION_CUH_
#define LINSPEC_KERNELS_MEGAKERNEL_ATTENTION_CUH_

#include "kernels/decode_megakernel.h"
#include "kernels/device_common.cuh"
#include "kernels/megakernel_layout.cuh"
#include "kernels/qkv_math.cuh"

namespace linspec::kernels::mega {

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

// Rows of an item's window (k^ rows, window weights per query) and of its v columns: the
// layout's WindowCap and VRowsCap, at compile time for the plain window.
template <bool kGeneral>
__device__ __forceinline__ int ItemWindowCap(const MegaParams& p) {
  return kGeneral ? WindowCap(p) : kMegaPlainWindow;
}
template <bool kGeneral>
__device__ __forceinline__ int ItemVRowsCap(const MegaParams& p) {
  return kGeneral ? VRowsCap(p) : kMegaPlainWindow;
}

// An item's slot buffer (SlotBufFloats): the window's k^ rows [ItemWindowCap][D] (the new
// tokens' rows from `old` on), the v columns [ItemVRowsCap][kColBlock] from position vlo on and
// S's columns [D][kColBlock] before this step.
struct SlotBuf {
  float* ks;
  float* vs;
  float* sc;
};
template <bool kGeneral>
__device__ __forceinline__ SlotBuf SlotBufOf(const MegaParams& p, float* buf) {
  SlotBuf b;
  b.ks = buf;
  b.vs = b.ks + ItemWindowCap<kGeneral>(p) * p.head_dim;
  b.sc = b.vs + ItemVRowsCap<kGeneral>(p) * kColBlock;
  return b;
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
  float* ks = buf;  // the layout of SlotBufOf (written out: the same machine code as before it)
  float* vs = ks + ItemWindowCap<kGeneral>(p) * D;
  float* sc = vs + ItemVRowsCap<kGeneral>(p) * kColBlock;
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

// Where an item's step data sits in the block's shared memory: the activation region sm
// (overwritten by the next phase) and the slot buffer buf (LoadSlot's; kept until the
// block's next LoadSlot into it).
struct ItemSmem {
  float* raw;   // [nt][qpk + 2][D] projections of this head
  float* qs;    // [nq][D]
  float* vnew;  // [nt][D]
  float* ws;    // [nq][cap] window weights
  float* red;   // [nq][kRowGroups][kColBlock]
  float* ks;    // SlotBuf's
  float* vs;
  const float* sc;
};
template <bool kGeneral>
__device__ __forceinline__ ItemSmem ItemSmemOf(const MegaParams& p, int nt, float* sm, float* buf) {
  const int D = p.head_dim, qpk = p.heads / p.kv_heads, nq = nt * qpk;
  ItemSmem s;
  s.raw = sm;
  s.qs = s.raw + nt * (qpk + 2) * D;
  s.vnew = s.qs + nq * D;
  s.ws = s.vnew + nt * D;
  s.red = s.ws + nq * ItemWindowCap<kGeneral>(p);
  const SlotBuf b = SlotBufOf<kGeneral>(p, buf);
  s.ks = b.ks, s.vs = b.vs, s.sc = b.sc;
  return s;
}

// One (sequence, kv head, 16-column block) of the step, for each of the sequence's new tokens
// (kMaxT: the most an instance takes) as LinearAttentionDecode / LinearAttentionStep compute it:
// plain o = gamma * (q.S + sum over the window of (q.k^_i) v_i), augmented o = gamma * q.S +
// sum over the window of relu(q.k^_i)^2 v_i + conv(v), the window of the token at position
// start_pos + u being [fold_pos, start_pos + u]. The outputs only: what no other block reads in
// this launch (ring rows, the fold) is ItemTail's, after the block's barrier arrival. buf holds
// the item's slot data (LoadSlot), in place once the block syncs.
template <typename T, bool kGeneral, int kMaxT>
__device__ void AttentionItem(const MegaParams& p, const MegaLayer& L, int item, float* sm,
                              float* buf) {
  const int D = p.head_dim, qpk = p.heads / p.kv_heads;
  const ItemSlot it = ItemSlotOf<kGeneral>(p, L, item);
  const LinearAttentionSeq& sq = it.sq;
  const int nt = kMaxT == 1 ? 1 : sq.num_new, nq = nt * qpk;  // query rows: token-major
  const int h = it.h, c0 = it.c0, old = it.old, row0 = sq.token_offset;
  const int cap = ItemWindowCap<kGeneral>(p);
  const int wv = kGeneral ? sq.fold_pos - it.vlo : 0;  // the window's first row in vs
  const int vold = sq.start_pos - it.vlo;              // the first new token's row in vs
  const bool aug = kGeneral && p.group_size > 0;
  const int t = threadIdx.x, warp = t >> 5, lane = t & 31, j = t % kColBlock, rg = t / kColBlock;
  const ItemSmem s = ItemSmemOf<kGeneral>(p, nt, sm, buf);
  float *raw = s.raw, *qs = s.qs, *vnew = s.vnew, *ws = s.ws, *red = s.red, *ks = s.ks, *vs = s.vs;
  const float* sc = s.sc;
  // This step's q, k and v of the head (the QKV phase's output).
  const int nqkv = (p.heads + 2 * p.kv_heads) * D, per_tok = (qpk + 2) * D;
  // kLd loads in flight per thread before their stores (a chunk's tokens take several rounds:
  // one L2 round trip for up to kLd of them, not one each).
  const int d_shift = __ffs(D) - 1, total = nt * per_tok;
  constexpr int kLd = 4;
  // A one-token item's RoPE angles (the step's table, complete since the step's first barrier)
  // are asked for with the projections, not after them.
  detail::LaneRope lane_rope{};
  if constexpr (kMaxT == 1) {
    lane_rope =
        detail::LaneRopeOf(detail::RopeOf(p.rope, row0, D, sq.start_pos, p.inv_freq), lane, D / 2);
  }
#pragma unroll 1
  for (int base = t; base < total; base += kLd * kThreads) {
    float v[kLd];
#pragma unroll
    for (int e = 0; e < kLd; ++e) {
      const int idx = base + e * kThreads;
      if (idx >= total) break;
      const int u = kMaxT == 1 ? 0 : idx / per_tok, within = idx - u * per_tok;
      const int which = within >> d_shift, c = within & (D - 1);
      const int head = which < qpk    ? h * qpk + which
                       : which == qpk ? p.heads + h
                                      : p.heads + p.kv_heads + h;
      v[e] = __ldcg(p.qkv + static_cast<size_t>(row0 + u) * nqkv + head * D + c);
    }
#pragma unroll
    for (int e = 0; e < kLd; ++e) {
      if (base + e * kThreads < total) raw[base + e * kThreads] = v[e];
    }
  }
  WorkerSync();  // raw and the slot data (every thread's copies) in place
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
    auto epilogue = [&](const auto& rope) {
      detail::EpilogueHeadWarp<2>(raw + wi * D, 1, 0, 0, D, which > qpk, rope, p.feature_map, dst,
                                  lane);
    };
    if constexpr (kMaxT == 1) {
      epilogue(lane_rope);
    } else {
      epilogue(detail::RopeOf(p.rope, row0 + u, D, sq.start_pos + u, p.inv_freq));
    }
  }
  WorkerSync();
  for (int idx = t; idx < nt * kColBlock; idx += kThreads) {
    const int u = idx / kColBlock, c = idx - u * kColBlock;
    vs[(vold + u) * kColBlock + c] = vnew[u * D + c0 + c];
  }
  // Window weights: plain q.k^, augmented relu(q.k^)^2, of every key up to the query's token;
  // a warp takes 4 (query, key) pairs at a time, 8 lanes each (16-byte loads, 128 contiguous
  // bytes per quarter warp).
  const int wl = old + nt, sub = lane >> 3, sl = lane & 7;
  for (int pr0 = 4 * warp; pr0 < nq * wl; pr0 += 4 * kWarps) {
    const int pr = pr0 + sub, qr = pr / wl, si = pr - qr * wl;
    const bool on = pr < nq * wl && si <= old + qr / qpk;
    float dot = 0.f;
    if (on) {
      const float4* q4 = reinterpret_cast<const float4*>(qs + qr * D);
      const float4* k4 = reinterpret_cast<const float4*>(ks + si * D);
#pragma unroll 4
      for (int c = sl; c < D / 4; c += 8) {
        const float4 a = q4[c], b = k4[c];
        dot += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
      }
    }
#pragma unroll
    for (int o = 1; o < 8; o <<= 1) dot += __shfl_xor_sync(~0u, dot, o);
    if (on && sl == 0) ws[qr * cap + si] = aug ? fmaxf(dot, 0.f) * fmaxf(dot, 0.f) : dot;
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
  WorkerSync();
  for (int o = t; o < nq * kColBlock; o += kThreads) {
    const int qr = o / kColBlock, jj = o - qr * kColBlock, u = qr / qpk;
    float acc = 0.f;
    for (int g = 0; g < kRowGroups; ++g) acc += red[(qr * kRowGroups + g) * kColBlock + jj];
    if (aug) acc *= L.gamma;  // the global term's factor, before the local window joins
      // The window and conv sums unrolled, so that their loads run ahead of each sum's chain.
#pragma unroll 4
    for (int si = 0; si <= old + u; ++si) acc += ws[qr * cap + si] * vs[(wv + si) * kColBlock + jj];
    float conv = 0.f;  // the causal depthwise conv on v (augmented)
#pragma unroll 4
    for (int c = 0; c < (kGeneral && L.conv ? p.conv_taps : 0); ++c) {
      const int pos = sq.start_pos + u - p.conv_taps + 1 + c;
      if (pos >= 0) conv += L.conv[h * p.conv_taps + c] * vs[(pos - it.vlo) * kColBlock + jj];
    }
    const size_t out =
        (static_cast<size_t>(row0 + u) * p.heads + h * qpk + qr - u * qpk) * D + c0 + jj;
    static_cast<T*>(p.attn)[out] = detail::FromFloat<T>((aug ? acc : acc * L.gamma) + conv);
  }
}

// The rest of AttentionItem's item, which no other block reads in this launch: the new tokens'
// k^ / v into the ring, and for a one-token step S += the window's k^ (x) v when the committed
// token completes its group (a plain chunk: its first kPlainSegment rows once committed tokens
// complete that segment; MegaChunkOk). The outputs used S before the fold and every window row,
// the same sum. Reads the item's shared memory as AttentionItem left it (the block synced).
template <bool kGeneral, int kMaxT>
__device__ void ItemTail(const MegaParams& p, const MegaLayer& L, int item, float* sm, float* buf) {
  const int D = p.head_dim;
  const ItemSlot it = ItemSlotOf<kGeneral>(p, L, item);
  const LinearAttentionSeq& sq = it.sq;
  const int nt = kMaxT == 1 ? 1 : sq.num_new, old = it.old, c0 = it.c0;
  const int wv = kGeneral ? sq.fold_pos - it.vlo : 0;
  const int t = threadIdx.x, j = t % kColBlock, rg = t / kColBlock;
  const ItemSmem s = ItemSmemOf<kGeneral>(p, nt, sm, buf);
  for (int idx = t; idx < nt * kColBlock; idx += kThreads) {  // the new k^ / v columns
    const int u = idx / kColBlock, c = idx - u * kColBlock;
    const size_t dst = it.ring_base + ((sq.start_pos + u) % p.ring_size) * it.ring_stride + c0 + c;
    L.ring_k[dst] = s.ks[(old + u) * D + c0 + c];
    L.ring_v[dst] = s.vnew[u * D + c0 + c];
  }
  int nfold = 0;
  if (nt == 1) {
    if (OneTokenStepFolds(sq, p.group_size > 0 ? p.group_size : kPlainSegment)) nfold = old + 1;
  } else if (p.group_size == 0 && sq.commit_pos >= sq.fold_pos + kPlainSegment) {
    nfold = kPlainSegment;
  }
  if (nfold > 0) {
    // Fold, token by token as the decode kernel does; the thread's S entries side by side, so
    // that their chains overlap.
    float v[kMaxSRows];
#pragma unroll
    for (int u = 0; u < kMaxSRows; ++u) {
      const int i = rg + u * kRowGroups;
      v[u] = i < D ? s.sc[i * kColBlock + j] : 0.f;
    }
#pragma unroll 2
    for (int si = 0; si < nfold; ++si) {
      const float vv = s.vs[(wv + si) * kColBlock + j];
#pragma unroll
      for (int u = 0; u < kMaxSRows; ++u) {
        const int i = rg + u * kRowGroups;
        if (i < D) v[u] += s.ks[si * D + i] * vv;
      }
    }
#pragma unroll
    for (int u = 0; u < kMaxSRows; ++u) {
      const int i = rg + u * kRowGroups;
      if (i < D) it.sbase[static_cast<size_t>(i) * D + c0 + j] = v[u];
    }
  }
}

}  // namespace linspec::kernels::mega

#endif  // LINSPEC_KERNELS_MEGAKERNEL_ATTENTION_CUH_
