#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "common/counter_rng.h"
#include "kernels/device_common.cuh"
#include "kernels/sampling.h"

namespace linspec::kernels {
namespace {

using u64 = unsigned long long;

constexpr int kThreads = 768;  // <= 85 registers: no spills on sm_80
constexpr int kWarps = kThreads / 32;
// Radix digits of the 31 value bits of a weight (bit 31, the sign, is 0): 12, 10, 9 bits.
__device__ __forceinline__ int DigitBits(int pass) { return pass == 0 ? 12 : pass == 1 ? 10 : 9; }
constexpr int kMaxBins = 1 << 12;
// Ids of the pass-1 bin are compacted (when they fit) so passes 2 and 3 touch only them.
constexpr int kMaxCandidates = 8192;
// Dynamic shared memory after the weight cache: histograms and candidates.
constexpr size_t kScratchBytes = kMaxBins * (4 + 8) + kMaxCandidates * 4;
constexpr float kFxScale = 1099511627776.f;  // 2^40: masses are integers of 2^-40
constexpr double kFxScaleD = 1099511627776.0;
constexpr unsigned kFull = 0xffffffffu;

struct Shared {
  unsigned int* count;  // [kMaxBins], dynamic shared memory
  u64* mass;            // [kMaxBins]
  int* cand;            // [kMaxCandidates]: ids of the pass-1 bin (compacted)
  int num_cand;
  u64 warp_u64[kWarps];
  float warp_f[kWarps];
  int sel_bin;
  u64 sel_above_count;
  u64 sel_above_mass;
  int token;
  int aggregate;
};

__device__ __forceinline__ u64 Fx(float w) { return __float2ull_rn(w * kFxScale); }

// One row's transformed distribution. w(v) = exp((logit - max) / t) is recomputed in every
// pass (same instructions, same value), restricted to the top-k set {bits > k_tau, or ==
// with id <= k_id} and then the nucleus {bits > p_tau, or == with id <= p_id}. Weights are
// >= 0, so their float bits order like the weights.
struct Row {
  const float* logits = nullptr;
  float* cache = nullptr;  // shared memory [vocab] of weights, or null (recomputed)
  int vocab = 0;
  float max = 0.f;
  float inv_t = 1.f;
  bool use_k = false, use_p = false;
  uint32_t k_tau = 0, p_tau = 0;
  int k_id = 0, p_id = 0;

  __device__ float Weight(float logit) const {
    const float w = expf((logit - max) * inv_t);
    return w > 0.f ? w : 0.f;  // NaN logits weigh nothing
  }
  __device__ float W(int v) const { return cache ? cache[v] : Weight(logits[v]); }
  __device__ bool InK(int v, uint32_t b) const {
    return !use_k || b > k_tau || (b == k_tau && v <= k_id);
  }
  __device__ bool Kept(int v, uint32_t b) const {
    return InK(v, b) && (!use_p || b > p_tau || (b == p_tau && v <= p_id));
  }
  __device__ u64 KeptFx(int v) const {
    const float w = W(v);
    return Kept(v, __float_as_uint(w)) ? Fx(w) : 0ull;
  }
};

__device__ __forceinline__ u64 BlockSum(u64 v, Shared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  __syncthreads();
  if (lane == 0) sh.warp_u64[warp] = v;
  __syncthreads();
  u64 t = 0;
#pragma unroll
  for (int i = 0; i < kWarps; ++i) t += sh.warp_u64[i];
  return t;
}

__device__ __forceinline__ float BlockMax(float v, Shared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFull, v, o));
  __syncthreads();
  if (lane == 0) sh.warp_f[warp] = v;
  __syncthreads();
  float t = -INFINITY;
#pragma unroll
  for (int i = 0; i < kWarps; ++i) t = fmaxf(t, sh.warp_f[i]);
  return t;
}

