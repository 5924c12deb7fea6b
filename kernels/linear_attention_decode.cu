// LinearAttentionDecode: the read-only decode step (see linear_attention.h).
//
// 128 threads per block; thread j owns output column j of every query head of a kv head. A
// block takes (sequence, kv head) items in turn (blockIdx.x, + gridDim.x, ...; by default as
// many blocks as fit the device at once) and streams their S tiles through one shared-memory
// ring of kStages x 16 rows by cp.async that runs on from one item into the next: the next
// item's first kStages - 1 stages (and the window's ring rows, when the current item no longer
// reads its window) are in flight while the current item finishes and the next one runs its
// dependent prologue (q, the window's k^, the dot products). With one block per item the ring
// drained at every item's end and the block's next item started cold. S is written back only
// when the step's committed token completes a group (the fold).
#include <algorithm>
#include <atomic>

#include "kernels/attention_epilogue.cuh"
#include "kernels/device_common.cuh"
#include "kernels/linear_attention.h"

namespace linspec::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kStageRows = kDecodeStageRows;

using detail::CpAsync16;
using detail::CpAsyncCommit;
using detail::CpAsyncWait;

// Item `it` of the launch: sequence it % num_seqs, kv head it / num_seqs.
struct DecodeItem {
  LinearAttentionSeq sq;
  int h;
  __device__ DecodeItem(const LinearAttentionParams& p, int it)
      : sq(p.seqs[it % p.num_seqs]), h(it / p.num_seqs) {}
};

