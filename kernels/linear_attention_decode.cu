// LinearAttentionDecode: the read-only decode step (see linear_attention.h).
//
// One block of 128 threads per (sequence, kv head); thread j owns output column j of every
// query head of the kv head. S streams through a shared-memory ring of kStages x 16 rows by
// cp.async (no registers held, every stage in flight at once): the first kStages - 1 stages
// and the window's ring rows are asked for before the dependency wait, so they arrive while
// the block waits and runs its dependent prologue (q, the window's k^, the dot products). S
// is written back only when the step's committed token completes a group (the fold).
#include <algorithm>

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
  float* ws = vs + cap * D;     // [qpk][cap] weights of the window
  float* den = ws + qpk * cap;  // [qpk]

  const LinearAttentionSeq sq = p.seqs[blockIdx.x];
  const int h = blockIdx.y, j = threadIdx.x, warp = j >> 5, lane = j & 31;
  const int len = sq.start_pos + 1 - sq.fold_pos;  // window, the new token last
  const size_t ring_base = (static_cast<size_t>(sq.slot) * p.ring_size * p.kv_heads + h) * D;
  const size_t row_stride = static_cast<size_t>(p.kv_heads) * D;
  const size_t new_row = (static_cast<size_t>(sq.token_offset) * p.kv_heads + h) * D;
  auto v_at = [&](int pos) {  // v row of a window or conv position
    return pos < sq.start_pos ? p.ring_v + ring_base + (pos % p.ring_size) * row_stride
                              : p.v + new_row;
  };
  float* sbase = p.state + (static_cast<size_t>(sq.slot) * p.kv_heads + h) * D * D;
  // The committed token completes its group: the window folds into S in the same pass.
  const bool fold = OneTokenStepFolds(sq, cap);
  auto issue_stage = [&](int st) {  // S rows [16 st, 16 st + 16) into ring slot st % kStages
    if (st >= kNumStages) return;
    float* dst = sring + (st % kStages) * kStageRows * D;
    const float* src = sbase + static_cast<size_t>(st) * kStageRows * D;
    for (int u = j; u < kStageRows * D / 4; u += kThreads) CpAsync16(dst + 4 * u, src + 4 * u);
  };

  // Slot contents were written by earlier steps: S and the window's ring rows before the wait
  // (group 0: ring rows and stage 0; then one group per stage).
  for (int u = j; u < (len - 1) * D / 4; u += kThreads) {
    const int row = 4 * u / D, col = 4 * u - row * D;
    const size_t src = ring_base + ((sq.fold_pos + row) % p.ring_size) * row_stride + col;
    CpAsync16(ks + 4 * u, p.ring_k + src);
    CpAsync16(vs + 4 * u, p.ring_v + src);
  }
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    issue_stage(st);
    CpAsyncCommit();
  }
  detail::PdlWait();  // q/k/v (or their projection's partials) come from the previous kernel
  detail::PdlTrigger();
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
  CpAsyncWait<kStages - 2>();  // group 0: the window's ring rows
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
  const bool aug = p.group_size > 0;
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
  __syncthreads();

  float acc[kDecodeMaxQueryHeads];
#pragma unroll
  for (int qi = 0; qi < kDecodeMaxQueryHeads; ++qi) acc[qi] = 0.f;
  for (int st = 0; st < kNumStages; ++st) {
    CpAsyncWait<kStages - 2>();  // stage st has landed (for this thread) ...
    __syncthreads();             // ... for every thread; stage st - 1's slot is free again
    issue_stage(st + kStages - 1);
    CpAsyncCommit();
    if (j >= D) continue;
    const float* rows = sring + (st % kStages) * kStageRows * D + j;
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
  CpAsyncWait<0>();  // nothing left in flight when the block exits
  if (j >= D) return;
  {
    // The conv term (augmented), once for all query heads of this kv head.
    float conv = 0.f;
    for (int c = 0; c < p.conv_taps; ++c) {
      const int src = sq.start_pos - p.conv_taps + 1 + c;
      if (src < 0) continue;
      const float vsrc = src >= sq.fold_pos ? vs[(src - sq.fold_pos) * D + j] : v_at(src)[j];
      conv += p.conv_w[h * p.conv_taps + c] * vsrc;
    }
    // The window's terms join the global one (augmented: after its gamma).
    if (aug) {
#pragma unroll
      for (int qi = 0; qi < kDecodeMaxQueryHeads; ++qi) acc[qi] *= p.global_scale;
    }
    for (int si = 0; si < len; ++si) {
      const float vj = vs[si * D + j];
#pragma unroll
      for (int qi = 0; qi < kDecodeMaxQueryHeads; ++qi) {
        if (qi < qpk) acc[qi] += ws[qi * cap + si] * vj;
      }
    }
#pragma unroll
    for (int qi = 0; qi < kDecodeMaxQueryHeads; ++qi) {
      if (qi >= qpk) break;
      float o;
      if (aug) {
        o = acc[qi] + conv;
      } else {
        o = acc[qi] * p.global_scale;
        if (p.normalize) o /= den[qi];
        o += conv;
      }
      const int hq = h * qpk + qi;
      detail::StoreOut(p.out, p.out_dtype,
                       (static_cast<size_t>(sq.token_offset) * p.heads + hq) * D + j, o);
    }
    // The new token's k^ and v into the ring (no block reads that row in this step).
    const size_t dst = ring_base + (sq.start_pos % p.ring_size) * row_stride + j;
    p.ring_k[dst] = ks[(len - 1) * D + j];
    p.ring_v[dst] = vs[(len - 1) * D + j];
    if (fold && p.z) {  // z += sum of the window's k^ (den above used the old z)
      float* z = p.z + (static_cast<size_t>(sq.slot) * p.kv_heads + h) * D;
      float zz = z[j];
      for (int si = 0; si < len; ++si) zz += ks[si * D + j];
      z[j] = zz;
    }
  }
}

template <int D, int kStages>
cudaError_t LaunchD(const LinearAttentionParams& p, cudaStream_t stream) {
  const size_t smem = DecodeSmemBytes(D, p.heads / p.kv_heads, p.group_size, kStages);
  if (smem > 48 * 1024) {
    const cudaError_t e =
        cudaFuncSetAttribute(DecodeKernel<D, kStages>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  return detail::Launch(DecodeKernel<D, kStages>, dim3(p.num_seqs, p.kv_heads), kThreads, smem,
                        stream, p);
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
