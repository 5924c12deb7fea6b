#include "scheduler/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace linspec::scheduler {

namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Keeps the top_k most likely tokens and then the top_p nucleus; zeroes the rest.
void Truncate(int vocab, const SamplingParams& params, std::vector<float>* probs) {
  const bool use_k = params.top_k > 0 && params.top_k < vocab;
  const bool use_p = params.top_p < 1.0f;
  if (!use_k && !use_p) return;
  std::vector<int> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  const int keep_k = use_k ? params.top_k : vocab;
  auto more_likely = [&](int a, int b) {
    return (*probs)[a] > (*probs)[b] || ((*probs)[a] == (*probs)[b] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + keep_k, order.end(), more_likely);
  int keep = keep_k;
  if (use_p) {
    double total = 0;
    for (int i = 0; i < keep_k; ++i) total += (*probs)[order[i]];
    double cum = 0;
    for (int i = 0; i < keep_k; ++i) {
      cum += (*probs)[order[i]];
      if (cum >= params.top_p * total) {
        keep = i + 1;
        break;
      }
    }
  }
  std::vector<float> kept(vocab, 0.0f);
  for (int i = 0; i < keep; ++i) kept[order[i]] = (*probs)[order[i]];
  probs->swap(kept);
}

}  // namespace

uint64_t MixSeed(uint64_t a, uint64_t b) { return SplitMix64(SplitMix64(a) ^ b); }

double UniformAt(uint64_t seed, uint64_t index, RandomStream stream) {
  uint64_t x =
      SplitMix64(seed ^ SplitMix64(index * 0xD1B54A32D192ED03ull + static_cast<uint64_t>(stream)));
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

void ToProbs(const float* logits, int vocab, const SamplingParams& params,
             std::vector<float>* probs) {
  probs->assign(vocab, 0.0f);
  const float inv_t = 1.0f / params.temperature;
  float max_logit = logits[0];
  for (int v = 1; v < vocab; ++v) max_logit = std::max(max_logit, logits[v]);
  double sum = 0;
  for (int v = 0; v < vocab; ++v) {
    float p = std::exp((logits[v] - max_logit) * inv_t);
    (*probs)[v] = p;
    sum += p;
  }
  for (int v = 0; v < vocab; ++v) (*probs)[v] = static_cast<float>((*probs)[v] / sum);
  Truncate(vocab, params, probs);
  double kept = 0;
  for (int v = 0; v < vocab; ++v) kept += (*probs)[v];
  if (kept <= 0) return;
  for (int v = 0; v < vocab; ++v) (*probs)[v] = static_cast<float>((*probs)[v] / kept);
}

engine::TokenId SampleFromProbs(const float* probs, int vocab, double u) {
  double total = 0;
  for (int v = 0; v < vocab; ++v) total += probs[v];
  const double target = u * total;
  double cum = 0;
  int last_nonzero = 0;
  for (int v = 0; v < vocab; ++v) {
    if (probs[v] <= 0) continue;
    last_nonzero = v;
    cum += probs[v];
    if (target < cum) return v;
  }
  return last_nonzero;
}

}  // namespace linspec::scheduler
