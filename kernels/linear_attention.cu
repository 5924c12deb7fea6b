#include "kernels/attention_epilogue.cuh"
#include "kernels/device_common.cuh"
#include "kernels/linear_attention.h"

namespace linspec::kernels {
namespace {

using detail::FromFloat;
using detail::StoreOut;

constexpr int kQueryBatch = 8;

struct SeqView {
  const float* ring_k;  // this slot's ring, head h
  const float* ring_v;
  const float* k;  // the sequence's first new token, head h
  const float* v;
  int start_pos, ring_size, row_stride;  // row_stride = kv_heads * D
  __device__ const float* K(int pos) const {
    return pos < start_pos ? ring_k + static_cast<size_t>(pos % ring_size) * row_stride
                           : k + static_cast<size_t>(pos - start_pos) * row_stride;
  }
  __device__ const float* V(int pos) const {
    return pos < start_pos ? ring_v + static_cast<size_t>(pos % ring_size) * row_stride
                           : v + static_cast<size_t>(pos - start_pos) * row_stride;
  }
};

// The new tokens' k^/v (the last ring_size of them) into the slot's ring, columns
// [c0, c0 + cols) of kv head h, by the calling block's threads.
__device__ void StoreRing(const LinearAttentionParams& p, const LinearAttentionSeq& sq, int h,
                          int D, int c0, int cols) {
  const int end = sq.start_pos + sq.num_new;
  const int first = max(sq.start_pos, end - p.ring_size);
  for (int idx = threadIdx.x; idx < (end - first) * cols; idx += blockDim.x) {
    const int pos = first + idx / cols, d = c0 + idx % cols;
    const size_t src =
        (static_cast<size_t>(sq.token_offset + pos - sq.start_pos) * p.kv_heads + h) * D + d;
    const size_t dst =
        ((static_cast<size_t>(sq.slot) * p.ring_size + pos % p.ring_size) * p.kv_heads + h) * D + d;
    p.ring_k[dst] = p.k[src];
    p.ring_v[dst] = p.v[src];
  }
}

// Writes this block's S slice (and z, by column block 0 only: zdst null elsewhere) back.
template <int D, int RPT>
__device__ void StoreState(float* srow, const float (&s)[RPT], const float* zs, float* zdst) {
#pragma unroll
  for (int ii = 0; ii < RPT; ++ii) srow[ii * D] = s[ii];
  if (zdst && threadIdx.x < D) zdst[threadIdx.x] = zs[threadIdx.x];
}

// One block per (sequence, kv head, column block); NC column blocks split the D v-columns of
// S (the q.S product, the local v sums, the conv term and the fold are separable over them).
// 2*D threads; R = 2*NC row groups: thread (hf, j) owns S[hf*RPT .. +RPT][c0 + j] with
// c0 = blockIdx.z * D / NC. Every column block computes q/k (full rows) itself.
template <int D, int NC>
// Two blocks per multiprocessor (<= 128 registers at D = 128): one block alone cannot keep
// enough S loads in flight (measured: 138 registers -> 1 block/SM cost 10-40% of the step).
__global__ void __launch_bounds__(2 * D, 2) LinearAttentionKernel(LinearAttentionParams p) {
  constexpr int DC = D / NC, R = 2 * NC, RPT = D / R;
  extern __shared__ float smem[];
  const int seg_cap = max(p.group_size, kPlainSegment);
  float* ks = smem;                         // [seg_cap][D]
  float* qs = ks + seg_cap * D;             // [kQueryBatch][D]
  float* ws = qs + kQueryBatch * D;         // [kQueryBatch][seg_cap]
  float* red = ws + kQueryBatch * seg_cap;  // [R - 1][kQueryBatch][DC] (<= 2 kQueryBatch D)
  float* zs = red + 2 * kQueryBatch * D;    // [D]
  float* den = zs + D;                      // [kQueryBatch]
  float* cv = den + kQueryBatch;            // [kQueryBatch][D] conv terms
  float* vs = cv + kQueryBatch * D;         // [seg_cap][DC] v of the segment, this block's columns

  // The step metadata (copied before the step) and this layer's slot (last written by the
  // previous step) are safe to read before the dependency wait: start streaming S now.
  const LinearAttentionSeq sq = p.seqs[blockIdx.x];
  const int h = blockIdx.y;
  const size_t ring_base = (static_cast<size_t>(sq.slot) * p.ring_size * p.kv_heads + h) * D;
  const size_t new_base = (static_cast<size_t>(sq.token_offset) * p.kv_heads + h) * D;
  const SeqView view{p.ring_k + ring_base, p.ring_v + ring_base, p.k + new_base, p.v + new_base,
                     sq.start_pos,         p.ring_size,          p.kv_heads * D};
  const int tid = threadIdx.x, j = tid % DC, hf = tid / DC;
  const int c0 = NC == 1 ? 0 : blockIdx.z * DC, col = c0 + j;
  const int warp = tid >> 5, lane = tid & 31, nwarps = blockDim.x >> 5;
  const int qpk = p.heads / p.kv_heads;
  const bool aug = p.group_size > 0;
  const int fold_group = aug ? p.group_size : kPlainSegment;

  float* srow =
      p.state + ((static_cast<size_t>(sq.slot) * p.kv_heads + h) * D + hf * RPT) * D + col;
  float* zsrc = p.z ? p.z + (static_cast<size_t>(sq.slot) * p.kv_heads + h) * D : nullptr;
  float* zdst = NC == 1 || blockIdx.z == 0 ? zsrc : nullptr;
  float s[RPT];
#pragma unroll
  for (int ii = 0; ii < RPT; ++ii) s[ii] = srow[ii * D];
  if (tid < D) zs[tid] = zsrc ? zsrc[tid] : 0.f;
  // Rows [from, to) of the segment starting at seg_pos into ks (k^, all D) and vs (v, this
  // block's columns).
  auto load_rows = [&](int seg_pos, int from, int to) {
    for (int idx = tid; idx < (to - from) * D; idx += blockDim.x) {
      ks[(from - seg_pos) * D + idx] = view.K(from + idx / D)[idx % D];
    }
    for (int idx = tid; idx < (to - from) * DC; idx += blockDim.x) {
      const int r = idx / DC, c = idx - r * DC;
      vs[(from - seg_pos + r) * DC + c] = view.V(from + r)[c0 + c];
    }
  };
  // The first segment's ring rows were written by earlier steps: ask for them before the wait
  // too (cp.async: all in flight at once; they have landed by the first segment's barrier).
  const int end = sq.start_pos + sq.num_new;
  const int pre_end = min(min((sq.fold_pos / fold_group + 1) * fold_group, end), sq.start_pos);
  if (DC % 4 == 0 && p.step_async_ring) {
    for (int idx = tid; idx < (pre_end - sq.fold_pos) * D / 4; idx += blockDim.x) {
      const int r = 4 * idx / D, c = 4 * idx - r * D;
      detail::CpAsync16(ks + r * D + c, view.K(sq.fold_pos + r) + c);
    }
    for (int idx = tid; idx < (pre_end - sq.fold_pos) * DC / 4; idx += blockDim.x) {
      const int r = 4 * idx / DC, c = 4 * idx - r * DC;
      detail::CpAsync16(vs + r * DC + c, view.V(sq.fold_pos + r) + c0 + c);
    }
    detail::CpAsyncCommit();
  } else {
    load_rows(sq.fold_pos, sq.fold_pos, pre_end);
  }
  detail::PdlWait();  // q/k/v partials come from the QKV projection
  detail::PdlTrigger();

  if (p.qkv_partials) {  // fused epilogue: this block's q heads, k and v of every new token
    detail::FusedQkvEpilogue(p, sq, h, warp, nwarps, lane);
    __syncthreads();
  }

  bool stored = false, folded_committed = false;
  for (int pos = sq.fold_pos; pos < end;) {
    const int group_end = (pos / fold_group + 1) * fold_group;
    const int seg_end = min(group_end, end);
    const bool complete = seg_end == group_end;
    const int len = seg_end - pos;
    __syncthreads();
    load_rows(pos, pos == sq.fold_pos ? pre_end : pos, seg_end);
    detail::CpAsyncWait<0>();  // the rows asked for before the wait
    __syncthreads();

    // Outputs of the new tokens in this segment, kQueryBatch (token, q head) pairs at a time.
    const int qstart = max(pos, sq.start_pos);
    const int nq = max(0, seg_end - qstart) * qpk;
    for (int qb = 0; qb < nq; qb += kQueryBatch) {
      const int nqb = min(kQueryBatch, nq - qb);
      for (int idx = tid; idx < nqb * D; idx += blockDim.x) {
        const int qi = idx / D, query = qb + qi;
        const int t = qstart + query / qpk, hq = h * qpk + query % qpk;
        qs[idx] = p.q[(static_cast<size_t>(sq.token_offset + t - sq.start_pos) * p.heads + hq) * D +
                      idx % D];
      }
      __syncthreads();
      for (int pr = warp; pr < nqb * len; pr += nwarps) {
        const int qi = pr / len, si = pr % len;
        const int t = qstart + (qb + qi) / qpk;
        float dot = 0.f;
        for (int d = lane; d < D; d += 32) dot += qs[qi * D + d] * ks[si * D + d];
        dot = detail::WarpSum(dot);
        if (lane == 0) {
          float wgt = 0.f;
          if (pos + si <= t) wgt = aug ? fmaxf(dot, 0.f) * fmaxf(dot, 0.f) : dot;
          ws[qi * seg_cap + si] = wgt;
        }
      }
      __syncthreads();
      if (p.normalize && tid < nqb) {
        float dn = 0.f;
        for (int d = 0; d < D; ++d) dn += qs[tid * D + d] * zs[d];
        for (int si = 0; si < len; ++si) dn += ws[tid * seg_cap + si];
        den[tid] = fmaxf(dn, 1e-6f);
      }
      float acc[kQueryBatch];
#pragma unroll
      for (int qi = 0; qi < kQueryBatch; ++qi) {
        float g = 0.f;
        if (qi < nqb) {
          const float* qrow = qs + qi * D + hf * RPT;
          if constexpr (RPT % 4 == 0) {  // 16-byte shared loads, same order of terms
#pragma unroll
            for (int i4 = 0; i4 < RPT / 4; ++i4) {
              const float4 q4 = reinterpret_cast<const float4*>(qrow)[i4];
              g += q4.x * s[4 * i4];
              g += q4.y * s[4 * i4 + 1];
              g += q4.z * s[4 * i4 + 2];
              g += q4.w * s[4 * i4 + 3];
            }
          } else {
#pragma unroll
            for (int ii = 0; ii < RPT; ++ii) g += qrow[ii] * s[ii];
          }
        }
        acc[qi] = aug ? p.global_scale * g : g;
      }
#pragma unroll 4
      for (int si = hf; si < len; si += R) {
        const float vj = vs[si * DC + j];
#pragma unroll
        for (int qi = 0; qi < kQueryBatch; ++qi) acc[qi] += ws[qi * seg_cap + si] * vj;
      }
      if (hf > 0) {
#pragma unroll
        for (int qi = 0; qi < kQueryBatch; ++qi)
          red[((hf - 1) * kQueryBatch + qi) * DC + j] = acc[qi];
      }
      if (hf == 1) {
        // The conv term, once per token (its q heads share it), while row group 0 waits.
        if (p.conv_taps > 0) {
          int last_t = -1;
          float conv = 0.f;
          for (int qi = 0; qi < nqb; ++qi) {
            const int t = qstart + (qb + qi) / qpk;
            if (t != last_t) {
              conv = 0.f;
#pragma unroll 8
              for (int c = 0; c < p.conv_taps; ++c) {
                const int src = t - p.conv_taps + 1 + c;
                if (src >= 0) {
                  const float vsrc = src >= pos ? vs[(src - pos) * DC + j] : view.V(src)[col];
                  conv += p.conv_w[h * p.conv_taps + c] * vsrc;
                }
              }
              last_t = t;
            }
            cv[qi * DC + j] = conv;
          }
        }
      }
      __syncthreads();
      if (hf == 0) {
#pragma unroll
        for (int qi = 0; qi < kQueryBatch; ++qi) {
          if (qi >= nqb) break;
          const int query = qb + qi;
          const int t = qstart + query / qpk, hq = h * qpk + query % qpk;
          float o = acc[qi];
#pragma unroll
          for (int r = 1; r < R; ++r) o += red[((r - 1) * kQueryBatch + qi) * DC + j];
          if (!aug) o *= p.global_scale;
          if (p.normalize) o /= den[qi];
          if (p.conv_taps > 0) o += cv[qi * DC + j];
          StoreOut(
              p.out, p.out_dtype,
              (static_cast<size_t>(sq.token_offset + t - sq.start_pos) * p.heads + hq) * D + col,
              o);
        }
      }
      __syncthreads();
    }

    // Fold the segment; a segment that is pending and last is never needed again.
    const bool has_pending = seg_end > sq.commit_pos;
    if (complete && !(has_pending && seg_end == end)) {
      if (has_pending && !stored) {
        if (folded_committed) StoreState<D>(srow, s, zs, zdst);
        stored = true;
      }
      for (int si = 0; si < len; ++si) {
        const float vj = vs[si * DC + j];
        const float* krow = ks + si * D + hf * RPT;
        if constexpr (RPT % 4 == 0) {  // 16-byte shared loads (the fold of a whole group)
#pragma unroll
          for (int i4 = 0; i4 < RPT / 4; ++i4) {
            const float4 k4 = reinterpret_cast<const float4*>(krow)[i4];
            s[4 * i4] += k4.x * vj;
            s[4 * i4 + 1] += k4.y * vj;
            s[4 * i4 + 2] += k4.z * vj;
            s[4 * i4 + 3] += k4.w * vj;
          }
        } else {
#pragma unroll
          for (int ii = 0; ii < RPT; ++ii) s[ii] += krow[ii] * vj;
        }
      }
      __syncthreads();
      if (tid < D && p.normalize) {
        float zz = zs[tid];
        for (int si = 0; si < len; ++si) zz += ks[si * D + tid];
        zs[tid] = zz;
      }
      if (!has_pending) folded_committed = true;
    }
    pos = seg_end;
  }
  __syncthreads();
  if (!stored && folded_committed) StoreState<D>(srow, s, zs, zdst);

  // New tokens' k^/v into the ring, this block's columns only (all ring reads of this block
  // are done; other column blocks read no ring row written here when ColumnSplitSafe holds).
  if (!p.defer_ring_write) StoreRing(p, sq, h, D, c0, DC);
}

// One block per (sequence, kv head): LinearAttentionStep's ring write, deferred.
__global__ void RingStoreKernel(LinearAttentionParams p) {
  detail::PdlWait();
  detail::PdlTrigger();
  StoreRing(p, p.seqs[blockIdx.x], blockIdx.y, p.head_dim, 0, p.head_dim);
}

template <int D, int NC>
cudaError_t LaunchDN(const LinearAttentionParams& p, cudaStream_t stream) {
  const int seg_cap = std::max(p.group_size, kPlainSegment);
  const size_t smem =
      sizeof(float) * (seg_cap * D + kQueryBatch * D + kQueryBatch * seg_cap + 2 * kQueryBatch * D +
                       D + kQueryBatch + kQueryBatch * D + seg_cap * (D / NC));
  if (smem > 48 * 1024) {
    cudaError_t e =
        cudaFuncSetAttribute(LinearAttentionKernel<D, NC>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  dim3 grid(p.num_seqs, p.kv_heads, NC);
  return detail::Launch(LinearAttentionKernel<D, NC>, grid, 2 * D, smem, stream, p);
}

template <int D>
cudaError_t LaunchD(const LinearAttentionParams& p, cudaStream_t stream) {
  switch (p.column_split) {
    case 1:
      return LaunchDN<D, 1>(p, stream);
    case 2:
      return LaunchDN<D, 2>(p, stream);
    case 4:
      return LaunchDN<D, 4>(p, stream);
    case 8:
      return LaunchDN<D, 8>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t LaunchTyped(const LinearAttentionParams& p, cudaStream_t stream) {
  return detail::DispatchHeadDim(p.head_dim, [&](auto d) { return LaunchD<d.value>(p, stream); });
}

}  // namespace

cudaError_t LinearAttentionRingStore(const LinearAttentionParams& p, cudaStream_t stream) {
  if (p.num_seqs <= 0) return cudaSuccess;
  return detail::Launch(RingStoreKernel, dim3(p.num_seqs, p.kv_heads), 256, 0, stream, p);
}

cudaError_t LinearAttentionStep(const LinearAttentionParams& p, cudaStream_t stream) {
  if (p.num_seqs <= 0) return cudaSuccess;
  if (p.kv_heads <= 0 || p.heads % p.kv_heads != 0 || p.ring_size <= 0 ||
      p.column_split > p.head_dim / 2) {
    return cudaErrorInvalidValue;
  }
  switch (p.out_dtype) {
    case DType::kF32:
    case DType::kBF16:
    case DType::kF16:
      return LaunchTyped(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace linspec::kernels
