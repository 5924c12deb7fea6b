// What a client receives: stop strings across token boundaries (trimmed), exact max_tokens
// with multi-token steps, seeded reproducibility whatever the batch, streaming invariants
// and metrics hooks.
#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "tests/unit/scheduler/harness.h"

namespace linspec::testing {
namespace {

using scheduler::FinishReason;

bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t j = 1; j < len; ++j) {
      if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

scheduler::GenerateRequest Request(std::vector<engine::TokenId> prompt, int max_tokens,
                                   std::shared_ptr<CollectSink> sink) {
  scheduler::GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  r.sampling.ignore_eos = true;
  r.sink = std::move(sink);
  return r;
}

TEST(Output, StopStringsAcrossTokenBoundariesAreFoundAndTrimmed) {
  std::mt19937_64 rng(TestSeed("stop_strings"));
  int found_multi_token = 0;
  for (int trial = 0; trial < 12; ++trial) {
    const DraftMode mode = static_cast<DraftMode>(rng() % 4);
    Harness h;
    h.target_options.window = 3;
    h.draft_options = h.target_options;
    scheduler::SchedulerOptions o;
    o.num_draft_tokens = mode == DraftMode::kNone ? 0 : 1 + rng() % 6;
    o.adaptive_draft = false;
    h.Start(o, mode, true, rng());
    auto prompt = RandomPrompt(rng, 16, 1, 10);
    prompt.push_back(2);  // a prompt ending inside a character would glue it to the output
    auto full_sink = std::make_shared<CollectSink>();
    ASSERT_TRUE(h.sched->Submit(Request(prompt, 40, full_sink)).ok());
    ASSERT_TRUE(full_sink->Wait());
    const std::string full = full_sink->text();
    auto full_decoded = h.tokenizer->Decode(full_sink->tokens(), true);
    ASSERT_TRUE(full_decoded.ok());
    EXPECT_EQ(full, *full_decoded);  // deltas concatenate to Decode(all tokens)
    for (const std::string& piece : full_sink->pieces()) EXPECT_TRUE(ValidUtf8(piece));
    if (full.size() < 4) continue;
    // A stop string taken from the middle of the output, 2..4 bytes, on character bounds.
    size_t from = rng() % (full.size() - 2);
    size_t len = 2 + rng() % 3;
    std::string stop = full.substr(from, len);
    if (!ValidUtf8(stop) || stop.find("\xEF\xBF\xBD") != std::string::npos) continue;
    const size_t first = full.find(stop);
    std::string second_stop = "zzz";  // never produced: must not interfere
    auto sink = std::make_shared<CollectSink>();
    auto r = Request(prompt, 40, sink);
    r.sampling.stop = {second_stop, stop};
    ASSERT_TRUE(h.sched->Submit(r).ok());
    ASSERT_TRUE(sink->Wait());
    EXPECT_EQ(sink->text(), full.substr(0, first)) << "stop '" << stop << "'";
    EXPECT_EQ(sink->result().finish_reason, FinishReason::kStop);
    for (const std::string& piece : sink->pieces()) EXPECT_TRUE(ValidUtf8(piece));
    // The tokens streamed end with the token that completed the stop string.
    const auto toks = sink->tokens();
    ASSERT_FALSE(toks.empty());
    auto upto = h.tokenizer->Decode(toks, true);
    auto before = h.tokenizer->Decode(absl::MakeConstSpan(toks).subspan(0, toks.size() - 1), true);
    EXPECT_NE(upto->find(stop), std::string::npos);
    EXPECT_EQ(before->find(stop), std::string::npos);
    if (toks.size() >= 2 && before->size() > first) ++found_multi_token;
    h.DrainAndCheckSlots();
  }
  std::printf("stop strings spanning tokens: %d\n", found_multi_token);
}

TEST(Output, StopTokenIdsAndEos) {
  Harness h;
  h.Start(scheduler::SchedulerOptions{}, DraftMode::kNone);
  const std::vector<engine::TokenId> prompt = {2, 5, 3};
  Reference ref = GreedyReference(*h.target, prompt, 30, true, {0});
  // Stop at the first occurrence of the 5th token's id.
  const engine::TokenId stop_id = ref.tokens[4];
  const size_t first =
      std::find(ref.tokens.begin(), ref.tokens.end(), stop_id) - ref.tokens.begin();
  auto sink = std::make_shared<CollectSink>();
  auto r = Request(prompt, 30, sink);
  r.sampling.stop_token_ids = {stop_id};
  ASSERT_TRUE(h.sched->Submit(r).ok());
  ASSERT_TRUE(sink->Wait());
  EXPECT_EQ(sink->tokens(),
            std::vector<engine::TokenId>(ref.tokens.begin(), ref.tokens.begin() + first + 1));
  EXPECT_EQ(sink->result().finish_reason, FinishReason::kStop);
  h.DrainAndCheckSlots();
}

TEST(Output, MaxTokensIsExactWithMultiTokenSteps) {
  std::mt19937_64 rng(TestSeed("max_tokens"));
  for (DraftMode mode : {DraftMode::kModel, DraftMode::kNgram}) {
    Harness h;
    h.target_options.window = 2;         // repetitive output: n-gram lookup hits
    h.draft_options = h.target_options;  // no noise: the draft model agrees with the target
    scheduler::SchedulerOptions o;
    o.num_draft_tokens = 5;
    o.adaptive_draft = false;
    h.Start(o, mode, true, rng());
    int accepted = 0;
    for (int i = 0; i < 20; ++i) {
      const int max_tokens = 1 + rng() % 30;
      auto sink = std::make_shared<CollectSink>();
      ASSERT_TRUE(h.sched->Submit(Request(RandomPrompt(rng, 16, 1, 12), max_tokens, sink)).ok());
      ASSERT_TRUE(sink->Wait());
      EXPECT_EQ(static_cast<int>(sink->tokens().size()), max_tokens);
      EXPECT_EQ(sink->result().usage.completion_tokens, max_tokens);
      EXPECT_EQ(sink->result().finish_reason, FinishReason::kLength);
      accepted += sink->result().usage.accepted_tokens;
    }
    EXPECT_GT(accepted, 0) << DraftModeName(mode);
    h.DrainAndCheckSlots();
  }
}

// Same seed, same tokens: first alone in a large pool, then shuffled among unrelated requests
// in a small pool with a tiny prefill budget.
TEST(Output, SameSeedSameOutputRegardlessOfBatchAndArrival) {
  std::mt19937_64 rng(TestSeed("reproducible"));
  for (DraftMode mode :
       {DraftMode::kNone, DraftMode::kModel, DraftMode::kNgram, DraftMode::kRandom}) {
    const int n = 10;
    std::vector<scheduler::GenerateRequest> reqs(n);
    for (int i = 0; i < n; ++i) {
      reqs[i].prompt = RandomPrompt(rng, 16, 1, 20);
      reqs[i].sampling.temperature = 0.8f;
      reqs[i].sampling.top_p = 0.95f;
      reqs[i].sampling.top_k = i % 2 ? 8 : 0;
      reqs[i].sampling.max_tokens = 5 + rng() % 25;
      reqs[i].sampling.ignore_eos = true;
      reqs[i].sampling.seed = rng();
    }
    std::vector<std::vector<engine::TokenId>> outputs[2];
    for (int run = 0; run < 2; ++run) {
      Harness h;
      h.target_options.num_slots = run == 0 ? 8 : 3;
      h.draft_options = h.target_options;
      h.draft_options.noise = 0.8f;
      h.draft_options.salt = 11;
      scheduler::SchedulerOptions o;
      o.num_draft_tokens = mode == DraftMode::kNone ? 0 : 3;
      o.adaptive_draft = false;
      o.prefill_token_budget = run == 0 ? 512 : 5;
      o.seed = run;  // only unseeded requests depend on it
      h.Start(o, mode, true, 77);
      std::vector<int> order(n);
      for (int i = 0; i < n; ++i) order[i] = i;
      if (run == 1) std::shuffle(order.begin(), order.end(), rng);
      std::vector<std::shared_ptr<CollectSink>> sinks(n), noise;
      for (int i : order) {
        sinks[i] = std::make_shared<CollectSink>();
        auto r = reqs[i];
        r.sink = sinks[i];
        ASSERT_TRUE(h.sched->Submit(r).ok());
        if (run == 1) {
          noise.push_back(std::make_shared<CollectSink>());
          auto other = Request(RandomPrompt(rng, 16, 1, 20), 1 + rng() % 20, noise.back());
          other.sampling.temperature = 1.0f;
          ASSERT_TRUE(h.sched->Submit(other).ok());
          std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
        }
      }
      for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(sinks[i]->Wait());
        outputs[run].push_back(sinks[i]->tokens());
      }
      for (auto& s : noise) ASSERT_TRUE(s->Wait());
      h.DrainAndCheckSlots();
    }
    for (int i = 0; i < n; ++i)
      EXPECT_EQ(outputs[0][i], outputs[1][i]) << DraftModeName(mode) << " " << i;
  }
}

class CountingObserver : public scheduler::MetricsObserver {
 public:
  void OnRequestFinished(const scheduler::FinalResult& r, int prompt_tokens) override {
    ++finished;
    prompt += prompt_tokens;
  }
  void OnGenerationTokens(int n) override { generated += n; }
  void OnFirstToken(double s) override { ++first_tokens; }
  void OnQueueTime(double s) override { ++queued; }
  void OnBatch(int b) override { max_batch = std::max(max_batch, b); }
  void OnSpecDecode(int d, int a) override {
    drafted += d;
    accepted += a;
  }
  void OnGauges(int running, int waiting, int total, int used) override {
    slots_total = total;
    last_used = used;
  }
  int finished = 0, prompt = 0, generated = 0, first_tokens = 0, queued = 0, max_batch = 0;
  int drafted = 0, accepted = 0, slots_total = 0, last_used = -1;
};

TEST(Output, MetricsHooksAddUp) {
  CountingObserver obs;
  Harness h;
  h.target_options.num_slots = 4;
  h.draft_options = h.target_options;
  h.draft_options.noise = 0.5f;
  scheduler::SchedulerOptions o;
  o.num_draft_tokens = 4;
  o.adaptive_draft = false;
  h.Start(o, DraftMode::kModel, true, 1, &obs);
  std::mt19937_64 rng(3);
  std::vector<std::shared_ptr<CollectSink>> sinks;
  int prompt = 0;
  for (int i = 0; i < 10; ++i) {
    sinks.push_back(std::make_shared<CollectSink>());
    auto r = Request(RandomPrompt(rng, 16, 1, 12), 1 + rng() % 20, sinks.back());
    prompt += r.prompt.size();
    ASSERT_TRUE(h.sched->Submit(r).ok());
  }
  int generated = 0, drafted = 0, accepted = 0;
  for (auto& s : sinks) {
    ASSERT_TRUE(s->Wait());
    generated += s->result().usage.completion_tokens;
    drafted += s->result().usage.draft_tokens;
    accepted += s->result().usage.accepted_tokens;
  }
  h.DrainAndCheckSlots();
  EXPECT_EQ(obs.finished, 10);
  EXPECT_EQ(obs.prompt, prompt);
  EXPECT_EQ(obs.generated, generated);
  EXPECT_EQ(obs.first_tokens, 10);
  EXPECT_EQ(obs.queued, 10);
  EXPECT_EQ(obs.drafted, drafted);
  EXPECT_EQ(obs.accepted, accepted);
  EXPECT_GT(drafted, 0);
  EXPECT_LE(obs.max_batch, 4);
  EXPECT_EQ(obs.slots_total, 4);
  EXPECT_EQ(obs.last_used, 0);
}

}  // namespace
}  // namespace linspec::testing
