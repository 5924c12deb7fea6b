#include "kernels/device_common.cuh"
#include "kernels/linear_attention_chunked.h"

namespace linspec::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlock = 64;

// k^ or v row of position pos: the slot's ring for committed positions before the chunk,
// else the step's fresh rows.
__device__ __forceinline__ const float* RowOf(const LinearAttentionParams& p,
                                              const LinearAttentionSeq& sq, const float* ring,
                                              const float* fresh, int h, int pos) {
  const int D = p.head_dim;
  if (pos < sq.start_pos) {
    return ring +
           ((static_cast<size_t>(sq.slot) * p.ring_size + pos % p.ring_size) * p.kv_heads + h) * D;
  }
  return fresh + (static_cast<size_t>(sq.token_offset + pos - sq.start_pos) * p.kv_heads + h) * D;
}

// Keys below this position fold into S after the step: complete groups only (plain attention
// folds groups of kPlainSegment, FoldGroup).
__device__ __forceinline__ int FoldLimit(const LinearAttentionParams& p, int end) {
  const int g = p.group_size > 0 ? p.group_size : kPlainSegment;
  return end / g * g;
}

template <int D>
__device__ void LoadRows(float* dst, int stride, const LinearAttentionParams& p,
                         const LinearAttentionSeq& sq, const float* ring, const float* fresh, int h,
                         int b0, int b1) {
  for (int idx = threadIdx.x; idx < (b1 - b0) * D; idx += kThreads) {
    const int r = idx / D, d = idx % D;
    dst[r * stride + d] = RowOf(p, sq, ring, fresh, h, b0 + r)[d];
  }
}

__device__ __forceinline__ float* Cell(const ChunkedAttention& a, int blk, int h, int D) {
  return a.scratch + (static_cast<size_t>(blk) * a.p.kv_heads + h) * (D * D + D);
}

// The sequence and positions of scratch block blk: keys [b0, min(b0 + C, end)).
struct BlockOf {
  LinearAttentionSeq sq;
  int end, b0;
  __device__ BlockOf(const ChunkedAttention& a, int blk, int C) {
    const int si = a.block_seq[blk];
    sq = a.p.seqs[si];
    end = sq.start_pos + sq.num_new;
    b0 = sq.fold_pos + (blk - a.seq_first_block[si]) * C;
  }
};

// 1. dS_b = sum k^T v (and dz_b = sum k) over the block's folding keys.
template <int D>
__global__ void __launch_bounds__(kThreads) BlockStatsKernel(ChunkedAttention a, int C) {
  extern __shared__ float sm[];
  float* ks = sm;
  float* vs = sm + C * D;
  detail::PdlWait();
  detail::PdlTrigger();
  const LinearAttentionParams& p = a.p;
  const int blk = blockIdx.x, h = blockIdx.y;
  const BlockOf bo(a, blk, C);
  const LinearAttentionSeq& sq = bo.sq;
  const int b0 = bo.b0;
  const int n = max(0, min(b0 + C, FoldLimit(p, bo.end)) - b0);
  LoadRows<D>(ks, D, p, sq, p.ring_k, p.k, h, b0, b0 + n);
  LoadRows<D>(vs, D, p, sq, p.ring_v, p.v, h, b0, b0 + n);
  __syncthreads();
  constexpr int RS = kThreads / D, E = D / RS;  // thread: column c, rows r0 + i * RS
  const int c = threadIdx.x % D, r0 = threadIdx.x / D;
  float acc[E];
#pragma unroll
  for (int i = 0; i < E; ++i) acc[i] = 0.f;
  for (int s = 0; s < n; ++s) {
    const float v = vs[s * D + c];
#pragma unroll
    for (int i = 0; i < E; ++i) acc[i] += ks[s * D + r0 + i * RS] * v;
  }
  float* out = Cell(a, blk, h, D);
#pragma unroll
  for (int i = 0; i < E; ++i) out[(r0 + i * RS) * D + c] = acc[i];
  if (threadIdx.x < D) {
    float z = 0.f;
    for (int s = 0; s < n; ++s) z += ks[s * D + threadIdx.x];
    out[D * D + threadIdx.x] = z;
  }
}