__device__ __forceinline__ u64 WarpSumU64(u64 v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Broadcasts sh.token (written by one thread before the barrier) and frees the slot.
__device__ __forceinline__ int TakeToken(Shared& sh) {
  __syncthreads();
  const int t = sh.token;
  __syncthreads();
  return t;
}

// The smallest id v with wf(0) + ... + wf(v) > target(total), in id order; `if_none` when
// target(total) >= total. Warp w owns the contiguous ids [w W, (w + 1) W) and reads them 32
// at a time (coalesced, no shared-memory bank conflicts); only the warp holding the answer
// walks its range again with warp scans.
template <class Wf, class Target>
__device__ int SearchIdOrder(int vocab, Wf wf, Target target_of, int if_none, Shared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int per_warp = ((vocab + kWarps - 1) / kWarps + 31) / 32 * 32;
  const int begin = min(vocab, warp * per_warp), end = min(vocab, begin + per_warp);
  u64 s = 0;
  for (int v = begin + lane; v < end; v += 32) s += wf(v);
  s = WarpSumU64(s);
  __syncthreads();
  if (lane == 0) sh.warp_u64[warp] = s;
  if (threadIdx.x == 0) sh.token = if_none;
  __syncthreads();
  u64 before = 0, total = 0;
#pragma unroll
  for (int i = 0; i < kWarps; ++i) {
    before += i < warp ? sh.warp_u64[i] : 0ull;
    total += sh.warp_u64[i];
  }
  const u64 target = target_of(total);
  if (target < total && before <= target && target < before + s) {  // warp-uniform
    u64 cum = before;
    for (int base = begin; base < end; base += 32) {
      const int v = base + lane;
      u64 incl = v < end ? wf(v) : 0ull;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const u64 y = __shfl_up_sync(kFull, incl, o);
        if (lane >= o) incl += y;
      }
      const u64 chunk = __shfl_sync(kFull, incl, 31);
      if (target < cum + chunk) {
        const unsigned hit = __ballot_sync(kFull, cum + incl > target);
        if (lane == __ffs(hit) - 1) sh.token = v;
        break;
      }
      cum += chunk;
    }
  }
  return TakeToken(sh);
}

// The n-th (1-based) id in increasing order with pred(id); vocab - 1 when there are fewer.
template <class Pred>
__device__ int NthInIdOrder(int vocab, u64 n, Pred pred, Shared& sh) {
  return SearchIdOrder(
      vocab, [&](int v) { return pred(v) ? 1ull : 0ull; },
      [&](u64 total) { return n >= 1 ? n - 1 : total; }, vocab - 1, sh);
}

// Inverse-CDF draw in id order over integer weights wf(v); -1 when they sum to zero.
template <class Wf>
__device__ int InverseCdf(int vocab, double u, Wf wf, Shared& sh) {
  return SearchIdOrder(
      vocab, wf,
      [&](u64 total) {
        if (total == 0) return u64{0};
        const u64 t = static_cast<u64>(u * static_cast<double>(total));
        return t < total ? t : total - 1;
      },
      -1, sh);
}

struct Selected {
  uint32_t tau;       // the boundary weight's bits
  u64 above_count;    // eligible tokens strictly above it
  u64 above_mass;     // and their mass (by_mass only)
  unsigned int ties;  // eligible tokens exactly at it
};

