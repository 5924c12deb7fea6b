// Test doubles for the server layer: a byte tokenizer and a scheduler that "generates"
// deterministic tokens on its own thread, with cancellation, a bounded queue and Drain.
#ifndef LINSPEC_TESTS_UNIT_SERVER_FAKES_H_
#define LINSPEC_TESTS_UNIT_SERVER_FAKES_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "scheduler/metrics_observer.h"
#include "scheduler/scheduler.h"

namespace linspec::server::testing {

// ids 0..255 are bytes; 256 = BOS, 257 = EOS.
class ByteTokenizer : public engine::Tokenizer {
 public:
  absl::StatusOr<std::vector<engine::TokenId>> Encode(
      std::string_view text, const engine::EncodeOptions& o) const override {
    std::vector<engine::TokenId> ids;
    if (o.add_special_tokens) ids.push_back(256);
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  absl::StatusOr<std::string> Decode(absl::Span<const engine::TokenId> ids,
                                     bool skip_special) const override {
    std::string s;
    for (auto id : ids) {
      if (id < 0 || id >= 258) return absl::InvalidArgumentError("token id out of range");
      if (id < 256)
        s.push_back(static_cast<char>(id));
      else if (!skip_special)
        s += id == 256 ? "<s>" : "</s>";
    }
    return s;
  }
  int vocab_size() const override { return 258; }
  std::string IdToToken(engine::TokenId id) const override {
    return id < 256 ? std::string(1, static_cast<char>(id)) : (id == 256 ? "<s>" : "</s>");
  }
  std::optional<engine::TokenId> TokenToId(std::string_view t) const override {
    if (t.size() == 1) return static_cast<unsigned char>(t[0]);
    return std::nullopt;
  }
  bool IsSpecial(engine::TokenId id) const override { return id >= 256; }
  std::optional<engine::TokenId> bos_id() const override { return 256; }
  std::optional<engine::TokenId> eos_id() const override { return 257; }
};

// Emits one token per step for every running request: token i is 'a' + (seed + prompt
// length + i) % 26. step_ms between steps. All requests run at once (no slot limit) unless
// max_running > 0; the rest wait.
class FakeScheduler : public scheduler::Scheduler {
 public:
  FakeScheduler(scheduler::MetricsObserver* observer, int max_queue, int step_ms, int num_slots = 4)
      : observer_(observer), max_queue_(max_queue), step_ms_(step_ms), num_slots_(num_slots) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeScheduler() override { Stop(); }

  absl::StatusOr<uint64_t> Submit(scheduler::GenerateRequest r) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) return absl::UnavailableError("draining");
    if (r.prompt.empty()) return absl::InvalidArgumentError("empty prompt");
    if (static_cast<int>(waiting_.size()) >= max_queue_) {
      return absl::ResourceExhaustedError("queue full");
    }
    const uint64_t id = next_id_++;
    auto st = std::make_shared<Req>();
    st->id = id;
    st->req = std::move(r);
    st->start = Clock::now();
    waiting_.push_back(st);
    submitted_.fetch_add(1);
    cv_.notify_all();
    return id;
  }
  void Cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ids_.push_back(id);
    cv_.notify_all();
  }
  scheduler::SchedulerStats Stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    scheduler::SchedulerStats s;
    s.running = static_cast<int>(running_.size());
    s.waiting = static_cast<int>(waiting_.size());
    s.slots_total = num_slots_;
    s.slots_used = s.running;
    return s;
  }
  void Drain(double timeout_seconds) override {
    std::unique_lock<std::mutex> lock(mu_);
    draining_ = true;
    cv_.wait_for(lock, std::chrono::duration<double>(timeout_seconds),
                 [&] { return running_.empty() && waiting_.empty(); });
    for (auto& r : running_) cancelled_ids_.push_back(r->id);
    for (auto& r : waiting_) cancelled_ids_.push_back(r->id);
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(5),
                 [&] { return running_.empty() && waiting_.empty(); });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      stop_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }
  int cancelled_count() const { return cancelled_.load(); }
  int submitted_count() const { return submitted_.load(); }
  // Requests seen by Submit, in order (copies without sinks).
  std::vector<scheduler::GenerateRequest> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  struct Req {
    uint64_t id = 0;
    scheduler::GenerateRequest req;
    int emitted = 0;
    TimePoint start;
  };

  void Loop();
  void FinishReq(const std::shared_ptr<Req>& r, scheduler::FinishReason reason);

  scheduler::MetricsObserver* observer_;
  int max_queue_;
  int step_ms_;
  int num_slots_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Req>> waiting_;
  std::vector<std::shared_ptr<Req>> running_;
  std::vector<uint64_t> cancelled_ids_;
  std::vector<scheduler::GenerateRequest> seen_;
  uint64_t next_id_ = 1;
  bool draining_ = false;
  bool stop_ = false;
  std::atomic<int> cancelled_{0};
  std::atomic<int> submitted_{0};
  std::thread thread_;
};