// 2. In place: cell b = S_0 + sum_{b' < b} dS_b' (the state each block starts from); the
// slot gets S_0 + all. One thread per element of S / z (grid z covers them); each walks its
// sequence's blocks, loading kBatch cells at a time so the loads overlap.
template <int D>
__global__ void __launch_bounds__(kThreads) PrefixKernel(ChunkedAttention a, int C) {
  constexpr int kBatch = 8;
  detail::PdlWait();
  detail::PdlTrigger();
  const LinearAttentionParams& p = a.p;
  const int si = blockIdx.x, h = blockIdx.y;
  const int e = blockIdx.z * kThreads + threadIdx.x;
  if (e >= D * D + D) return;
  const LinearAttentionSeq sq = p.seqs[si];
  const int first = a.seq_first_block[si];
  const int nb = (sq.start_pos + sq.num_new - sq.fold_pos + C - 1) / C;
  float* state = p.state + (static_cast<size_t>(sq.slot) * p.kv_heads + h) * D * D;
  float* z = p.z ? p.z + (static_cast<size_t>(sq.slot) * p.kv_heads + h) * D : nullptr;
  const bool is_z = e >= D * D;
  if (is_z && !z) return;
  float run = is_z ? z[e - D * D] : state[e];
  const size_t stride = static_cast<size_t>(p.kv_heads) * (D * D + D);
  float* cell = Cell(a, first, h, D) + e;
  for (int b0 = 0; b0 < nb; b0 += kBatch) {
    float d[kBatch];
#pragma unroll
    for (int i = 0; i < kBatch; ++i) d[i] = b0 + i < nb ? cell[(b0 + i) * stride] : 0.f;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      if (b0 + i < nb) cell[(b0 + i) * stride] = run;
      run += d[i];
    }
  }
  if (is_z) {
    z[e - D * D] = run;
  } else {
    state[e] = run;
  }
}

// 3. Outputs of the block's new tokens, one q head at a time.
template <int D>
__global__ void __launch_bounds__(kThreads, 1) OutputKernel(ChunkedAttention a, int C) {
  constexpr int KS = D + 1;  // padded k rows: the pair dots read columns without conflicts
  extern __shared__ float sm[];
  float* ks = sm;           // [C][KS]
  float* vs = ks + C * KS;  // [C][D]
  float* qs = vs + C * D;   // [C][D]
  float* ws = qs + C * D;   // [C][C]
  float* den = ws + C * C;  // [C]
  detail::PdlWait();
  detail::PdlTrigger();
  const LinearAttentionParams& p = a.p;
  const int blk = blockIdx.x, h = blockIdx.y;
  const BlockOf bo(a, blk, C);
  const LinearAttentionSeq& sq = bo.sq;
  const int b0 = bo.b0, b1 = min(b0 + C, bo.end), n = b1 - b0;
  const int t0 = max(b0, sq.start_pos);
  if (t0 >= b1) return;  // only keys of earlier steps: nothing to output
  LoadRows<D>(ks, KS, p, sq, p.ring_k, p.k, h, b0, b1);
  LoadRows<D>(vs, D, p, sq, p.ring_v, p.v, h, b0, b1);
  const float* sj = Cell(a, blk, h, D);
  const float* zj = sj + D * D;
  const bool aug = p.group_size > 0;
  const int qpk = p.heads / p.kv_heads;
  constexpr int RS = kThreads / D, TPT = kMaxBlock / RS;  // thread: column c, rows part + i RS
  const int c = threadIdx.x % D, part = threadIdx.x / D;
  for (int qq = 0; qq < qpk; ++qq) {
    const int hq = h * qpk + qq;
    __syncthreads();  // the previous head is done with qs / ws
    for (int idx = threadIdx.x; idx < n * D; idx += kThreads) {
      const int tr = idx / D, d = idx % D, t = b0 + tr;
      qs[idx] =
          t >= t0
              ? p.q[(static_cast<size_t>(sq.token_offset + t - sq.start_pos) * p.heads + hq) * D +
                    d]
              : 0.f;
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < n * n; idx += kThreads) {
      const int tr = idx / n, sr = idx - tr * n, t = b0 + tr, s = b0 + sr;
      float w = 0.f;
      if (t >= t0 && s <= t) {
        float dot = 0.f;
#pragma unroll 8
        for (int d = 0; d < D; ++d) dot += qs[tr * D + d] * ks[sr * KS + d];
        if (!aug) {
          w = dot;
        } else if (s / p.group_size == t / p.group_size) {
          w = fmaxf(dot, 0.f) * fmaxf(dot, 0.f);  // local window: relu^2
        } else {
          w = p.global_scale * dot;  // an earlier group of this block: the global branch
        }
      }
      ws[tr * C + sr] = w;
    }
    __syncthreads();
    if (!aug && p.normalize && threadIdx.x < n) {
      const int tr = threadIdx.x;
      float dn = 0.f;
      for (int d = 0; d < D; ++d) dn += qs[tr * D + d] * zj[d];
      for (int sr = 0; sr <= tr; ++sr) dn += ws[tr * C + sr];
      den[tr] = fmaxf(dn, 1e-6f);
    }
    float acc[TPT];
#pragma unroll
    for (int i = 0; i < TPT; ++i) acc[i] = 0.f;
    for (int r = 0; r < D; ++r) {
      const float s = sj[r * D + c];
#pragma unroll
      for (int i = 0; i < TPT; ++i) {
        const int tr = part + i * RS;
        if (tr < n) acc[i] += qs[tr * D + r] * s;
      }
    }
    if (aug) {
#pragma unroll
      for (int i = 0; i < TPT; ++i) acc[i] *= p.global_scale;
    }
    for (int sr = 0; sr < n; ++sr) {
      const float v = vs[sr * D + c];
#pragma unroll
      for (int i = 0; i < TPT; ++i) {
        const int tr = part + i * RS;
        if (tr < n) acc[i] += ws[tr * C + sr] * v;
      }
    }
    __syncthreads();  // den
#pragma unroll
    for (int i = 0; i < TPT; ++i) {
      const int tr = part + i * RS, t = b0 + tr;
      if (tr >= n || t < t0) continue;
      float o = acc[i];
      if (!aug) {
        o *= p.global_scale;
        if (p.normalize) o /= den[tr];
      }
      for (int cc = 0; cc < p.conv_taps; ++cc) {
        const int src = t - p.conv_taps + 1 + cc;
        if (src >= 0) o += p.conv_w[h * p.conv_taps + cc] * RowOf(p, sq, p.ring_v, p.v, h, src)[c];
      }
      detail::StoreOut(
          p.out, p.out_dtype,
          (static_cast<size_t>(sq.token_offset + t - sq.start_pos) * p.heads + hq) * D + c, o);
    }
  }
}

