// Speculation never makes a loaded server slower than no speculation (DESIGN.md §4), checked
// in simulated time: the scheduler runs over fake engines whose Forwards advance a fake clock
// by a + b * tokens (spec_sim.h). Assertions are on simulated time and counters only.
#include <cstdio>

#include "gtest/gtest.h"
#include "scheduler/draft_length.h"
#include "tests/unit/scheduler/spec_sim.h"
#include "tests/unit/scheduler/test_util.h"

namespace linspec::testing {
namespace {

using scheduler::DrafterKind;

void Print(const char* what, const SpecSimResult& r) {
  std::printf(
      "%-9s sim %.4f s  %.0f tok/s  target fwd %lld  draft fwd %lld (tokens %lld)  drafted %lld "
      "accepted %lld  decode steps %lld  draft steps %lld  explore steps %lld\n",
      what, r.sim_seconds, r.tokens_per_second(), static_cast<long long>(r.target_forwards),
      static_cast<long long>(r.draft_forwards), static_cast<long long>(r.draft_tokens_fed),
      static_cast<long long>(r.draft_tokens), static_cast<long long>(r.accepted_tokens),
      static_cast<long long>(r.stats.decode_steps), static_cast<long long>(r.stats.draft_steps),
      static_cast<long long>(r.stats.explore_steps));
}

struct Pair {
  SpecSimResult plain, spec;
};

Pair RunBoth(const SpecSimScenario& s) {
  Pair p;
  absl::StatusOr<SpecSimResult> plain = RunSpecSim(s, DrafterKind::kNone);
  absl::StatusOr<SpecSimResult> spec = RunSpecSim(s, DrafterKind::kDraftModel);
  EXPECT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!plain.ok() || !spec.ok()) return p;
  p.plain = *plain;
  p.spec = *spec;
  Print("no draft", p.plain);
  Print("draft", p.spec);
  std::printf("ratio (draft / no draft simulated time) %.4f\n",
              p.spec.sim_seconds / p.plain.sim_seconds);
  // Greedy speculation emits exactly the plain tokens.
  EXPECT_EQ(p.spec.outputs, p.plain.outputs);
  const int64_t expected = static_cast<int64_t>(s.num_requests) * s.max_tokens;
  EXPECT_EQ(p.plain.generated_tokens, expected);
  EXPECT_EQ(p.spec.generated_tokens, expected);
  EXPECT_EQ(p.plain.draft_forwards, 0);
  return p;
}

// GPU-like: both forwards dominated by a fixed cost, the draft as costly as the target, and
// a draft that rarely agrees. Speculation cannot pay, so the draft model must stay idle.
TEST(SpecPolicySim, CostlyDraftLowAcceptanceCostsAtMostThreePercent) {
  for (int concurrency : {16, 64}) {
    SpecSimScenario s;
    s.name = "costly_draft_low_acceptance_c" + std::to_string(concurrency);
    s.target = {1e-3, 1e-5};
    s.draft = {1e-3, 1e-5};
    s.draft_agreement = 0.2f;
    s.concurrency = concurrency;
    s.num_requests = 4 * concurrency;
    s.seed = TestSeed(s.name.c_str());
    Pair p = RunBoth(s);
    ASSERT_GT(p.plain.sim_seconds, 0);
    EXPECT_LE(p.spec.sim_seconds, 1.03 * p.plain.sim_seconds);
    // Draft forwards come only from explorations: each drafts min(2, k) tokens, one forward
    // per token (the first also carries the catch-up), at most MaxExplorations of them.
    const int64_t max_explore =
        scheduler::DraftLengthPolicy::MaxExplorations(p.spec.stats.decode_steps);
    EXPECT_LE(p.spec.stats.explore_steps, max_explore);
    EXPECT_LE(p.spec.draft_forwards, 2 * max_explore);
    EXPECT_EQ(p.spec.stats.draft_steps, p.spec.stats.explore_steps);
    // Not even an optimistic acceptance would pay here: one exploration, then none until
    // the cost-model refresh.
    if (p.spec.stats.decode_steps < scheduler::kExploreMaxIntervalSteps) {
      EXPECT_EQ(p.spec.stats.explore_steps, 1);
    }
  }
}

// The draft costs a tenth of the target and agrees 95% of the time: speculation is used and
// is faster.
TEST(SpecPolicySim, CheapDraftHighAcceptanceSpeculatesAndIsFaster) {
  SpecSimScenario s;
  s.name = "cheap_draft_high_acceptance";
  s.target = {1e-3, 1e-5};
  s.draft = {1e-4, 1e-6};
  s.draft_agreement = 0.95f;
  s.seed = TestSeed(s.name.c_str());
  Pair p = RunBoth(s);
  EXPECT_GT(p.spec.draft_tokens, p.spec.generated_tokens / 2);
  EXPECT_GT(p.spec.accepted_tokens, p.spec.draft_tokens / 2);
  EXPECT_GT(p.spec.stats.draft_steps, p.spec.stats.decode_steps / 2);
  EXPECT_LT(p.spec.sim_seconds, 0.75 * p.plain.sim_seconds);
}

// Half-cost draft with poor acceptance: exploring looks promising to the optimistic bound,
// so the policy keeps exploring, but with exponential back-off, and stays within 3%.
TEST(SpecPolicySim, PromisingButLosingExplorationBacksOff) {
  SpecSimScenario s;
  s.name = "half_cost_draft_low_acceptance";
  s.target = {1e-3, 1e-5};
  s.draft = {5e-4, 5e-6};
  s.draft_agreement = 0.1f;
  s.seed = TestSeed(s.name.c_str());
  Pair p = RunBoth(s);
  EXPECT_LE(p.spec.sim_seconds, 1.03 * p.plain.sim_seconds);
  EXPECT_LE(p.spec.stats.explore_steps,
            scheduler::DraftLengthPolicy::MaxExplorations(p.spec.stats.decode_steps));
}

}  // namespace
}  // namespace linspec::testing
