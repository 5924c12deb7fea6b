// The optimized sampler against the straightforward reference it replaced (copied below):
// same kept tokens (top-k / top-p, ties by lower id), same probabilities within float
// rounding, same draws; lazy target rows in acceptance equal precomputed ones.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/acceptance.h"
#include "scheduler/sampler.h"
#include "tests/unit/scheduler/test_util.h"

namespace linspec::scheduler {
namespace {

// Reference: scheduler/sampler.cc before the optimization (commit ee15232).
void RefToProbs(const float* logits, int vocab, const SamplingParams& params,
                std::vector<float>* probs) {
  probs->assign(vocab, 0.0f);
  const float inv_t = 1.0f / params.temperature;
  const float max_logit = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (int v = 0; v < vocab; ++v) {
    (*probs)[v] = std::exp((logits[v] - max_logit) * inv_t);
    sum += (*probs)[v];
  }
  for (int v = 0; v < vocab; ++v) (*probs)[v] = static_cast<float>((*probs)[v] / sum);
  const bool use_k = params.top_k > 0 && params.top_k < vocab;
  const bool use_p = params.top_p < 1.0f;
  if (use_k || use_p) {
    std::vector<int> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    const int keep_k = use_k ? params.top_k : vocab;
    const std::vector<float>& p = *probs;
    std::partial_sort(order.begin(), order.begin() + keep_k, order.end(),
                      [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    int keep = keep_k;
    if (use_p) {
      double total = 0, cum = 0;
      for (int i = 0; i < keep_k; ++i) total += p[order[i]];
      for (int i = 0; i < keep_k; ++i) {
        cum += p[order[i]];
        if (cum >= params.top_p * total) {
          keep = i + 1;
          break;
        }
      }
    }
    std::vector<float> kept(vocab, 0.0f);
    for (int i = 0; i < keep; ++i) kept[order[i]] = p[order[i]];
    probs->swap(kept);
  }
  double kept = 0;
  for (float x : *probs) kept += x;
  for (float& x : *probs) x = static_cast<float>(x / kept);
}

int RefSample(const float* probs, int vocab, double u) {
  double total = 0, cum = 0;
  for (int v = 0; v < vocab; ++v) total += probs[v];
  int last_nonzero = 0;
  for (int v = 0; v < vocab; ++v) {
    if (probs[v] <= 0) continue;
    last_nonzero = v;
    cum += probs[v];
    if (u * total < cum) return v;
  }
  return last_nonzero;
}

TEST(SamplerEquivalence, TiesKeepLowerIdsFirst) {
  const std::vector<float> logits(1000, 0.5f);
  SamplingParams p;
  p.top_k = 3;
  std::vector<float> probs;
  ToProbs(logits.data(), 1000, p, &probs);
  for (int v = 0; v < 1000; ++v) EXPECT_EQ(probs[v] > 0, v < 3) << v;
  p.top_k = 0;
  p.top_p = 0.0105f;  // 11 equal tokens reach it
  ToProbs(logits.data(), 1000, p, &probs);
  for (int v = 0; v < 1000; ++v) EXPECT_EQ(probs[v] > 0, v < 11) << v;
}

TEST(SamplerEquivalence, MatchesReferenceOnRandomRows) {
  std::mt19937_64 gen(testing::TestSeed("SamplerEquivalence"));
  int boundary_diffs = 0, p_cases = 0, draws_same = 0, draws = 0;
  for (int c = 0; c < 300; ++c) {
    const int vocab = std::uniform_int_distribution<int>(1, 3000)(gen);
    // Quantized logits: many exact ties, and distinct values far apart in float terms.
    std::vector<float> logits(vocab);
    const float scale = std::uniform_real_distribution<float>(0.1f, 4.0f)(gen);
    for (float& x : logits) x = std::round(std::normal_distribution<float>(0, 4)(gen)) * scale;
    SamplingParams p;
    p.temperature = std::uniform_real_distribution<float>(0.05f, 2.0f)(gen);
    const int mode = c % 4;
    if (mode == 1 || mode == 3) p.top_k = std::uniform_int_distribution<int>(1, 100)(gen);
    if (mode >= 2) p.top_p = std::uniform_real_distribution<float>(0.05f, 0.999f)(gen);
    std::vector<float> got, want;
    ToProbs(logits.data(), vocab, p, &got);
    RefToProbs(logits.data(), vocab, p, &want);
    ASSERT_EQ(got.size(), want.size());
    // Weights below the float normal range (exp underflow, p < ~1e-38) are flushed to zero
    // by the optimized sampler; such tokens can never be drawn by a 53-bit uniform anyway.
    int diff = 0;
    for (int v = 0; v < vocab; ++v) {
      if (std::max(got[v], want[v]) > 1e-30f) diff += (got[v] > 0) != (want[v] > 0);
    }
    if (mode >= 2) ++p_cases;
    if (diff > 0) {
      // Only a top-p boundary token, where the cumulative mass meets top_p within rounding.
      ASSERT_GE(mode, 2) << "case " << c;
      ASSERT_EQ(diff, 1) << "case " << c;
      ++boundary_diffs;
      continue;
    }
    double sum = 0;
    for (int v = 0; v < vocab; ++v) {
      ASSERT_NEAR(got[v], want[v], 2e-6 + 2e-5 * want[v]) << "case " << c << " token " << v;
      sum += got[v];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    for (int d = 0; d < 50; ++d) {
      const double u = UniformAt(c, d, RandomStream::kTarget);
      const int t = SampleFromProbs(got.data(), vocab, u);
      ASSERT_GT(got[t], 0);
      // Block sums round differently from one running sum only right at a CDF step.
      draws_same += t == RefSample(got.data(), vocab, u);
      ++draws;
    }
  }
  EXPECT_LE(boundary_diffs * 50, p_cases + 50) << boundary_diffs << " of " << p_cases;
  EXPECT_GE(draws_same, draws - 5) << draws_same << " of " << draws;
}

TEST(SamplerEquivalence, DrawsMatchReferenceOnSameProbs) {
  std::mt19937_64 gen(testing::TestSeed("SamplerDraws"));
  int same = 0, total = 0;
  for (int c = 0; c < 100; ++c) {
    const int vocab = std::uniform_int_distribution<int>(1, 5000)(gen);
    std::vector<float> probs(vocab);
    for (float& x : probs) {
      x = std::bernoulli_distribution(0.3)(gen) ? 0.0f
                                                : std::exponential_distribution<float>(1)(gen);
    }
    for (int d = 0; d < 100; ++d) {
      const double u = std::uniform_real_distribution<double>(0, 1)(gen);
      const int t = SampleFromProbs(probs.data(), vocab, u);
      const int r = RefSample(probs.data(), vocab, u);
      if (std::any_of(probs.begin(), probs.end(), [](float x) { return x > 0; })) {
        ASSERT_GT(probs[t], 0);
      }
      same += t == r;
      ++total;
    }
  }
  EXPECT_GE(same, total - 10) << same << " of " << total;
}

TEST(SamplerEquivalence, LazyTargetRowsEqualPrecomputedRows) {
  std::mt19937_64 gen(testing::TestSeed("LazyRows"));
  const int vocab = 50;
  for (int c = 0; c < 500; ++c) {
    const int k = std::uniform_int_distribution<int>(0, 4)(gen);
    std::vector<float> p((k + 1) * vocab), q(k * vocab);
    for (float& x : p) x = std::exponential_distribution<float>(1)(gen);
    for (float& x : q) x = std::exponential_distribution<float>(1)(gen);
    std::vector<engine::TokenId> drafts(k);
    for (auto& d : drafts) d = std::uniform_int_distribution<int>(0, vocab - 1)(gen);
    SampledAcceptInput in;
    in.drafts = drafts;
    in.draft_probs = q;
    in.target_probs = p;
    in.vocab = vocab;
    in.seed = c;
    const AcceptResult a = AcceptSampled(in);
    SampledAcceptInput lazy = in;
    lazy.target_probs = {};
    std::vector<int> asked;
    lazy.target_row = [&](int i) {
      asked.push_back(i);
      return static_cast<const float*>(p.data() + i * vocab);
    };
    const AcceptResult b = AcceptSampled(lazy);
    EXPECT_EQ(a.num_accepted, b.num_accepted);
    EXPECT_EQ(a.next, b.next);
    ASSERT_EQ(static_cast<int>(asked.size()), b.num_accepted + 1);
    for (int i = 0; i <= b.num_accepted; ++i) EXPECT_EQ(asked[i], i);
  }
}

}  // namespace
}  // namespace linspec::scheduler