inline void FakeScheduler::FinishReq(const std::shared_ptr<Req>& r,
                                     scheduler::FinishReason reason) {
  scheduler::FinalResult f;
  f.finish_reason = reason;
  if (reason == scheduler::FinishReason::kCancelled) f.status = absl::CancelledError("cancelled");
  f.usage.prompt_tokens = static_cast<int>(r->req.prompt.size());
  f.usage.completion_tokens = r->emitted;
  f.e2e_seconds = SecondsBetween(r->start, Clock::now());
  if (observer_) observer_->OnRequestFinished(f, f.usage.prompt_tokens);
  r->req.sink->OnFinish(f);
  r->req.sink.reset();
}

inline void FakeScheduler::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (running_.empty() && waiting_.empty() && cancelled_ids_.empty()) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      continue;
    }
    // Cancellations take effect at a step boundary, as in the real scheduler.
    for (uint64_t id : cancelled_ids_) {
      for (auto* list : {&running_}) {
        for (size_t i = 0; i < list->size(); ++i) {
          if ((*list)[i]->id == id) {
            FinishReq((*list)[i], scheduler::FinishReason::kCancelled);
            cancelled_.fetch_add(1);
            list->erase(list->begin() + i);
            break;
          }
        }
      }
      for (size_t i = 0; i < waiting_.size(); ++i) {
        if (waiting_[i]->id == id) {
          FinishReq(waiting_[i], scheduler::FinishReason::kCancelled);
          cancelled_.fetch_add(1);
          waiting_.erase(waiting_.begin() + i);
          break;
        }
      }
    }
    cancelled_ids_.clear();
    while (!waiting_.empty() && static_cast<int>(running_.size()) < num_slots_) {
      auto r = waiting_.front();
      waiting_.pop_front();
      scheduler::GenerateRequest copy = r->req;
      copy.sink.reset();
      seen_.push_back(std::move(copy));
      running_.push_back(r);
    }
    for (size_t i = 0; i < running_.size();) {
      auto& r = running_[i];
      const uint64_t seed = r->req.sampling.seed.value_or(0);
      const int tok = 'a' + static_cast<int>((seed + r->req.prompt.size() + r->emitted) % 26);
      scheduler::TokenDelta d;
      d.token_ids = {tok};
      d.text = std::string(1, static_cast<char>(tok));
      ++r->emitted;
      r->req.sink->OnDelta(d);
      if (observer_) observer_->OnGenerationTokens(1);
      if (r->emitted >= r->req.sampling.max_tokens) {
        FinishReq(r, scheduler::FinishReason::kLength);
        running_.erase(running_.begin() + i);
      } else {
        ++i;
      }
    }
    if (observer_) {
      observer_->OnGauges(static_cast<int>(running_.size()), static_cast<int>(waiting_.size()),
                          num_slots_, static_cast<int>(running_.size()));
    }
    cv_.notify_all();
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms_));
    lock.lock();
  }
}

}  // namespace linspec::server::testing

#endif  // LINSPEC_TESTS_UNIT_SERVER_FAKES_H_
