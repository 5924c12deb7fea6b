// Greedy speculative decoding emits exactly the tokens of plain greedy decoding, for every
// drafter, any k, adaptive or fixed, with many requests arriving at random times.
#include <chrono>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "tests/unit/scheduler/harness.h"

namespace linspec::testing {
namespace {

using scheduler::FinishReason;

class GreedySpeculative : public ::testing::TestWithParam<DraftMode> {};

TEST_P(GreedySpeculative, MatchesPlainGreedyDecoding) {
  const DraftMode mode = GetParam();
  std::mt19937_64 rng(TestSeed(DraftModeName(mode)));
  for (int trial = 0; trial < 3; ++trial) {
    Harness h;
    const int vocab = 16;
    h.target_options.vocab_size = vocab;
    h.target_options.num_slots = 2 + rng() % 5;
    h.target_options.window = (mode == DraftMode::kNgram || rng() % 2) ? 2 + rng() % 2 : 0;
    h.draft_options = h.target_options;
    h.draft_options.salt = rng();
    h.draft_options.noise = (rng() % 3) * 0.6f;  // 0: the draft agrees with the target
    // The target accepts on its "device" (engine-side acceptance) in half of the trials.
    h.target_options.device_sampling = rng() % 2;
    h.draft_options.device_sampling = h.target_options.device_sampling;
    scheduler::SchedulerOptions o;
    o.num_draft_tokens = mode == DraftMode::kNone ? 0 : rng() % 9;
    o.adaptive_draft = rng() % 2;
    o.prefill_token_budget = 4 + rng() % 60;
    o.ngram_max = 1 + rng() % 4;
    o.max_queue = 1000;
    h.Start(o, mode, true, rng());
    SCOPED_TRACE(::testing::Message()
                 << "trial " << trial << " k=" << o.num_draft_tokens
                 << " adaptive=" << o.adaptive_draft << " slots=" << h.target_options.num_slots
                 << " device_sampling=" << h.target_options.device_sampling);

    const int n = 24;
    std::vector<scheduler::GenerateRequest> reqs(n);
    std::vector<std::shared_ptr<CollectSink>> sinks(n);
    std::vector<int> sleeps_us(n);
    for (int i = 0; i < n; ++i) {
      sinks[i] = std::make_shared<CollectSink>();
      reqs[i].prompt = RandomPrompt(rng, vocab, 1, 30);
      reqs[i].sampling.temperature = 0;
      reqs[i].sampling.max_tokens = 1 + rng() % 40;
      reqs[i].sampling.ignore_eos = rng() % 2;
      reqs[i].priority = rng() % 3;
      reqs[i].sink = sinks[i];
      sleeps_us[i] = rng() % 1500;
    }
    std::thread submitter([&] {
      for (int i = 0; i < n; ++i) {
        std::this_thread::sleep_for(std::chrono::microseconds(sleeps_us[i]));
        auto id = h.sched->Submit(reqs[i]);
        EXPECT_TRUE(id.ok()) << id.status();
      }
    });
    submitter.join();
    int drafted = 0, accepted = 0;
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(sinks[i]->Wait());
      drafted += sinks[i]->result().usage.draft_tokens;
      accepted += sinks[i]->result().usage.accepted_tokens;
      Reference ref = GreedyReference(*h.target, reqs[i].prompt, reqs[i].sampling.max_tokens,
                                      reqs[i].sampling.ignore_eos, {0});
      EXPECT_EQ(sinks[i]->tokens(), ref.tokens) << "request " << i;
      scheduler::FinalResult r = sinks[i]->result();
      EXPECT_EQ(r.finish_reason, ref.reason) << "request " << i;
      EXPECT_EQ(r.usage.completion_tokens, static_cast<int>(ref.tokens.size()));
      EXPECT_EQ(r.usage.prompt_tokens, static_cast<int>(reqs[i].prompt.size()));
      EXPECT_LE(r.usage.accepted_tokens, r.usage.draft_tokens);
      EXPECT_EQ(sinks[i]->finishes(), 1);
    }
    std::printf("trial %d: k=%d adaptive=%d drafted=%d accepted=%d\n", trial, o.num_draft_tokens,
                o.adaptive_draft, drafted, accepted);
    if (o.num_draft_tokens > 0 && !o.adaptive_draft && mode != DraftMode::kNgram) {
      EXPECT_GT(drafted, 0);
    }
    // Greedy-only batches never ask the engine for logits.
    EXPECT_EQ(h.target->num_logit_forwards(), 0);
    h.DrainAndCheckSlots();
  }
}

INSTANTIATE_TEST_SUITE_P(Drafters, GreedySpeculative,
                         ::testing::Values(DraftMode::kNone, DraftMode::kModel, DraftMode::kNgram,
                                           DraftMode::kRandom),
                         [](const auto& info) { return std::string(DraftModeName(info.param)); });

}  // namespace
}  // namespace linspec::testing