template <int D, int kStages>
__global__ void __launch_bounds__(kThreads, 4) DecodeKernel(LinearAttentionParams p) {
  extern __shared__ float4 sm4[];
  constexpr int kNumStages = D / kStageRows;  // S rows in stages of 16
  const int qpk = p.heads / p.kv_heads;
  const int cap = p.group_size > 0 ? p.group_size : kPlainSegment;  // FoldGroup
  float* sring = reinterpret_cast<float*>(sm4);                     // [kStages][16][D] rows of S
  float* qs = sring + kStages * kStageRows * D;                     // [qpk][D]
  float* ks = qs + qpk * D;     // [cap][D] k^ of the window [fold_pos, start_pos]
  float* vs = ks + cap * D;     // [cap][D] v of the window
  float* wsum = vs + cap * D;   // [qpk][D] the window's weighted v sums
  float* ws = wsum + qpk * D;   // [qpk][cap] weights of the window
  float* den = ws + qpk * cap;  // [qpk]

  const int j = threadIdx.x, warp = j >> 5, lane = j & 31;
  const bool aug = p.group_size > 0;
  const size_t row_stride = static_cast<size_t>(p.kv_heads) * D;
  const int items = p.num_seqs * p.kv_heads;
  const int mine =
      static_cast<int>(blockIdx.x) < items ? (items - 1 - blockIdx.x) / gridDim.x + 1 : 0;
  const int total = mine * kNumStages;
  // The next item's stage 0 is asked for inside this item's S loop (its window rows with it).
  constexpr bool kAheadInLoop = kStages - 1 <= kNumStages;
  auto item_of = [&](int i) { return static_cast<int>(blockIdx.x + i * gridDim.x); };
  auto ring_base_of = [&](const DecodeItem& it) {
    return (static_cast<size_t>(it.sq.slot) * p.ring_size * p.kv_heads + it.h) * D;
  };
  auto state_of = [&](const DecodeItem& it) {
    return p.state + (static_cast<size_t>(it.sq.slot) * p.kv_heads + it.h) * D * D;
  };
  // Global stage g: stage g % kNumStages of the block's item g / kNumStages, into ring slot
  // g % kStages (nothing past the block's last item; the caller commits a group either way).
  auto issue_stage = [&](int g) {
    if (g >= total) return;
    const DecodeItem it(p, item_of(g / kNumStages));
    float* dst = sring + (g % kStages) * kStageRows * D;
    const float* src = state_of(it) + static_cast<size_t>(g % kNumStages) * kStageRows * D;
    for (int u = j; u < kStageRows * D / 4; u += kThreads) CpAsync16(dst + 4 * u, src + 4 * u);
  };
  // The window's ring rows [fold_pos, start_pos) of the block's item i into ks / vs.
  auto issue_window = [&](int i) {
    const DecodeItem it(p, item_of(i));
    const size_t rb = ring_base_of(it);
    const int rows = it.sq.start_pos - it.sq.fold_pos;
    for (int u = j; u < rows * D / 4; u += kThreads) {
      const int row = 4 * u / D, col = 4 * u - row * D;
      const size_t src = rb + ((it.sq.fold_pos + row) % p.ring_size) * row_stride + col;
      CpAsync16(ks + 4 * u, p.ring_k + src);
      CpAsync16(vs + 4 * u, p.ring_v + src);
    }
  };

  // Slot contents were written by earlier steps: the first item's window rows and S stages
  // before the wait (group 0: window rows and stage 0; then one group per stage).
  if (mine > 0) issue_window(0);
#pragma unroll
  for (int g = 0; g < kStages - 1; ++g) {
    issue_stage(g);
    CpAsyncCommit();
  }
  detail::PdlWait();  // q/k/v (or their projection's partials) come from the previous kernel
  detail::PdlTrigger();

  bool window_in_flight = true;  // the item's window rows travel with its stage 0
  for (int i = 0; i < mine; ++i) {
    const DecodeItem it(p, item_of(i));
    const LinearAttentionSeq& sq = it.sq;
    const int h = it.h;
    const int len = sq.start_pos + 1 - sq.fold_pos;  // window, the new token last
    const size_t ring_base = ring_base_of(it);
    const size_t new_row = (static_cast<size_t>(sq.token_offset) * p.kv_heads + h) * D;
    float* sbase = state_of(it);
    // The committed token completes its group: the window folds into S in the same pass.
    const bool fold = OneTokenStepFolds(sq, cap);
    // The next item's window rows go out with its stage 0 unless this item folds (the fold
    // reads ks / vs to the end of its S loop).
    const bool window_ahead = kAheadInLoop && !fold && i + 1 < mine;

    __syncthreads();  // the previous item's readers of qs, ws, wsum and den are done
    if (!window_in_flight) {
      issue_window(i);
      CpAsyncCommit();
    }
    if (p.qkv_partials) {  // fused epilogue (as LinearAttentionStep), straight into shared memory
      detail::FusedQkvEpilogueOneToken(p, sq, h, warp, kThreads / 32, lane, qs, ks + (len - 1) * D,
                                       vs + (len - 1) * D);
    } else {
      for (int idx = j; idx < qpk * D; idx += kThreads) {
        const int hq = h * qpk + idx / D;
        qs[idx] = p.q[(static_cast<size_t>(sq.token_offset) * p.heads + hq) * D + idx % D];
      }
      for (int idx = j; idx < D; idx += kThreads) {
        ks[(len - 1) * D + idx] = p.k[new_row + idx];
        vs[(len - 1) * D + idx] = p.v[new_row + idx];
      }
    }
    if (window_in_flight) {
      CpAsyncWait<kStages - 2>();  // the oldest group: stage 0 and the window's ring rows
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();
    if (p.qkv_partials) {  // the epilogue's outputs to p.q / p.k / p.v too (the API's contract)
      for (int idx = j; idx < qpk * D; idx += kThreads) {
        p.q[(static_cast<size_t>(sq.token_offset) * p.heads + h * qpk) * D + idx] = qs[idx];
      }
      for (int idx = j; idx < D; idx += kThreads) {
        p.k[new_row + idx] = ks[(len - 1) * D + idx];
        p.v[new_row + idx] = vs[(len - 1) * D + idx];
      }
    }

    // Window weights: plain q.k, augmented relu(q.k)^2 (every window key is <= the query).
    for (int pr = warp; pr < qpk * len; pr += kThreads / 32) {
      const int qi = pr / len, si = pr - qi * len;
      float dot = 0.f;
      for (int d = lane; d < D; d += 32) dot += qs[qi * D + d] * ks[si * D + d];
      dot = detail::WarpSum(dot);
      if (lane == 0) ws[qi * cap + si] = aug ? fmaxf(dot, 0.f) * fmaxf(dot, 0.f) : dot;
    }
    __syncthreads();
    if (p.normalize && j < qpk) {
      const float* z = p.z + (static_cast<size_t>(sq.slot) * p.kv_heads + h) * D;
      float dn = 0.f;
      for (int d = 0; d < D; ++d) dn += qs[j * D + d] * z[d];
      for (int si = 0; si < len; ++si) dn += ws[j * cap + si];
      den[j] = fmaxf(dn, 1e-6f);
    }
    // Everything that reads the window but the fold, before the S loop: the window's weighted
    // v sums, the conv term (augmented) and the new token's ring row.
    float conv = 0.f;
    if (j < D) {
      for (int qi = 0; qi < qpk; ++qi) {
        float s = 0.f;
        for (int si = 0; si < len; ++si) s += ws[qi * cap + si] * vs[si * D + j];
        wsum[qi * D + j] = s;
      }
      for (int c = 0; c < p.conv_taps; ++c) {
        const int src = sq.start_pos - p.conv_taps + 1 + c;
        if (src < 0) continue;
        const float vsrc =
            src >= sq.fold_pos
                ? vs[(src - sq.fold_pos) * D + j]
                : p.ring_v[ring_base + (src % p.ring_size) * row_stride + j];  // before the window
        conv += p.conv_w[h * p.conv_taps + c] * vsrc;
      }
      // The new token's k^ and v into the ring (no block reads that row in this step).
      const size_t dst = ring_base + (sq.start_pos % p.ring_size) * row_stride + j;
      p.ring_k[dst] = ks[(len - 1) * D + j];
      p.ring_v[dst] = vs[(len - 1) * D + j];
    }
    // (den and wsum are read after the S loop, whose stage barriers order them.)

    float acc[kDecodeMaxQueryHeads];
#pragma unroll
    for (int qi = 0; qi < kDecodeMaxQueryHeads; ++qi) acc[qi] = 0.f;
    for (int st = 0; st < kNumStages; ++st) {
      const int g = i * kNumStages + st;
      CpAsyncWait<kStages - 2>();  // stage g has landed (for this thread) ...
      __syncthreads();             // ... for every thread; stage g - 1's slot is free again
      const int next = g + kStages - 1;
      if (window_ahead && next == (i + 1) * kNumStages) issue_window(i + 1);
      issue_stage(next);
      CpAsyncCommit();
      if (j >= D) continue;
      const float* rows = sring + (g % kStages) * kStageRows * D + j;
      const int i0 = st * kStageRows;
      float sv[kStageRows];
#pragma unroll
      for (int u = 0; u < kStageRows; ++u) sv[u] = rows[u * D];
#pragma unroll
      for (int qi = 0; qi < kDecodeMaxQueryHeads; ++qi) {
        if (qi >= qpk) break;
#pragma unroll
        for (int u = 0; u < kStageRows; ++u) acc[qi] += qs[qi * D + i0 + u] * sv[u];
      }
      if (fold) {  // S += sum over the window of k^ (x) v, token by token as the fold kernel does
        for (int si = 0; si < len; ++si) {
          const float vj = vs[si * D + j];
          const float4* k4 = reinterpret_cast<const float4*>(ks + si * D + i0);
#pragma unroll
          for (int u4 = 0; u4 < kStageRows / 4; ++u4) {
            const float4 kk = k4[u4];
            sv[4 * u4] += kk.x * vj;
            sv[4 * u4 + 1] += kk.y * vj;
            sv[4 * u4 + 2] += kk.z * vj;
            sv[4 * u4 + 3] += kk.w * vj;
          }
        }
#pragma unroll
        for (int u = 0; u < kStageRows; ++u) sbase[static_cast<size_t>(i0 + u) * D + j] = sv[u];
      }
    }
    window_in_flight = window_ahead;
    if (j >= D) continue;
#pragma unroll
    for (int qi = 0; qi < kDecodeMaxQueryHeads; ++qi) {
      if (qi >= qpk) break;
      float o;
      if (aug) {  // the window's terms join the global one after its gamma
        o = acc[qi] * p.global_scale + wsum[qi * D + j] + conv;
      } else {
        o = acc[qi] + wsum[qi * D + j];
        o *= p.global_scale;
        if (p.normalize) o /= den[qi];
        o += conv;
      }
      const int hq = h * qpk + qi;
      detail::StoreOut(p.out, p.out_dtype,
                       (static_cast<size_t>(sq.token_offset) * p.heads + hq) * D + j, o);
    }
    if (fold && p.z) {  // z += sum of the window's k^ (den above used the old z)
      float* z = p.z + (static_cast<size_t>(sq.slot) * p.kv_heads + h) * D;
      float zz = z[j];
      for (int si = 0; si < len; ++si) zz += ks[si * D + j];
      z[j] = zz;
    }
  }
  CpAsyncWait<0>();  // nothing left in flight when the block exits
}

// Multiprocessors of the current device (cached per device).
int DeviceSmCount() {
  static std::atomic<int> cached[16];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 1;
  if (dev >= 0 && dev < 16) {
    if (const int c = cached[dev].load(std::memory_order_relaxed); c > 0) return c;
  }
  int sms = 1;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) sms = 1;
  if (dev >= 0 && dev < 16) cached[dev].store(sms, std::memory_order_relaxed);
  return sms;
}