// Adds one element per lane to the bin histogram (bin < 0: none). The first few distinct
// bins of the warp are aggregated (one lane adds the group's count and fixed-point mass, the
// mass split in 20-bit halves so the 32-bit warp sums cannot overflow), so flat distributions
// do not serialize on one shared-memory address; the remaining lanes (spread over many bins,
// little contention) add their own. Called by every lane of the warp.
__device__ __forceinline__ void HistogramAdd(int bin, u64 fx, bool by_mass, Shared& sh) {
  constexpr int kAggregatedBins = 4;
  const int lane = threadIdx.x & 31;
  unsigned todo = __ballot_sync(kFull, bin >= 0);
  if (sh.aggregate) {
    for (int r = 0; r < kAggregatedBins && todo != 0; ++r) {  // warp-uniform
      const int leader = __ffs(todo) - 1;
      const int lb = __shfl_sync(kFull, bin, leader);
      const bool mine = bin == lb && bin >= 0;
      const unsigned group = __ballot_sync(kFull, mine);
      if (by_mass) {
        const unsigned lo = __reduce_add_sync(kFull, mine ? unsigned(fx & 0xFFFFFull) : 0u);
        const unsigned hi = __reduce_add_sync(kFull, mine ? unsigned(fx >> 20) : 0u);
        if (lane == leader) atomicAdd(&sh.mass[lb], (static_cast<u64>(hi) << 20) + lo);
      }
      if (lane == leader) atomicAdd(&sh.count[lb], static_cast<unsigned>(__popc(group)));
      todo &= ~group;
    }
  }
  if (todo & (1u << lane)) {
    atomicAdd(&sh.count[bin], 1u);
    if (by_mass) atomicAdd(&sh.mass[bin], fx);
  }
}

// Warp 0 finds the highest bin b (scanning from the top) with
// measure(above) + measure(b) >= target, bin 0 if none; publishes it with the count and mass
// of the bins above it.
__device__ __forceinline__ void ChooseBin(int bins, bool by_mass, u64 target, u64 above_c,
                                          u64 above_m, Shared& sh) {
  if (threadIdx.x >= 32) return;
  const int per = bins / 32;
  const int lane = threadIdx.x;
  u64 seg_c = 0, seg_m = 0;
  for (int j = 0; j < per; ++j) {
    const int b = bins - 1 - (lane * per + j);
    seg_c += sh.count[b];
    seg_m += sh.mass[b];
  }
  u64 inc_c = seg_c, inc_m = seg_m;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const u64 yc = __shfl_up_sync(kFull, inc_c, o);
    const u64 ym = __shfl_up_sync(kFull, inc_m, o);
    if (lane >= o) {
      inc_c += yc;
      inc_m += ym;
    }
  }
  const u64 reach = by_mass ? above_m + inc_m : above_c + inc_c;
  const unsigned hit = __ballot_sync(kFull, reach >= target);
  const int chosen = hit ? __ffs(hit) - 1 : 31;
  if (lane != chosen) return;
  u64 c = above_c + inc_c - seg_c, m = above_m + inc_m - seg_m;
  for (int j = 0; j < per; ++j) {
    const int b = bins - 1 - (lane * per + j);
    if ((by_mass ? m + sh.mass[b] : c + sh.count[b]) >= target || b == 0) {
      sh.sel_bin = b;
      break;
    }
    c += sh.count[b];
    m += sh.mass[b];
  }
  sh.sel_above_count = c;
  sh.sel_above_mass = m;
}