template <int D>
cudaError_t LaunchD(const ChunkedAttention& a, cudaStream_t stream) {
  const int C = ChunkedBlockSize(a.p.group_size);
  const size_t stats_smem = sizeof(float) * 2 * C * D;
  const size_t out_smem = sizeof(float) * (C * (D + 1) + 2 * C * D + C * C + C);
  static const cudaError_t attr = [&] {
    cudaError_t e =
        cudaFuncSetAttribute(BlockStatsKernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(sizeof(float) * 2 * kMaxBlock * D));
    if (e != cudaSuccess) return e;
    return cudaFuncSetAttribute(
        OutputKernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
        static_cast<int>(sizeof(float) * (kMaxBlock * (D + 1) + 2 * kMaxBlock * D +
                                          kMaxBlock * kMaxBlock + kMaxBlock)));
  }();
  if (attr != cudaSuccess) return attr;
  const dim3 blocks(a.num_blocks, a.p.kv_heads),
      seqs(a.p.num_seqs, a.p.kv_heads, (D * D + D + kThreads - 1) / kThreads);
  cudaError_t e = detail::Launch(BlockStatsKernel<D>, blocks, kThreads, stats_smem, stream, a, C);
  if (e != cudaSuccess) return e;
  e = detail::Launch(PrefixKernel<D>, seqs, kThreads, 0, stream, a, C);
  if (e != cudaSuccess) return e;
  return detail::Launch(OutputKernel<D>, blocks, kThreads, out_smem, stream, a, C);
}

}  // namespace

int ChunkedBlockSize(int group_size) {
  return group_size > 0 ? group_size * (kMaxBlock / group_size) : kMaxBlock;
}

bool ChunkedSupported(int head_dim, int group_size) {
  return (head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128) &&
         group_size <= kMaxBlock;
}

size_t ChunkedScratchFloats(int num_blocks, int kv_heads, int head_dim) {
  return static_cast<size_t>(num_blocks) * kv_heads * (head_dim * head_dim + head_dim);
}

cudaError_t LinearAttentionChunked(const ChunkedAttention& a, cudaStream_t stream) {
  if (a.p.num_seqs <= 0 || a.num_blocks <= 0) return cudaSuccess;
  if (!ChunkedSupported(a.p.head_dim, a.p.group_size) || a.p.kv_heads <= 0 ||
      a.p.heads % a.p.kv_heads != 0) {
    return cudaErrorInvalidValue;
  }
  return detail::DispatchHeadDim(a.p.head_dim, [&](auto d) { return LaunchD<d.value>(a, stream); });
}

}  // namespace linspec::kernels
