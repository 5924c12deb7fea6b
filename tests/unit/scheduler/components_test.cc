// Unit tests of the scheduler's pieces: slot pool, queue order, sampler transforms and RNG,
// acceptance rules, n-gram lookup, stop checker / text streaming, adaptive draft length.
#include <cmath>
#include <map>
#include <random>

#include "gtest/gtest.h"
#include "scheduler/acceptance.h"
#include "scheduler/draft_length.h"
#include "scheduler/ngram_drafter.h"
#include "scheduler/request_queue.h"
#include "scheduler/sampler.h"
#include "scheduler/slot_pool.h"
#include "scheduler/stop_checker.h"
#include "tests/unit/scheduler/fake_tokenizer.h"
#include "tests/unit/scheduler/test_util.h"

namespace linspec::scheduler {
namespace {

using engine::TokenId;

TEST(SlotPool, AcquireReleaseReuse) {
  SlotPool pool(3);
  EXPECT_EQ(*pool.Acquire(), 0);
  EXPECT_EQ(*pool.Acquire(), 1);
  EXPECT_EQ(*pool.Acquire(), 2);
  EXPECT_FALSE(pool.Acquire().has_value());
  EXPECT_EQ(pool.used(), 3);
  pool.Release(1);
  EXPECT_EQ(pool.free(), 1);
  EXPECT_EQ(*pool.Acquire(), 1);
}

TEST(RequestQueue, PriorityThenArrivalAndCapacity) {
  RequestQueue q(3);
  for (int i = 0; i < 3; ++i) {
    QueuedRequest r;
    r.id = i + 1;
    r.request.priority = i == 1 ? 5 : 0;
    ASSERT_TRUE(q.Push(r));
  }
  QueuedRequest extra;
  extra.id = 9;
  EXPECT_FALSE(q.Push(extra));
  EXPECT_EQ(q.Pop()->id, 2u);
  EXPECT_EQ(q.Remove(3)->id, 3u);
  EXPECT_FALSE(q.Remove(3).has_value());
  EXPECT_EQ(q.Pop()->id, 1u);
  EXPECT_TRUE(q.empty());
}

TEST(Sampler, TopKTopPAndTemperature) {
  const float logits[5] = {1.0f, 3.0f, 2.0f, 0.0f, 2.0f};
  SamplingParams p;
  p.temperature = 1.0f;
  std::vector<float> probs;
  ToProbs(logits, 5, p, &probs);
  double sum = 0;
  for (float x : probs) sum += x;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(probs[1] / probs[0], std::exp(2.0), 1e-4);
  p.top_k = 2;  // ties broken by lower id: keeps 1 and 2
  ToProbs(logits, 5, p, &probs);
  EXPECT_GT(probs[1], 0);
  EXPECT_GT(probs[2], 0);
  EXPECT_EQ(probs[4], 0);
  EXPECT_NEAR(probs[1] + probs[2], 1.0, 1e-6);
  p.top_k = 0;
  p.top_p = 0.5f;  // the top token alone has ~0.5 mass
  ToProbs(logits, 5, p, &probs);
  int nonzero = 0;
  for (float x : probs) nonzero += x > 0;
  EXPECT_LE(nonzero, 2);
  EXPECT_GT(probs[1], 0);
  p.top_p = 1.0f;
  p.temperature = 0.01f;
  ToProbs(logits, 5, p, &probs);
  EXPECT_NEAR(probs[1], 1.0, 1e-6);
}

TEST(Sampler, CounterRngIsAPureFunction) {
  EXPECT_EQ(UniformAt(7, 3, RandomStream::kTarget), UniformAt(7, 3, RandomStream::kTarget));
  EXPECT_NE(UniformAt(7, 3, RandomStream::kTarget), UniformAt(7, 4, RandomStream::kTarget));
  EXPECT_NE(UniformAt(7, 3, RandomStream::kTarget), UniformAt(7, 3, RandomStream::kAccept));
  EXPECT_NE(UniformAt(7, 3, RandomStream::kTarget), UniformAt(8, 3, RandomStream::kTarget));
  double mean = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = UniformAt(1, i, RandomStream::kDraft);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    mean += u / 10000;
  }
  EXPECT_NEAR(mean, 0.5, 0.02);
  const float probs[4] = {0, 0.5f, 0, 0.5f};
  EXPECT_EQ(SampleFromProbs(probs, 4, 0.0), 1);
  EXPECT_EQ(SampleFromProbs(probs, 4, 0.99), 3);
}

TEST(Acceptance, GreedyStopsAtFirstMismatch) {
  const std::vector<TokenId> drafts = {4, 5, 6};
  AcceptResult r = AcceptGreedy(drafts, std::vector<TokenId>{4, 5, 9, 1});
  EXPECT_EQ(r.num_accepted, 2);
  EXPECT_EQ(r.next, 9);
  r = AcceptGreedy(drafts, std::vector<TokenId>{4, 5, 6, 1});
  EXPECT_EQ(r.num_accepted, 3);
  EXPECT_EQ(r.next, 1);  // bonus
  r = AcceptGreedy({}, std::vector<TokenId>{2});
  EXPECT_EQ(r.num_accepted, 0);
  EXPECT_EQ(r.next, 2);
}

// One-step rejection sampling with a fixed p and q: the first output token is distributed as p.
TEST(Acceptance, RejectionSamplingFirstTokenFollowsP) {
  const int vocab = 4;
  const std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.4f, /*bonus row*/ 0.25f, 0.25f, 0.25f, 0.25f};
  const std::vector<float> q = {0.5f, 0.3f, 0.1f, 0.1f};
  std::vector<int> counts(vocab, 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    const TokenId d = SampleFromProbs(q.data(), vocab, UniformAt(i, 0, RandomStream::kDraft));
    SampledAcceptInput in;
    const std::vector<TokenId> drafts = {d};
    in.drafts = drafts;
    in.draft_probs = q;
    in.target_probs = p;
    in.vocab = vocab;
    in.seed = i;
    AcceptResult r = AcceptSampled(in);
    ++counts[r.num_accepted == 1 ? d : r.next];
  }
  double chi2 = 0;
  for (int v = 0; v < vocab; ++v) {
    const double e = p[v] * n;
    chi2 += (counts[v] - e) * (counts[v] - e) / e;
  }
  EXPECT_LT(chi2, 16.3);  // df 3, upper 0.1%
}