// Radix select (digits of 12, 10 and 9 bits) of the boundary weight among eligible tokens:
// measure(bits > tau) < target <= measure(bits >= tau), measure = count or mass. After the
// first pass the ids of the chosen bin are compacted when they fit, so the later passes read
// only them; histogram sums are integers, so the order of the candidates does not matter.
template <class Elig>
__device__ Selected RadixSelect(const Row& row, Elig elig, bool by_mass, u64 target, Shared& sh) {
  uint32_t prefix = 0, mask = 0;
  u64 above_c = 0, above_m = 0;
  unsigned int ties = 0;
  bool compacted = false;
  int shift = 31;
  for (int pass = 0; pass < 3; ++pass) {
    const int bins = 1 << DigitBits(pass);
    shift -= DigitBits(pass);
    for (int i = threadIdx.x; i < bins; i += kThreads) {
      sh.count[i] = 0;
      sh.mass[i] = 0;
    }
    __syncthreads();
    const int n = compacted ? sh.num_cand : row.vocab;
    for (int base = 0; base < n; base += kThreads) {  // warp-uniform trip count
      const int idx = base + threadIdx.x;
      int bin = -1;
      float w = 0.f;
      if (idx < n) {
        const int v = compacted ? sh.cand[idx] : idx;
        w = row.W(v);
        const uint32_t b = __float_as_uint(w);
        if ((b & mask) == prefix && (compacted || elig(v, b))) bin = (b >> shift) & (bins - 1);
      }
      HistogramAdd(bin, bin >= 0 && by_mass ? Fx(w) : 0ull, by_mass, sh);
    }
    __syncthreads();
    ChooseBin(bins, by_mass, target, above_c, above_m, sh);
    __syncthreads();
    const int bin = sh.sel_bin;
    above_c = sh.sel_above_count;
    above_m = sh.sel_above_mass;
    ties = sh.count[bin];
    prefix |= static_cast<uint32_t>(bin) << shift;
    mask |= static_cast<uint32_t>(bins - 1) << shift;
    if (pass == 0 && threadIdx.x == 0) sh.num_cand = 0;
    __syncthreads();
    if (pass == 0 && ties <= kMaxCandidates) {                  // block-uniform
      for (int base = 0; base < row.vocab; base += kThreads) {  // warp-uniform trip count
        const int v = base + threadIdx.x;
        bool in = false;
        if (v < row.vocab) {
          const uint32_t b = __float_as_uint(row.W(v));
          in = (b & mask) == prefix && elig(v, b);
        }
        const unsigned ballot = __ballot_sync(kFull, in);
        int slot = 0;
        if ((threadIdx.x & 31) == 0 && ballot) slot = atomicAdd(&sh.num_cand, __popc(ballot));
        slot = __shfl_sync(kFull, slot, 0);
        if (in) sh.cand[slot + __popc(ballot & ((1u << (threadIdx.x & 31)) - 1))] = v;
      }
      compacted = true;
      __syncthreads();
    }
  }
  return {prefix, above_c, above_m, ties};
}

// Sets up row's temperature, top-k and top-p sets; returns the kept mass.
__device__ u64 PrepareRow(Row& row, const SampleChunk& c, Shared& sh) {
  const int vocab = row.vocab;
  float m = -INFINITY;
  for (int v = threadIdx.x; v < vocab; v += kThreads) m = fmaxf(m, row.logits[v]);
  row.max = BlockMax(m, sh);
  row.inv_t = 1.f / c.temperature;
  if (row.cache) {
    for (int v = threadIdx.x; v < vocab; v += kThreads) row.cache[v] = row.Weight(row.logits[v]);
    __syncthreads();
  }
  row.use_k = c.top_k > 0 && c.top_k < vocab;
  row.use_p = c.top_p < 1.f;
  if (row.use_k) {
    const Selected s = RadixSelect(
        row, [](int, uint32_t) { return true; }, false, c.top_k, sh);
    row.k_tau = s.tau;
    const u64 need = static_cast<u64>(c.top_k) - s.above_count;
    row.k_id = NthInIdOrder(
        vocab, need, [&](int v) { return __float_as_uint(row.W(v)) == s.tau; }, sh);
  }
  u64 part = 0;
  for (int v = threadIdx.x; v < vocab; v += kThreads) {
    const float w = row.W(v);
    part += row.InK(v, __float_as_uint(w)) ? Fx(w) : 0ull;
  }
  u64 mass = BlockSum(part, sh);
  if (row.use_p && mass > 0) {
    u64 thr = static_cast<u64>(ceil(static_cast<double>(c.top_p) * static_cast<double>(mass)));
    thr = thr < 1 ? 1 : (thr > mass ? mass : thr);
    const Selected s = RadixSelect(
        row, [&](int v, uint32_t b) { return row.InK(v, b); }, true, thr, sh);
    row.p_tau = s.tau;
    const u64 fx_tau = Fx(__uint_as_float(s.tau));
    u64 need = s.ties;
    if (fx_tau > 0 && thr > s.above_mass) need = (thr - s.above_mass + fx_tau - 1) / fx_tau;
    need = need < 1 ? 1 : (need > s.ties ? s.ties : need);
    row.p_id = NthInIdOrder(
        vocab, need,
        [&](int v) {
          const uint32_t b = __float_as_uint(row.W(v));
          return b == s.tau && row.InK(v, b);
        },
        sh);
    mass = s.above_mass + need * fx_tau;
  }
  return mass;
}

