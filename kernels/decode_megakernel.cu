// DecodeMegakernel: see decode_megakernel.h. One block of kThreads per multiprocessor; every
// phase spreads its work over all warps of the grid, and GridSync separates the phases.
// Data written by another block during the launch is read with __ldcg (from L2).
#include <algorithm>
#include <cstdint>

#include "kernels/decode_megakernel.h"
#include "kernels/device_common.cuh"
#include "kernels/megakernel_attention.cuh"
#include "kernels/megakernel_layout.cuh"
#include "kernels/megakernel_streams.cuh"

namespace linspec::kernels {
namespace mega {

// Grid-wide barrier over a counter that every block raises once per barrier (zero at launch;
// barrier number `epoch` completes at epoch * gridDim.x). Measured on the H100: faster than
// per-block flags polled by one thread per block (1.48 vs 1.54 ms per 1.3B step).
// Split in two where a block has work that no other block waits for (GridArrive, the work,
// GridWait): the arrival publishes what the block wrote before it. With a control warp (kCtl),
// the workers only announce their arrival to it (named barrier 2) and wait for its word that the
// grid has arrived (named barrier 3); ControlWarp raises and polls the counter.
constexpr int kArrived = 2, kReleased = 3;  // named barriers of the workers and the control warp
template <int kId>
__device__ __forceinline__ void ControlArrive() {
  asm volatile("bar.arrive %0, %1;\n" ::"n"(kId), "n"(kBlockThreads<1>) : "memory");
}
template <int kId>
__device__ __forceinline__ void ControlSync() {
  asm volatile("bar.sync %0, %1;\n" ::"n"(kId), "n"(kBlockThreads<1>) : "memory");
}
__device__ __forceinline__ void RaiseCounter(unsigned int* counter) {
  asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(counter) : "memory");
}
__device__ __forceinline__ void PollCounter(const unsigned int* counter, unsigned int epoch) {
  const unsigned int target = epoch * gridDim.x;
  unsigned int v;
  do {
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(counter) : "memory");
  } while (v < target);
}
template <bool kCtl>
__device__ __forceinline__ void GridArrive(unsigned int* counter, unsigned int& epoch) {
  ++epoch;
  if constexpr (kCtl) {
    ControlArrive<kArrived>();
  } else {
    WorkerSync();
    if (threadIdx.x == 0) RaiseCounter(counter);
  }
}
template <bool kCtl>
__device__ __forceinline__ void GridWait(unsigned int* counter, unsigned int epoch) {
  if constexpr (kCtl) {
    ControlSync<kReleased>();
  } else {
    if (threadIdx.x == 0) PollCounter(counter, epoch);
    WorkerSync();
  }
}
template <bool kCtl>
__device__ __forceinline__ void GridSync(unsigned int* counter, unsigned int& epoch) {
  GridArrive<kCtl>(counter, epoch);
  GridWait<kCtl>(counter, epoch);
}
// The control warp's side of every grid barrier of the launch: the workers' arrivals (their
// writes then performed for it), the counter raised with release semantics and polled with
// acquire semantics, the workers released.
__device__ __forceinline__ void ControlWarp(unsigned int* counter, int barriers) {
  for (int e = 1; e <= barriers; ++e) {
    ControlSync<kArrived>();
    if ((threadIdx.x & 31) == 0) {
      RaiseCounter(counter);
      PollCounter(counter, static_cast<unsigned int>(e));
    }
    __syncwarp();
    ControlArrive<kReleased>();
  }
}
// The grid barriers of a launch: after the embedding, 5 per layer, before the argmax.
__device__ __forceinline__ int LaunchBarriers(int layers) { return 5 * layers + 2; }

// The sum of v over the block's worker threads (every worker gets it); scratch [kWarps].
__device__ __forceinline__ float WorkerSum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = detail::WarpSum(v);
  WorkerSync();
  if (lane == 0) scratch[warp] = v;
  WorkerSync();
  return detail::WarpSum(lane < kWarps ? scratch[lane] : 0.f);
}

// xs[r, :] = residual[r, :] * rsqrt(mean(residual[r, :]^2) + eps) * weight, as AddRmsNorm; one
// pass over the residual (dim <= kNormVec * 4 * kThreads); xs rows xstride apart. The gains are
// asked for with the first row's residual (not after the row's block sum: a second L2 round
// trip on the step's critical path, twice per layer).
constexpr int kNormVec = 4;
template <typename T>
__device__ __forceinline__ void NormRows(const float* residual, const float* weight, T* xs, int m,
                                         int dim, int xstride, float eps, float* scratch) {
  const int n4 = dim / 4;
  float4 g[kNormVec];
#pragma unroll
  for (int u = 0; u < kNormVec; ++u) {
    const int i = threadIdx.x + u * kThreads;
    g[u] = i < n4 ? __ldg(reinterpret_cast<const float4*>(weight) + i)
                  : make_float4(0.f, 0.f, 0.f, 0.f);
  }
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
    const float inv = rsqrtf(WorkerSum(ss, scratch) / dim + eps);
#pragma unroll
    for (int u = 0; u < kNormVec; ++u) {
      const int i = threadIdx.x + u * kThreads;
      if (i >= n4) break;
      T* o = xs + static_cast<size_t>(r) * xstride + 4 * i;
      o[0] = detail::FromFloat<T>(v[u].x * inv * g[u].x);
      o[1] = detail::FromFloat<T>(v[u].y * inv * g[u].y);
      o[2] = detail::FromFloat<T>(v[u].z * inv * g[u].z);
      o[3] = detail::FromFloat<T>(v[u].w * inv * g[u].w);
    }
  }
  WorkerSync();
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
  WorkerSync();
}