template <int D, int kStages>
cudaError_t LaunchD(const LinearAttentionParams& p, cudaStream_t stream) {
  auto kernel = DecodeKernel<D, kStages>;
  const size_t smem = DecodeSmemBytes(D, p.heads / p.kv_heads, p.group_size, kStages);
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  const int items = p.num_seqs * p.kv_heads;
  int grid = items;
  if (p.decode_max_blocks >= 0) {  // as many blocks as run at once (or fewer), looping
    int per_sm = 0;
    const cudaError_t e =
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem);
    if (e != cudaSuccess) return e;
    grid = std::min(items, std::max(1, per_sm) * DeviceSmCount());
    if (p.decode_max_blocks > 0) grid = std::min(grid, p.decode_max_blocks);
  }
  return detail::Launch(kernel, dim3(grid), kThreads, smem, stream, p);
}

}  // namespace

cudaError_t LinearAttentionDecode(const LinearAttentionParams& p, cudaStream_t stream) {
  if (p.num_seqs <= 0) return cudaSuccess;
  if (p.kv_heads <= 0 || p.heads % p.kv_heads != 0 || p.heads / p.kv_heads > kDecodeMaxQueryHeads ||
      p.ring_size <= 0 || FoldGroup(p.group_size) > kDecodeMaxGroup) {
    return cudaErrorInvalidValue;
  }
  // Ring depth (H100, 1.3B, B=64: 3 stages beat 2 and 4 for both variants).
  const int stages = p.decode_stages > 0 ? std::clamp(p.decode_stages, 2, 4) : 3;
  return detail::DispatchHeadDim(p.head_dim, [&](auto d) {
    if (stages == 2) return LaunchD<d.value, 2>(p, stream);
    return stages == 3 ? LaunchD<d.value, 3>(p, stream) : LaunchD<d.value, 4>(p, stream);
  });
}

}  // namespace linspec::kernels
