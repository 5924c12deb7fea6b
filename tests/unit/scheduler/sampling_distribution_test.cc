// Rejection sampling preserves the target distribution. On a 6-token vocabulary the exact
// distribution of the first three output tokens is enumerated from the fake model; thousands
// of requests with fixed seeds are sampled through the scheduler (plain and speculative with
// each drafter), and a chi-square test compares the observed counts with it.
#include <cmath>
#include <map>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/sampler.h"
#include "tests/unit/scheduler/harness.h"

namespace linspec::testing {
namespace {

constexpr int kVocab = 6;
constexpr int kLen = 3;
constexpr int kSamples = 2400;

struct Variant {
  const char* name;
  float temperature;
  int top_k;
  float top_p;
};

// Exact probability of every output sequence of length kLen (index: base-kVocab digits).
std::vector<double> ExactJoint(const FakeEngine& model, const std::vector<engine::TokenId>& prompt,
                               const scheduler::SamplingParams& params) {
  std::vector<double> joint(static_cast<size_t>(std::pow(kVocab, kLen)), 0.0);
  std::vector<float> probs;
  for (size_t idx = 0; idx < joint.size(); ++idx) {
    std::vector<engine::TokenId> prefix = prompt;
    double p = 1;
    size_t rest = idx;
    std::vector<int> digits(kLen);
    for (int j = kLen - 1; j >= 0; --j) {
      digits[j] = rest % kVocab;
      rest /= kVocab;
    }
    for (int j = 0; j < kLen && p > 0; ++j) {
      std::vector<float> logits = model.LogitsFor(prefix);
      scheduler::ToProbs(logits.data(), kVocab, params, &probs);
      p *= probs[digits[j]];
      prefix.push_back(digits[j]);
    }
    joint[idx] = p;
  }
  return joint;
}

// Chi-square statistic over cells with expected count >= 5 (the rest pooled into one cell)
// against the upper 0.1% point of the chi-square distribution (Wilson-Hilferty).
void ExpectChiSquareFits(const std::vector<double>& expected_p, const std::vector<int>& observed,
                         int n, const std::string& what) {
  double stat = 0, pool_e = 0;
  int pool_o = 0, cells = 0;
  for (size_t i = 0; i < expected_p.size(); ++i) {
    const double e = expected_p[i] * n;
    if (e < 5) {
      pool_e += e;
      pool_o += observed[i];
      if (e == 0) {
        EXPECT_EQ(observed[i], 0) << what << ": impossible outcome " << i;
      }
      continue;
    }
    stat += (observed[i] - e) * (observed[i] - e) / e;
    ++cells;
  }
  if (pool_e > 0) {
    stat += (pool_o - pool_e) * (pool_o - pool_e) / std::max(pool_e, 1.0);
    ++cells;
  }
  const double df = cells - 1;
  const double z = 3.09;  // upper 0.1%
  const double crit = df * std::pow(1 - 2 / (9 * df) + z * std::sqrt(2 / (9 * df)), 3);
  std::printf("%s: chi2=%.1f df=%.0f critical(0.1%%)=%.1f\n", what.c_str(), stat, df, crit);
  EXPECT_LT(stat, crit) << what;
}

// (drafter, variant, device): device = the target engine samples and accepts itself
// (engine-side sampling, as the CUDA backend does) instead of the scheduler on the host.
class SamplingDistribution : public ::testing::TestWithParam<std::tuple<DraftMode, int, bool>> {};

TEST_P(SamplingDistribution, MatchesTargetDistribution) {
  const DraftMode mode = std::get<0>(GetParam());
  static const Variant kVariants[] = {{"plain_t1", 1.0f, 0, 1.0f},
                                      {"t07_topk4_topp09", 0.7f, 4, 0.9f}};
  const Variant& v = kVariants[std::get<1>(GetParam())];
  Harness h;
  h.target_options.vocab_size = kVocab;
  h.target_options.num_slots = 16;
  h.target_options.scale = 1.5f;
  h.target_options.eos_token_ids = {};
  h.draft_options = h.target_options;
  h.target_options.device_sampling = std::get<2>(GetParam());
  h.draft_options.device_sampling = std::get<2>(GetParam());
  h.draft_options.salt = 7;
  h.draft_options.noise = 1.5f;  // q differs from p a lot
  scheduler::SchedulerOptions o;
  o.num_draft_tokens = mode == DraftMode::kNone ? 0 : 3;
  o.adaptive_draft = false;
  o.max_queue = kSamples;
  h.Start(o, mode, /*with_tokenizer=*/false, /*drafter_seed=*/5);

  const std::vector<engine::TokenId> prompt = {2, 3, 2, 3, 2};  // n-gram lookup finds "3 2"
  scheduler::SamplingParams params;
  params.temperature = v.temperature;
  params.top_k = v.top_k;
  params.top_p = v.top_p;
  // Two tokens more than are analysed, so a step drafts 3 tokens into the analysed window.
  params.max_tokens = kLen + 2;
  params.ignore_eos = true;
  std::vector<std::shared_ptr<CollectSink>> sinks;
  for (int i = 0; i < kSamples; ++i) {
    scheduler::GenerateRequest r;
    r.prompt = prompt;
    r.sampling = params;
    r.sampling.seed = 1000 + i;  // fixed: the test is deterministic
    sinks.push_back(std::make_shared<CollectSink>());
    r.sink = sinks.back();
    ASSERT_TRUE(h.sched->Submit(r).ok());
  }
  std::vector<int> joint_obs(static_cast<size_t>(std::pow(kVocab, kLen)), 0);
  int drafted = 0, accepted = 0;
  for (auto& s : sinks) {
    ASSERT_TRUE(s->Wait());
    std::vector<engine::TokenId> t = s->tokens();
    ASSERT_EQ(t.size(), static_cast<size_t>(kLen + 2));
    int idx = 0;
    for (int j = 0; j < kLen; ++j) idx = idx * kVocab + t[j];
    ++joint_obs[idx];
    drafted += s->result().usage.draft_tokens;
    accepted += s->result().usage.accepted_tokens;
  }
  if (mode != DraftMode::kNone) {
    EXPECT_GT(drafted, 0);
  }
  if (std::get<2>(GetParam())) {  // every target forward sampled there; no logits copied out
    EXPECT_GT(h.target->num_sampled_forwards(), 0);
    EXPECT_EQ(h.target->num_logit_forwards(), 0);
    EXPECT_EQ(h.draft->num_logit_forwards(), 0);
    if (mode == DraftMode::kModel) {
      EXPECT_GT(h.draft->num_sampled_forwards(), 0);
    }
  } else {
    EXPECT_EQ(h.target->num_sampled_forwards(), 0);
  }
  std::printf("%s/%s: drafted %d accepted %d\n", DraftModeName(mode), v.name, drafted, accepted);
  const std::vector<double> exact = ExactJoint(*h.target, prompt, params);
  // Per-position marginals and the joint of the first two tokens.
  for (int pos = 0; pos < kLen; ++pos) {
    std::vector<double> e(kVocab, 0);
    std::vector<int> obs(kVocab, 0);
    for (size_t idx = 0; idx < exact.size(); ++idx) {
      const int digit = (idx / static_cast<size_t>(std::pow(kVocab, kLen - 1 - pos))) % kVocab;
      e[digit] += exact[idx];
      obs[digit] += joint_obs[idx];
    }
    ExpectChiSquareFits(
        e, obs, kSamples,
        std::string(DraftModeName(mode)) + "/" + v.name + " position " + std::to_string(pos));
  }
  std::vector<double> e01(kVocab * kVocab, 0);
  std::vector<int> o01(kVocab * kVocab, 0);
  for (size_t idx = 0; idx < exact.size(); ++idx) {
    e01[idx / kVocab] += exact[idx];
    o01[idx / kVocab] += joint_obs[idx];
  }
  ExpectChiSquareFits(e01, o01, kSamples,
                      std::string(DraftModeName(mode)) + "/" + v.name + " joint(0,1)");
  h.DrainAndCheckSlots();
}

INSTANTIATE_TEST_SUITE_P(Drafters, SamplingDistribution,
                         ::testing::Combine(::testing::Values(DraftMode::kNone, DraftMode::kModel,
                                                              DraftMode::kNgram,
                                                              DraftMode::kRandom),
                                            ::testing::Values(0, 1), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(DraftModeName(std::get<0>(info.param))) + "_" +
                                  std::to_string(std::get<1>(info.param)) +
                                  (std::get<2>(info.param) ? "_device" : "_host");
                         });

}  // namespace
}  // namespace linspec::testing
