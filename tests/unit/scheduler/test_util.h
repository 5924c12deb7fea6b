// Helpers shared by the scheduler tests: a collecting sink, printed seeds, a random-token
// drafter, and a plain greedy reference decoder over the fake engine.
#ifndef LINSPEC_TESTS_UNIT_SCHEDULER_TEST_UTIL_H_
#define LINSPEC_TESTS_UNIT_SCHEDULER_TEST_UTIL_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "scheduler/drafter.h"
#include "scheduler/request.h"
#include "tests/unit/scheduler/fake_engine.h"

namespace linspec::testing {

// LINSPEC_SEED overrides; otherwise random. Always printed so failures can be replayed.
inline uint64_t TestSeed(const char* name) {
  uint64_t seed;
  if (const char* env = std::getenv("LINSPEC_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  }
  std::printf("[%s] seed=%llu (LINSPEC_SEED=%llu to replay)\n", name,
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  return seed;
}

class CollectSink : public scheduler::RequestSink {
 public:
  void OnDelta(const scheduler::TokenDelta& d) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++deltas_;
    if (finished_) ++after_finish_;
    tokens_.insert(tokens_.end(), d.token_ids.begin(), d.token_ids.end());
    text_ += d.text;
    pieces_.push_back(d.text);
  }
  void OnFinish(const scheduler::FinalResult& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++finishes_;
    finished_ = true;
    result_ = r;
    cv_.notify_all();
  }
  bool Wait(double seconds = 20) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return finished_; });
  }
  std::vector<engine::TokenId> tokens() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tokens_;
  }
  std::string text() const {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }
  std::vector<std::string> pieces() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pieces_;
  }
  scheduler::FinalResult result() const {
    std::lock_guard<std::mutex> lock(mu_);
    return result_;
  }
  bool finished() const {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  int finishes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return finishes_;
  }
  int deltas_after_finish() const {
    std::lock_guard<std::mutex> lock(mu_);
    return after_finish_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<engine::TokenId> tokens_;
  std::string text_;
  std::vector<std::string> pieces_;
  scheduler::FinalResult result_;
  bool finished_ = false;
  int finishes_ = 0;
  int deltas_ = 0;
  int after_finish_ = 0;
};

// Proposes k uniformly random tokens (q is one-hot: each proposal is deterministic given its
// own draw, which rejection sampling treats exactly). Draws depend only on (seed, request
// seed, output index), so runs are reproducible whatever the batch composition.
class RandomDrafter : public scheduler::Drafter {
 public:
  RandomDrafter(int vocab, uint64_t seed) : vocab_(vocab), seed_(seed) {}
  const char* name() const override { return "random"; }
  absl::Status Propose(absl::Span<scheduler::DraftTask* const> tasks) override {
    std::uniform_int_distribution<int> d(0, vocab_ - 1);
    for (scheduler::DraftTask* t : tasks) {
      t->tokens.clear();
      t->probs.clear();
      std::mt19937_64 rng(seed_ ^ (t->seed * 0x9E3779B97F4A7C15ull) ^ (t->first_index << 20) ^
                          t->context.size());
      for (int i = 0; i < t->k; ++i) t->tokens.push_back(d(rng));
    }
    return absl::OkStatus();
  }

 private:
  int vocab_;
  uint64_t seed_;
};

struct Reference {
  std::vector<engine::TokenId> tokens;
  scheduler::FinishReason reason = scheduler::FinishReason::kLength;
};

// Plain sequential greedy decoding with the fake model: what a non-speculative server emits.
inline Reference GreedyReference(const FakeEngine& model,
                                 const std::vector<engine::TokenId>& prompt, int max_tokens,
                                 bool ignore_eos, const std::vector<int>& eos_ids) {
  Reference r;
  std::vector<engine::TokenId> prefix = prompt;
  while (static_cast<int>(r.tokens.size()) < max_tokens) {
    std::vector<float> logits = model.LogitsFor(prefix);
    engine::TokenId t = 0;
    for (size_t v = 1; v < logits.size(); ++v) {
      if (logits[v] > logits[t]) t = static_cast<engine::TokenId>(v);
    }
    r.tokens.push_back(t);
    prefix.push_back(t);
    bool eos = false;
    for (int e : eos_ids) eos = eos || e == t;
    if (eos && !ignore_eos) {
      r.reason = scheduler::FinishReason::kStop;
      return r;
    }
  }
  r.reason = scheduler::FinishReason::kLength;
  return r;
}

}  // namespace linspec::testing

#endif  // LINSPEC_TESTS_UNIT_SCHEDULER_TEST_UTIL_H_