// Block (chunk, i) handles row i of the chunk: row i < k decides draft i+1 (accept, or the
// residual draw that replaces it), row k draws the bonus (or the lone token of a chunk
// without drafts). The rows run in parallel; the last of a chunk's blocks to finish combines
// them (first rejection wins) and resets the chunk's counter for the next launch.
__global__ void __launch_bounds__(kThreads)
    SampleChunksKernel(const float* __restrict__ logits, const int32_t* __restrict__ argmax,
                       int vocab, const SampleChunk* __restrict__ chunks,
                       const int32_t* __restrict__ tokens, const float* __restrict__ q_rows,
                       SampledChunk* __restrict__ out, float* __restrict__ probs_out,
                       int2* __restrict__ row_results, unsigned int* __restrict__ counters,
                       int cache_floats, int aggregate) {
  __shared__ Shared sh;
  // Dynamic shared memory: [cache_floats] weights (0: recomputed), histograms, candidates.
  extern __shared__ __align__(16) unsigned char dyn[];
  float* cache = reinterpret_cast<float*>(dyn);
  if (threadIdx.x == 0) {  // read after PrepareRow's first barrier
    sh.aggregate = aggregate;
    sh.mass = reinterpret_cast<u64*>(dyn + size_t(cache_floats) * 4);
    sh.count = reinterpret_cast<unsigned int*>(sh.mass + kMaxBins);
    sh.cand = reinterpret_cast<int*>(sh.count + kMaxBins);
  }
  detail::PdlWait();
  detail::PdlTrigger();
  const SampleChunk c = chunks[blockIdx.x];
  const int i = blockIdx.y;
  const int k = c.num_drafts;
  const bool writer = threadIdx.x == 0;
  SampledChunk* o = out + blockIdx.x;
  if (!c.active || c.temperature <= 0.f) {  // one block: inactive, or greedy acceptance
    if (i != 0) return;
    float* probs = c.active && k == 0 && c.probs_row >= 0
                       ? probs_out + static_cast<size_t>(c.probs_row) * vocab
                       : nullptr;
    if (probs) {
      const int a = argmax[c.first_row];
      for (int v = threadIdx.x; v < vocab; v += kThreads) probs[v] = v == a ? 1.f : 0.f;
    }
    if (writer) {
      int n = 0;
      if (c.active) {
        while (n < k && tokens[c.draft_token + n] == argmax[c.first_row + n]) ++n;
      }
      *o = c.active ? SampledChunk{n, argmax[c.first_row + n]} : SampledChunk{0, 0};
    }
    return;
  }
  if (i > k) return;
  Row row;
  row.logits = logits + static_cast<size_t>(c.first_row + i) * vocab;
  row.cache = cache_floats > 0 ? cache : nullptr;
  row.vocab = vocab;
  const u64 kept = PrepareRow(row, c, sh);
  const uint64_t index = c.first_index + i;
  // Residual and bonus draws use the target's stream; a lone draw the chunk's own.
  const RandomStream draw = k == 0 ? static_cast<RandomStream>(c.stream) : RandomStream::kTarget;
  const double u = CounterUniform(c.seed, index, draw);
  auto p_fx = [&](int v) { return row.KeptFx(v); };
  int accepted = 0, token = -1;
  if (i < k) {
    const int d = tokens[c.draft_token + i];
    const float* q = c.q_row >= 0 ? q_rows + static_cast<size_t>(c.q_row + i) * vocab : nullptr;
    const double qd = q ? static_cast<double>(q[d]) : 1.0;
    const double pd = kept > 0 ? static_cast<double>(row.KeptFx(d)) / kept : 0.0;
    const double coin = CounterUniform(c.seed, index, RandomStream::kAccept);
    accepted = qd > 0 && coin * qd < pd;  // block-uniform
    if (!accepted) {
      if (q) {
        const double inv = kept > 0 ? 1.0 / static_cast<double>(kept) : 0.0;
        token = InverseCdf(
            vocab, u,
            [&](int v) {
              const double x = static_cast<double>(row.KeptFx(v)) * inv - q[v];
              return x > 0 ? static_cast<u64>(x * kFxScaleD) : 0ull;
            },
            sh);
      } else {
        token = InverseCdf(
            vocab, u, [&](int v) { return v == d ? 0ull : row.KeptFx(v); }, sh);
      }
      // A zero residual means p == q, where rejection has probability zero: draw from p.
      if (token < 0) token = InverseCdf(vocab, u, p_fx, sh);
    }
  } else {
    token = InverseCdf(vocab, u, p_fx, sh);
    if (k == 0 && c.probs_row >= 0) {
      float* probs = probs_out + static_cast<size_t>(c.probs_row) * vocab;
      const double inv = kept > 0 ? 1.0 / static_cast<double>(kept) : 0.0;
      for (int v = threadIdx.x; v < vocab; v += kThreads) {
        probs[v] = static_cast<float>(static_cast<double>(row.KeptFx(v)) * inv);
      }
    }
  }
  if (!accepted && token < 0) token = argmax[c.first_row + i];  // all weights zero
  if (!writer) return;
  if (k == 0) {
    *o = SampledChunk{0, token};
    return;
  }
  row_results[static_cast<size_t>(blockIdx.x) * gridDim.y + i] = make_int2(accepted, token);
  __threadfence();
  if (atomicAdd(&counters[blockIdx.x], 1u) != static_cast<unsigned>(k)) return;
  __threadfence();
  const volatile int2* rr = row_results + static_cast<size_t>(blockIdx.x) * gridDim.y;
  int n = 0;
  while (n < k && rr[n].x) ++n;
  *o = SampledChunk{n, rr[n].y};
  counters[blockIdx.x] = 0;
}

}  // namespace