TEST(Ngram, FindsLatestMatchOfLongestSuffix) {
  const std::vector<TokenId> ctx = {1, 2, 3, 9, 1, 2, 3, 7, 8, 5, 2, 3};
  // Suffix "2 3" last occurred at 5..6, followed by 7 8 5.
  EXPECT_EQ(NgramLookup(ctx, 3, 3), (std::vector<TokenId>{7, 8, 5}));
  EXPECT_EQ(NgramLookup(ctx, 3, 1), (std::vector<TokenId>{7}));
  EXPECT_TRUE(NgramLookup(std::vector<TokenId>{1, 2, 3}, 3, 4).empty());
  // Proposals stop at the end of the context.
  EXPECT_EQ(NgramLookup(std::vector<TokenId>{4, 4}, 2, 5), (std::vector<TokenId>{4}));
}

TEST(StopChecker, StreamedTextNeverSplitsACharacter) {
  testing::FakeTokenizer tok(16);
  SamplingParams p;
  p.max_tokens = 100;
  StopChecker c(p, {0}, &tok, std::vector<TokenId>{2});
  EXPECT_EQ(c.Append(std::vector<TokenId>{6}).delta.text, "c");
  EXPECT_EQ(c.Append(std::vector<TokenId>{7}).delta.text, "");  // first byte of "é"
  EXPECT_EQ(c.Append(std::vector<TokenId>{8}).delta.text, "\xC3\xA9");
  EXPECT_EQ(c.Append(std::vector<TokenId>{7}).delta.text, "");
  EXPECT_EQ(c.FlushText(), "\xEF\xBF\xBD");  // an unfinished character becomes U+FFFD
}