__device__ __forceinline__ unsigned long long ArgmaxKey(float v, int idx) {
  unsigned int u = __float_as_uint(v);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // orders as the floats do
  return (static_cast<unsigned long long>(u) << 32) | (0xffffffffu - static_cast<unsigned>(idx));
}

// kM: the most rows the instance takes (1: the one-row instance on the CUDA cores, smaller and
// unrolled for it; kMegaMaxRows: the tensor-core one); kGeneral: see ItemSlotOf.
template <typename T, int kM, bool kGeneral>
__global__ void __launch_bounds__(kBlockThreads<kM>, 1)
    MegaKernel(const __grid_constant__ MegaParams p) {
  constexpr bool kCtl = kControlWarp<kM>;
  extern __shared__ uint4 smem4[];
  __shared__ float scratch[32];
  __shared__ unsigned long long best_sm[kWarps][8];
  __shared__ unsigned int tile_counters[8];
  T* xs = reinterpret_cast<T*>(smem4);
  const int m = kM == 1 ? 1 : p.rows, H = p.hidden, D = p.head_dim, t = threadIdx.x;
  const int nqkv = (p.heads + 2 * p.kv_heads) * D, hd = p.heads * D;
  auto xstride = [&](int dim) { return XStride(dim, kM > 1); };
  if (kCtl && t >= kThreads) {
    ControlWarp(p.barrier, LaunchBarriers(p.num_layers));
    return;
  }
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
  GridSync<kCtl>(p.barrier, epoch);
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
    GridSync<kCtl>(p.barrier, epoch);
    // The block arrives at the barrier once its items' outputs are written; each item's ring
    // rows and fold (ItemTail) follow its outputs, the last item's after the arrival.
    constexpr int kRingStages = kM == 1 ? kStages : kTileStages;
    float* sm = reinterpret_cast<float*>(smem4);
    int prev = -1;
    float* prev_buf = nullptr;
    for (int item = blockIdx.x, k = 0;; item += gridDim.x, ++k) {
      const bool more = item < items;
      if (!more) GridArrive<kCtl>(p.barrier, epoch);
      if (prev >= 0) {
        ItemTail<kGeneral, kM>(p, L, prev, sm, prev_buf);
        if (more) WorkerSync();
      }
      if (!more) break;
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
      AttentionItem<T, kGeneral, kM>(p, L, item, sm, buf);
      WorkerSync();
      prev = item, prev_buf = buf;
    }
    GridWait<kCtl>(p.barrier, epoch);
    CopyRows<T>(p.attn, xs, m, hd, xstride(hd));
    ws.template Consume<1>(H, hd, xs, xstride(hd), m, load_residual, add_residual);
    GridSync<kCtl>(p.barrier, epoch);
    NormRows<T>(p.residual, L.post_norm, xs, m, H, xstride(H), p.eps, scratch);
    ws.template Consume<2>(p.ffn, H, xs, xstride(H), m, no_pre,
                           [&](int row, int r, const float(&a)[2], float) {
                             static_cast<T*>(p.mlp)[static_cast<size_t>(r) * p.ffn + row] =
                                 detail::FromFloat<T>(detail::SwiGluAct(a[0], a[1]));
                           });
    GridSync<kCtl>(p.barrier, epoch);
    CopyRows<T>(p.mlp, xs, m, p.ffn, xstride(p.ffn));
    ws.template Consume<1>(H, p.ffn, xs, xstride(p.ffn), m, load_residual, add_residual);
    GridSync<kCtl>(p.barrier, epoch);
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
  WorkerSync();
  if (t < m) {
    unsigned long long b = 0;
    for (int w = 0; w < kWarps; ++w) b = max(b, best_sm[w][kM == 1 ? 0 : t]);
    atomicMax(p.argmax_keys + t, b);
  }
  GridSync<kCtl>(p.barrier, epoch);
  if (blockIdx.x == 0 && t < m) {
    const unsigned long long key = __ldcg(p.argmax_keys + t);
    p.argmax_out[t] = static_cast<int32_t>(0xffffffffu - static_cast<unsigned>(key & 0xffffffffu));
  }
}

}  // namespace mega

using mega::kNormVec;
using mega::kRingBytes;
using mega::kThreads;
using mega::kTileRingBytes;
using mega::MegaKernel;
using mega::RingSmemOffset;
using mega::TensorCores;

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
      p.slot_buffers > 2 || p.red_slots < 1 || p.red_slots > 2 ||
      reinterpret_cast<uintptr_t>(p.final_norm) % 16 != 0) {
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
  return detail::LaunchCooperative(
      kernel, dim3(blocks), dim3(one ? mega::kBlockThreads<1> : mega::kBlockThreads<kMegaMaxRows>),
      smem, stream, p);
}

}  // namespace linspec::kernels