// Largest dynamic shared memory a block may opt into on this device.
int MaxDynamicSmem() {
  static const int bytes = [] {
    int dev = 0, optin = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess) {
      return 0;
    }
    return optin - static_cast<int>(sizeof(Shared)) - 1024;
  }();
  return bytes;
}

cudaError_t SampleChunksInit() {
  static const cudaError_t attr = cudaFuncSetAttribute(
      SampleChunksKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, MaxDynamicSmem());
  return attr;
}

cudaError_t SampleChunks(const float* logits, const int32_t* argmax, int vocab,
                         const SampleChunk* chunks, int num_chunks, int max_rows,
                         const int32_t* tokens, const float* q_rows, SampledChunk* out,
                         float* probs_out, int2* row_results, unsigned int* counters,
                         cudaStream_t stream) {
  if (num_chunks <= 0) return cudaSuccess;
  if (cudaError_t e = SampleChunksInit(); e != cudaSuccess) return e;
  // Warp aggregation of histogram adds: off by default (the 12-bit first digit spreads even
  // flat distributions over many bins; measured faster without); LINSPEC_SAMPLING_AGG=1.
  static const int aggregate = [] {
    const char* e = std::getenv("LINSPEC_SAMPLING_AGG");
    return e && e[0] == '1' ? 1 : 0;
  }();
  // The row's weights stay in shared memory when they fit beside the scratch (exp once).
  const int even = (vocab + 1) / 2 * 2;
  const int cache_floats =
      static_cast<size_t>(even) * 4 + kScratchBytes <= static_cast<size_t>(MaxDynamicSmem()) ? even
                                                                                             : 0;
  const size_t smem = static_cast<size_t>(cache_floats) * 4 + kScratchBytes;
  return detail::Launch(SampleChunksKernel, dim3(num_chunks, max_rows), kThreads, smem, stream,
                        logits, argmax, vocab, chunks, tokens, q_rows, out, probs_out, row_results,
                        counters, cache_floats, aggregate);
}

}  // namespace linspec::kernels