TEST(StopChecker, StopStringAcrossTokensIsTrimmed) {
  testing::FakeTokenizer tok(16);
  SamplingParams p;
  p.max_tokens = 100;
  p.stop = {"bab"};
  StopChecker c(p, {0}, &tok, std::vector<TokenId>{2});
  // Tokens: "ab" "ba" "b" -> text "abbab": "bab" spans the last two tokens.
  auto o1 = c.Append(std::vector<TokenId>{4});
  EXPECT_FALSE(o1.finish);
  auto o2 = c.Append(std::vector<TokenId>{9, 3, 6});
  ASSERT_TRUE(o2.finish);
  EXPECT_EQ(*o2.finish, FinishReason::kStop);
  EXPECT_EQ(o1.delta.text + o2.delta.text, "ab");
  EXPECT_EQ(o2.delta.token_ids, (std::vector<TokenId>{9, 3}));  // 6 came after the stop
}

TEST(StopChecker, MaxTokensExactAndEos) {
  SamplingParams p;
  p.max_tokens = 3;
  StopChecker c(p, {0}, nullptr, std::vector<TokenId>{2});
  auto o = c.Append(std::vector<TokenId>{5, 6, 7, 8, 9});
  EXPECT_EQ(o.delta.token_ids.size(), 3u);
  EXPECT_EQ(*o.finish, FinishReason::kLength);
  StopChecker e(p, {0}, nullptr, std::vector<TokenId>{2});
  o = e.Append(std::vector<TokenId>{5, 0, 7});
  EXPECT_EQ(o.delta.token_ids, (std::vector<TokenId>{5, 0}));
  EXPECT_EQ(*o.finish, FinishReason::kStop);
  p.ignore_eos = true;
  StopChecker g(p, {0}, nullptr, std::vector<TokenId>{2});
  o = g.Append(std::vector<TokenId>{5, 0});
  EXPECT_FALSE(o.finish);
}

TEST(DraftLength, SpeculationStopsWhenItDoesNotPay) {
  // Cost proportional to tokens (compute-bound) and poor acceptance: k -> 0.
  DraftLengthPolicy policy(8, true, true);
  SpecHistory bad;
  for (int i = 0; i < 20; ++i) policy.RecordAcceptance(&bad, 4, 0);
  std::vector<SpecHistory*> seqs(8, &bad);
  for (int i = 0; i < 50; ++i) {
    policy.RecordTargetForward(8 * (1 + i % 5), 0.001 * 8 * (1 + i % 5));
    policy.RecordDraftForward(8 * (1 + i % 2), 0.0005);
  }
  // The model rules speculation out even at an optimistic acceptance: no exploration either
  // (until the refresh every kExploreMaxIntervalSteps).
  for (int step = 0; step < 200; ++step) {
    std::vector<int> ks = policy.Choose(seqs, 0, 4096);
    for (int k : ks) ASSERT_EQ(k, 0) << "step " << step;
  }
  EXPECT_EQ(policy.stats().explore_steps, 0);
}

TEST(DraftLength, SpeculatesWhenVerifyIsNearlyFreeAndAcceptanceHigh) {
  // Memory-bound: a forward costs the same whatever its token count.
  DraftLengthPolicy policy(6, true, true);
  SpecHistory good;
  for (int i = 0; i < 20; ++i) policy.RecordAcceptance(&good, 4, 4);
  std::vector<SpecHistory*> seqs(2, &good);
  for (int i = 0; i < 50; ++i) {
    policy.RecordTargetForward(2 * (1 + i % 7), 0.010);
    policy.RecordDraftForward(2 * (1 + i % 3), 0.0002);
  }
  std::vector<int> ks = policy.Choose(seqs, 0, 4096);
  for (int k : ks) EXPECT_GE(k, 4);
}

