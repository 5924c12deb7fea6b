// Request life cycle: cancellation at random points, bounded queue, parameter validation,
// deadlines, drain, and engine failures. Every test ends with every slot free again.
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "tests/unit/scheduler/harness.h"

namespace linspec::testing {
namespace {

using scheduler::FinishReason;

// Blocks the engine loop inside Forward until opened, so tests can fill the queue.
class Gate {
 public:
  void Hook() {
    std::unique_lock<std::mutex> lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_ > 0; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
};

scheduler::GenerateRequest Greedy(std::vector<engine::TokenId> prompt, int max_tokens,
                                  std::shared_ptr<CollectSink> sink) {
  scheduler::GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  r.sampling.ignore_eos = true;
  r.sink = std::move(sink);
  return r;
}

TEST(Lifecycle, CancellationAtRandomPointsFreesEverySlot) {
  std::mt19937_64 rng(TestSeed("cancel"));
  for (int trial = 0; trial < 4; ++trial) {
    const DraftMode mode = static_cast<DraftMode>(rng() % 4);
    Harness h;
    h.target_options.num_slots = 1 + rng() % 4;
    h.draft_options = h.target_options;
    h.draft_options.noise = 0.5f;
    h.draft_options.salt = 3;
    scheduler::SchedulerOptions o;
    o.num_draft_tokens = mode == DraftMode::kNone ? 0 : 1 + rng() % 8;
    o.prefill_token_budget = 8;
    o.max_queue = 100;
    h.Start(o, mode, true, rng());
    const int n = 30;
    std::vector<scheduler::GenerateRequest> reqs;
    std::vector<std::shared_ptr<CollectSink>> sinks;
    for (int i = 0; i < n; ++i) {
      sinks.push_back(std::make_shared<CollectSink>());
      reqs.push_back(Greedy(RandomPrompt(rng, 16, 1, 40), 1 + rng() % 120, sinks.back()));
    }
    std::vector<std::atomic<uint64_t>> ids(n);
    std::vector<int> sleeps(2 * n);
    for (int& s : sleeps) s = rng() % 800;
    std::vector<int> cancel_order(n);
    for (int i = 0; i < n; ++i) cancel_order[i] = i;
    std::shuffle(cancel_order.begin(), cancel_order.end(), rng);
    std::vector<bool> cancelled(n, false);
    std::thread submitter([&] {
      for (int i = 0; i < n; ++i) {
        std::this_thread::sleep_for(std::chrono::microseconds(sleeps[i]));
        auto id = h.sched->Submit(reqs[i]);
        ASSERT_TRUE(id.ok());
        ids[i] = *id;
      }
    });
    std::thread canceller([&] {
      for (int j = 0; j < n / 2; ++j) {
        std::this_thread::sleep_for(std::chrono::microseconds(sleeps[n + j]));
        const int i = cancel_order[j];
        if (ids[i] == 0) continue;  // not submitted yet
        cancelled[i] = true;
        h.sched->Cancel(ids[i]);
        h.sched->Cancel(1'000'000 + j);  // unknown ids are ignored
      }
    });
    submitter.join();
    canceller.join();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(sinks[i]->Wait());
      Reference ref =
          GreedyReference(*h.target, reqs[i].prompt, reqs[i].sampling.max_tokens, true, {0});
      std::vector<engine::TokenId> got = sinks[i]->tokens();
      const FinishReason reason = sinks[i]->result().finish_reason;
      if (reason == FinishReason::kCancelled) {
        EXPECT_TRUE(cancelled[i]);
        ASSERT_LE(got.size(), ref.tokens.size());
        EXPECT_TRUE(std::equal(got.begin(), got.end(), ref.tokens.begin())) << i;
        EXPECT_TRUE(absl::IsCancelled(sinks[i]->result().status));
      } else {
        EXPECT_EQ(reason, FinishReason::kLength);
        EXPECT_EQ(got, ref.tokens) << i;
      }
      EXPECT_EQ(sinks[i]->finishes(), 1);
      EXPECT_EQ(sinks[i]->deltas_after_finish(), 0);
    }
    h.DrainAndCheckSlots();
  }
}

TEST(Lifecycle, QueueFullAndInvalidRequestsFailFastWithoutDisturbingOthers) {
  Gate gate;
  Harness h;
  h.target_options.num_slots = 1;
  h.target_options.before_forward = [&] { gate.Hook(); };
  scheduler::SchedulerOptions o;
  o.max_queue = 2;
  o.max_prompt_tokens = 50;
  o.max_tokens_limit = 100;
  o.max_stop_strings = 2;
  o.max_stop_string_bytes = 4;
  h.Start(o, DraftMode::kNone);
  std::vector<std::shared_ptr<CollectSink>> ok_sinks;
  std::vector<scheduler::GenerateRequest> ok_reqs;
  for (int i = 0; i < 3; ++i) {
    ok_sinks.push_back(std::make_shared<CollectSink>());
    ok_reqs.push_back(Greedy({2, 3, static_cast<engine::TokenId>(4 + i)}, 20, ok_sinks.back()));
  }
  ASSERT_TRUE(h.sched->Submit(ok_reqs[0]).ok());
  gate.WaitEntered();  // request 0 holds the only slot; the loop is inside Forward
  ASSERT_TRUE(h.sched->Submit(ok_reqs[1]).ok());
  ASSERT_TRUE(h.sched->Submit(ok_reqs[2]).ok());
  EXPECT_EQ(h.sched->Stats().waiting, 2);

  auto unused = std::make_shared<CollectSink>();
  auto full = h.sched->Submit(Greedy({2, 3}, 5, unused));
  EXPECT_TRUE(absl::IsResourceExhausted(full.status())) << full.status();

  std::vector<std::pair<std::string, scheduler::GenerateRequest>> bad;
  auto add = [&](std::string what, auto mutate) {
    scheduler::GenerateRequest r = Greedy({2, 3}, 5, unused);
    mutate(r);
    bad.emplace_back(std::move(what), std::move(r));
  };
  add("empty prompt", [](auto& r) { r.prompt.clear(); });
  add("prompt too long", [](auto& r) { r.prompt.assign(51, 2); });
  add("prompt token out of vocab", [](auto& r) { r.prompt.push_back(16); });
  add("negative prompt token", [](auto& r) { r.prompt.push_back(-1); });
  add("max_tokens 0", [](auto& r) { r.sampling.max_tokens = 0; });
  add("negative max_tokens", [](auto& r) { r.sampling.max_tokens = -3; });
  add("huge max_tokens", [](auto& r) { r.sampling.max_tokens = 1 << 30; });
  add("top_p 0", [](auto& r) { r.sampling.top_p = 0; });
  add("top_p > 1", [](auto& r) { r.sampling.top_p = 1.5f; });
  add("top_p NaN", [](auto& r) { r.sampling.top_p = std::nanf(""); });
  add("temperature < 0", [](auto& r) { r.sampling.temperature = -0.1f; });
  add("temperature inf",
      [](auto& r) { r.sampling.temperature = std::numeric_limits<float>::infinity(); });
  add("top_k < 0", [](auto& r) { r.sampling.top_k = -1; });
  add("too many stop strings", [](auto& r) { r.sampling.stop = {"a", "b", "c"}; });
  add("stop string too long", [](auto& r) { r.sampling.stop = {"abcde"}; });
  add("empty stop string", [](auto& r) { r.sampling.stop = {""}; });
  add("stop token out of vocab", [](auto& r) { r.sampling.stop_token_ids = {99}; });
  add("no sink", [](auto& r) { r.sink = nullptr; });
  for (auto& [what, r] : bad) {
    auto s = h.sched->Submit(r);
    EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << what << ": " << s.status();
    EXPECT_FALSE(s.status().message().empty()) << what;
  }
  EXPECT_EQ(unused->finishes(), 0);
  EXPECT_TRUE(unused->tokens().empty());
  gate.Open();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(ok_sinks[i]->Wait());
    Reference ref = GreedyReference(*h.target, ok_reqs[i].prompt, 20, true, {0});
    EXPECT_EQ(ok_sinks[i]->tokens(), ref.tokens);
    EXPECT_EQ(ok_sinks[i]->result().finish_reason, FinishReason::kLength);
  }
  h.DrainAndCheckSlots();
  EXPECT_EQ(unused->finishes(), 0);
}

TEST(Lifecycle, DeadlinesFinishRequests) {
  Harness h;
  h.target_options.num_slots = 2;
  h.Start(scheduler::SchedulerOptions{}, DraftMode::kNone);
  auto past = std::make_shared<CollectSink>();
  auto r = Greedy({2, 3}, 50, past);
  r.deadline = Clock::now() - std::chrono::seconds(1);
  ASSERT_TRUE(h.sched->Submit(r).ok());
  ASSERT_TRUE(past->Wait());
  EXPECT_EQ(past->result().finish_reason, FinishReason::kDeadline);
  EXPECT_TRUE(absl::IsDeadlineExceeded(past->result().status));
  h.DrainAndCheckSlots();
}

TEST(Lifecycle, RunningRequestStopsAtItsDeadline) {
  Harness h;
  scheduler::SchedulerOptions o;
  o.max_tokens_limit = 1000000;
  h.Start(o, DraftMode::kNone);
  auto sink = std::make_shared<CollectSink>();
  auto r = Greedy({2, 3}, 1000000, sink);
  r.deadline = Clock::now() + std::chrono::milliseconds(20);
  ASSERT_TRUE(h.sched->Submit(r).ok());
  ASSERT_TRUE(sink->Wait());
  EXPECT_EQ(sink->result().finish_reason, FinishReason::kDeadline);
  const auto got = sink->tokens();
  const auto ref = GreedyReference(*h.target, {2, 3}, static_cast<int>(got.size()), true, {0});
  EXPECT_EQ(got, ref.tokens);
  h.DrainAndCheckSlots();
}

TEST(Lifecycle, HigherPriorityIsAdmittedFirst) {
  Gate gate;
  Harness h;
  h.target_options.num_slots = 1;
  h.target_options.before_forward = [&] { gate.Hook(); };
  h.Start(scheduler::SchedulerOptions{}, DraftMode::kNone);
  std::mutex mu;
  std::vector<int> order;
  class OrderSink : public CollectSink {
   public:
    OrderSink(int tag, std::mutex* mu, std::vector<int>* order)
        : tag_(tag), mu_(mu), order_(order) {}
    void OnFinish(const scheduler::FinalResult& r) override {
      {
        std::lock_guard<std::mutex> lock(*mu_);
        order_->push_back(tag_);
      }
      CollectSink::OnFinish(r);
    }

   private:
    int tag_;
    std::mutex* mu_;
    std::vector<int>* order_;
  };
  std::vector<std::shared_ptr<OrderSink>> sinks;
  for (int tag = 0; tag < 4; ++tag) sinks.push_back(std::make_shared<OrderSink>(tag, &mu, &order));
  ASSERT_TRUE(h.sched->Submit(Greedy({2, 3}, 3, sinks[0])).ok());
  gate.WaitEntered();  // request 0 runs; the others queue
  for (int tag = 1; tag < 4; ++tag) {
    auto r = Greedy({2, 3}, 3, sinks[tag]);
    r.priority = tag == 2 ? 10 : (tag == 3 ? 5 : 0);
    ASSERT_TRUE(h.sched->Submit(r).ok());
  }
  gate.Open();
  for (auto& s : sinks) ASSERT_TRUE(s->Wait());
  EXPECT_EQ(order, (std::vector<int>{0, 2, 3, 1}));
  h.DrainAndCheckSlots();
}

TEST(Lifecycle, DrainCancelsWhatRemainsAndRejectsNewRequests) {
  Harness h;
  h.target_options.num_slots = 2;
  scheduler::SchedulerOptions o;
  o.max_tokens_limit = 100000;
  h.Start(o, DraftMode::kNone);
  std::vector<std::shared_ptr<CollectSink>> sinks;
  for (int i = 0; i < 6; ++i) {
    sinks.push_back(std::make_shared<CollectSink>());
    ASSERT_TRUE(h.sched->Submit(Greedy({2, 3}, 100000, sinks.back())).ok());
  }
  h.sched->Drain(0.02);
  for (auto& s : sinks) {
    EXPECT_TRUE(s->finished());
    EXPECT_EQ(s->result().finish_reason, FinishReason::kCancelled);
    EXPECT_EQ(s->finishes(), 1);
  }
  auto late = h.sched->Submit(Greedy({2, 3}, 5, std::make_shared<CollectSink>()));
  EXPECT_TRUE(absl::IsUnavailable(late.status())) << late.status();
  h.DrainAndCheckSlots();
}

// Lets the held Forwards run when the submitting block ends (also on a failed ASSERT).
struct ReleaseOnExit {
  std::promise<void>& go;
  ~ReleaseOnExit() { go.set_value(); }
};

TEST(Lifecycle, StickyEngineFailureFailsRequestsAndMarksUnhealthy) {
  Harness h;
  h.target_options.num_slots = 4;
  h.target_options.fail_on_forward = 6;
  // No Forward runs until every request is queued (else a fast loop fails before the last
  // Submit and the engine is already unhealthy).
  std::promise<void> go;
  h.target_options.before_forward = [queued = go.get_future().share()] { queued.wait(); };
  h.Start(scheduler::SchedulerOptions{}, DraftMode::kNone);
  std::vector<std::shared_ptr<CollectSink>> sinks;
  {
    ReleaseOnExit release{go};
    for (int i = 0; i < 8; ++i) {
      sinks.push_back(std::make_shared<CollectSink>());
      ASSERT_TRUE(h.sched->Submit(Greedy({2, 3}, 50, sinks.back())).ok());
    }
  }
  for (auto& s : sinks) {
    ASSERT_TRUE(s->Wait());
    EXPECT_EQ(s->result().finish_reason, FinishReason::kError);
    EXPECT_FALSE(s->result().status.ok());
  }
  EXPECT_FALSE(h.sched->Stats().healthy);
  auto late = h.sched->Submit(Greedy({2, 3}, 5, std::make_shared<CollectSink>()));
  EXPECT_TRUE(absl::IsUnavailable(late.status())) << late.status();
  h.DrainAndCheckSlots();
}

TEST(Lifecycle, TransientEngineErrorFailsOnlyThatStep) {
  Harness h;
  h.target_options.num_slots = 2;
  h.target_options.fail_on_forward = 3;
  h.target_options.sticky_failure = false;
  // Both requests are queued before the first Forward, so they share the failing step.
  std::promise<void> go;
  h.target_options.before_forward = [queued = go.get_future().share()] { queued.wait(); };
  h.Start(scheduler::SchedulerOptions{}, DraftMode::kNone);
  std::vector<std::shared_ptr<CollectSink>> first;
  {
    ReleaseOnExit release{go};
    for (int i = 0; i < 2; ++i) {
      first.push_back(std::make_shared<CollectSink>());
      ASSERT_TRUE(h.sched->Submit(Greedy({2, 3}, 30, first.back())).ok());
    }
  }
  for (auto& s : first) {
    ASSERT_TRUE(s->Wait());
    EXPECT_EQ(s->result().finish_reason, FinishReason::kError);
  }
  EXPECT_TRUE(h.sched->Stats().healthy);
  auto later = std::make_shared<CollectSink>();
  ASSERT_TRUE(h.sched->Submit(Greedy({2, 3}, 30, later)).ok());
  ASSERT_TRUE(later->Wait());
  EXPECT_EQ(later->result().finish_reason, FinishReason::kLength);
  EXPECT_EQ(later->tokens(), GreedyReference(*h.target, {2, 3}, 30, true, {0}).tokens);
  h.DrainAndCheckSlots();
}

}  // namespace
}  // namespace linspec::testing
