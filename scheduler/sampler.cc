#include "scheduler/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <numeric>

namespace linspec::scheduler {

namespace {

constexpr int kLanes = 8;    // independent accumulators so reductions vectorize
constexpr int kBlock = 256;  // SampleFromProbs skips whole blocks by their sums

// Per-thread scratch, reused across rows: no allocation per sampled row once warm.
struct Scratch {
  std::vector<uint64_t> keys;
  std::vector<int> counts;
  std::vector<double> masses;
  std::vector<double> block_sums;
};
Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// exp(x) for x <= 0 (Cephes expf polynomial, ~1 ulp); 0 below the float normal range.
// Branch-free, with integer selects (float compares block if-conversion under the default
// -ftrapping-math), so that the loop calling it vectorizes. For x <= 0, x < -87 exactly
// when its bit pattern is above that of -87.
inline float ExpNonPositive(float x) {
  constexpr uint32_t kMinus87 = 0xC2AE0000u;
  const uint32_t ux = std::bit_cast<uint32_t>(x);
  const uint32_t tiny = 0u - static_cast<uint32_t>(ux > kMinus87);  // all ones when tiny
  const float xc = std::bit_cast<float>(ux ^ ((ux ^ kMinus87) & tiny));
  // round(x / ln2) by the 1.5 * 2^23 trick; its low mantissa bits hold the integer.
  const float shifted = xc * 1.44269504088896341f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const int32_t ni = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(12582912.0f);
  const uint32_t bits = static_cast<uint32_t>(ni + 127) << 23;
  const uint32_t scaled = std::bit_cast<uint32_t>(e * std::bit_cast<float>(bits));
  return std::bit_cast<float>(scaled & ~tiny);
}

float MaxOf(const float* x, int n) {
  float m[kLanes];
  for (int j = 0; j < kLanes; ++j) m[j] = x[0];
  int v = 0;
  for (; v + kLanes <= n; v += kLanes) {
    for (int j = 0; j < kLanes; ++j) m[j] = m[j] > x[v + j] ? m[j] : x[v + j];
  }
  for (; v < n; ++v) m[0] = std::max(m[0], x[v]);
  return *std::max_element(m, m + kLanes);
}

double SumOf(const float* x, int n) {
  double acc[kLanes] = {};
  int v = 0;
  for (; v + kLanes <= n; v += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += x[v + j];
  }
  for (; v < n; ++v) acc[0] += x[v];
  return std::accumulate(acc, acc + kLanes, 0.0);
}

// w[v] = exp((logits[v] - max) / t) (a vectorized loop); returns sum(w).
double ExpWeights(const float* logits, int n, float inv_t, float* w) {
  const float max_logit = MaxOf(logits, n);
  for (int v = 0; v < n; ++v) w[v] = ExpNonPositive((logits[v] - max_logit) * inv_t);
  return SumOf(w, n);
}

// Sort key of token v with weight w >= 0: larger key = more likely, ties broken by lower id
// first (the order top-k and top-p are defined by). Non-negative floats order as their bits.
inline uint64_t KeyOf(float w, int v) {
  return (static_cast<uint64_t>(std::bit_cast<uint32_t>(w)) << 32) |
         (0xFFFFFFFFu - static_cast<uint32_t>(v));
}
inline int IdOf(uint64_t key) { return static_cast<int>(0xFFFFFFFFu - (key & 0xFFFFFFFFu)); }
inline float WeightOf(uint64_t key) {
  return std::bit_cast<float>(static_cast<uint32_t>(key >> 32));
}

// Orders keys so that its first `keep_k` entries are the top keep_k (sorted when use_p, and
// for top-p alone only growing prefixes are sorted until the nucleus is complete). Returns
// the number of tokens kept: the same set a full sort would keep. total < 0: the nucleus is
// taken of the mass of the top keep_k. *reached: false when the nucleus was not completed.
int SelectKept(std::vector<uint64_t>& keys, int keep_k, bool use_p, double top_p, double total,
               bool* reached) {
  *reached = true;
  const int n = static_cast<int>(keys.size());
  uint64_t* first = keys.data();
  const std::greater<uint64_t> more_likely;
  if (keep_k < n) std::nth_element(first, first + keep_k - 1, first + n, more_likely);
  if (!use_p) return keep_k;
  if (total < 0) {
    total = 0;  // the nucleus is taken within the top k, as before
    for (int i = 0; i < keep_k; ++i) total += WeightOf(first[i]);
  }
  const double threshold = top_p * total;
  double cum = 0;
  int lo = 0;
  int chunk = 64;
  while (lo < keep_k) {
    const int hi = std::min(keep_k, lo + chunk);
    if (hi < keep_k) std::nth_element(first + lo, first + hi - 1, first + keep_k, more_likely);
    std::sort(first + lo, first + hi, more_likely);
    for (int i = lo; i < hi; ++i) {
      cum += WeightOf(first[i]);
      if (cum >= threshold) return i + 1;
    }
    lo = hi;
    chunk *= 2;
  }
  *reached = false;
  return keep_k;
}

// Smallest weight bucket (float bits >> kBucketShift, monotone in the weight) such that the
// tokens in it and above number at least keep_k, or (top-p alone) hold at least `mass`.
// Every token of the top-k / nucleus lies at or above it.
constexpr int kBucketShift = 20;
constexpr int kBuckets = 1 << (31 - kBucketShift);

// The sign bit is masked so that a NaN weight (from NaN logits) stays in range.
inline uint32_t BucketOf(float w) {
  return (std::bit_cast<uint32_t>(w) & 0x7FFFFFFFu) >> kBucketShift;
}

uint32_t CutoffBucket(const float* w, int vocab, int keep_k, bool by_mass, double mass) {
  Scratch& s = ThreadScratch();
  s.counts.assign(kBuckets, 0);
  if (by_mass) s.masses.assign(kBuckets, 0.0);
  for (int v = 0; v < vocab; ++v) {
    const uint32_t b = BucketOf(w[v]);
    ++s.counts[b];
    if (by_mass) s.masses[b] += w[v];
  }
  int count = 0;
  double cum = 0;
  for (int b = kBuckets - 1; b > 0; --b) {
    count += s.counts[b];
    cum += by_mass ? s.masses[b] : 0.0;
    if (by_mass ? cum >= mass : count >= keep_k) return b;
  }
  return 0;
}

// Keeps the top_k most likely tokens and then the top_p nucleus of the weights w; zeroes the
// rest. Returns the kept mass. Only the tokens at or above a cutoff bucket are ordered.
double Truncate(int vocab, const SamplingParams& params, double total, float* w) {
  const bool use_k = params.top_k > 0 && params.top_k < vocab;
  const bool use_p = params.top_p < 1.0f;
  if (!use_k && !use_p) return total;
  const int keep_k = use_k ? params.top_k : vocab;
  // Margin for rounding: the nucleus sum below runs in another order than the bucket sums.
  const double mass = use_k ? 0.0 : params.top_p * total * (1 + 1e-6);
  const uint32_t cutoff = CutoffBucket(w, vocab, keep_k, !use_k, mass);
  std::vector<uint64_t>& keys = ThreadScratch().keys;
  keys.clear();
  for (int v = 0; v < vocab; ++v) {
    if (BucketOf(w[v]) >= cutoff) keys.push_back(KeyOf(w[v], v));
  }
  bool reached = true;
  const double nucleus_of = use_k ? -1.0 : total;  // < 0: the mass of the top k
  int keep = SelectKept(keys, std::min(keep_k, static_cast<int>(keys.size())), use_p, params.top_p,
                        nucleus_of, &reached);
  if (!reached && static_cast<int>(keys.size()) < keep_k) {  // rounding: order every token
    keys.resize(vocab);
    for (int v = 0; v < vocab; ++v) keys[v] = KeyOf(w[v], v);
    keep = SelectKept(keys, keep_k, use_p, params.top_p, nucleus_of, &reached);
  }
  std::fill(w, w + vocab, 0.0f);
  double kept_mass = 0;
  for (int i = 0; i < keep; ++i) {
    w[IdOf(keys[i])] = WeightOf(keys[i]);
    kept_mass += WeightOf(keys[i]);
  }
  return kept_mass;
}

}  // namespace

uint64_t MixSeed(uint64_t a, uint64_t b) { return SplitMix64(SplitMix64(a) ^ b); }

double UniformAt(uint64_t seed, uint64_t index, RandomStream stream) {
  return CounterUniform(seed, index, stream);
}

void ToProbs(const float* logits, int vocab, const SamplingParams& params,
             std::vector<float>* probs) {
  probs->resize(vocab);
  float* w = probs->data();
  const double total = ExpWeights(logits, vocab, 1.0f / params.temperature, w);
  const double kept = Truncate(vocab, params, total, w);
  if (kept <= 0) return;
  const float inv = static_cast<float>(1.0 / kept);
  for (int v = 0; v < vocab; ++v) w[v] *= inv;
}

engine::TokenId SampleFromProbs(const float* probs, int vocab, double u) {
  const int num_blocks = (vocab + kBlock - 1) / kBlock;
  std::vector<double>& block_sums = ThreadScratch().block_sums;
  block_sums.resize(num_blocks);
  double total = 0;
  for (int b = 0; b < num_blocks; ++b) {
    const int begin = b * kBlock;
    block_sums[b] = SumOf(probs + begin, std::min(kBlock, vocab - begin));
    total += block_sums[b];
  }
  const double target = u * total;
  double cum = 0;
  for (int b = 0; b < num_blocks; ++b) {
    if (!(target < cum + block_sums[b])) {
      cum += block_sums[b];
      continue;
    }
    const int end = std::min(vocab, (b + 1) * kBlock);
    for (int v = b * kBlock; v < end; ++v) {
      if (probs[v] <= 0) continue;
      cum += probs[v];
      if (target < cum) return v;
    }
  }
  // Rounding left the target past the last token: take the last one with mass.
  for (int v = vocab - 1; v > 0; --v) {
    if (probs[v] > 0) return v;
  }
  return 0;
}

}  // namespace linspec::scheduler