TEST(DraftLength, ExploresFirstWhileTheCostModelIsIncomplete) {
  DraftLengthPolicy policy(6, true, true);
  SpecHistory h;
  std::vector<SpecHistory*> seqs(3, &h);
  // A quarter of the batch (at least one sequence), the least behind first.
  EXPECT_EQ(policy.Choose(seqs, 0, 4096), (std::vector<int>{2, 0, 0}));
  EXPECT_EQ(policy.stats().explore_steps, 1);
  // Not again within kExploreMinIntervalSteps, whatever the model says meanwhile.
  for (int i = 1; i < kExploreMinIntervalSteps; ++i) {
    for (int k : policy.Choose(seqs, 0, 4096)) ASSERT_EQ(k, 0);
  }
  // The next exploration picks the sequences with the least catch-up.
  std::vector<SpecHistory> hs(8);
  std::vector<SpecHistory*> eight;
  for (int i = 0; i < 8; ++i) {
    hs[i].catchup_tokens = 100 - i;
    eight.push_back(&hs[i]);
  }
  EXPECT_EQ(policy.Choose(eight, 0, 4096), (std::vector<int>{0, 0, 0, 0, 0, 0, 2, 2}));
}

TEST(DraftLength, ExplorationBacksOffWhileSpeculationKeepsLosing) {
  // A draft at half the target's cost: speculation would win at acceptance 0.9, but the
  // measured acceptance is 0. Explorations come at doubling intervals, and the steady
  // batch (one token count) does not make the target fit go stale.
  DraftLengthPolicy policy(4, true, true);
  SpecHistory bad;
  std::vector<SpecHistory*> seqs(16, &bad);
  std::vector<int64_t> explored;
  const int64_t steps = 20000;
  for (int64_t step = 1; step <= steps; ++step) {
    std::vector<int> ks = policy.Choose(seqs, 0, 4096);
    int tokens = 0, k = 0;
    for (int x : ks) {
      tokens += x + 1;
      k = std::max(k, x);
    }
    policy.RecordTargetForward(tokens, 1e-3 + 1e-5 * tokens);
    for (int j = 0; j < k; ++j) policy.RecordDraftForward(j == 0 ? 400 : 16, 5e-4 + 5e-6 * 16);
    if (k > 0) {
      explored.push_back(step);
      for (int i = 0; i < 16; ++i) policy.RecordAcceptance(&bad, k, 0);
    }
  }
  EXPECT_EQ(policy.stats().spec_steps, 0);
  EXPECT_EQ(static_cast<int64_t>(explored.size()), policy.stats().explore_steps);
  EXPECT_LE(policy.stats().explore_steps, DraftLengthPolicy::MaxExplorations(steps));
  EXPECT_GE(policy.stats().explore_steps, 3);
  for (size_t i = 2; i < explored.size(); ++i) {
    const int64_t gap = explored[i] - explored[i - 1], prev = explored[i - 1] - explored[i - 2];
    EXPECT_GE(gap, std::min<int64_t>(2 * prev, kExploreMaxIntervalSteps)) << "exploration " << i;
  }
}

TEST(DraftLength, MaxExplorationsFollowsTheDoublingSchedule) {
  EXPECT_EQ(DraftLengthPolicy::MaxExplorations(0), 0);
  EXPECT_EQ(DraftLengthPolicy::MaxExplorations(1), 1);
  EXPECT_EQ(DraftLengthPolicy::MaxExplorations(64), 1);
  EXPECT_EQ(DraftLengthPolicy::MaxExplorations(65), 2);    // 1, 65
  EXPECT_EQ(DraftLengthPolicy::MaxExplorations(193), 3);   // 1, 65, 193
  EXPECT_EQ(DraftLengthPolicy::MaxExplorations(8129), 8);  // ..., 4033, 8129
  EXPECT_EQ(DraftLengthPolicy::MaxExplorations(8129 + 4096), 9);
}

TEST(DraftLength, FixedKIgnoresCosts) {
  DraftLengthPolicy policy(5, false, true);
  SpecHistory h;
  std::vector<SpecHistory*> seqs(3, &h);
  EXPECT_EQ(policy.Choose(seqs, 0, 4096), (std::vector<int>{5, 5, 5}));
  // ... but the token budget still caps the forward: 3 * (k + 1) + 10 <= 16.
  EXPECT_LE(
      3 + 10 +
          [&] {
            int s = 0;
            for (int k : policy.Choose(seqs, 10, 16)) s += k;
            return s;
          }(),
      16);
}

}  // namespace
}  // namespace linspec::scheduler
