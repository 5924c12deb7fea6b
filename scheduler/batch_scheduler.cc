#include "scheduler/batch_scheduler.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "scheduler/sampler.h"
#include "spdlog/spdlog.h"

namespace linspec::scheduler {

BatchScheduler::BatchScheduler(const SchedulerOptions& options, engine::Engine* target,
                               engine::Engine* draft, const engine::Tokenizer* tokenizer,
                               MetricsObserver* observer, std::unique_ptr<Drafter> drafter,
                               int num_slots)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : SteadyStepClock()),
      target_(target),
      device_sampling_(options.device_sampling && target->samples_on_device()),
      draft_(draft),
      tokenizer_(tokenizer),
      observer_(observer != nullptr ? observer : &null_observer_),
      drafter_(std::move(drafter)),
      limits_(LimitsFromOptions(options, target->config().vocab_size, tokenizer != nullptr)),
      queue_(options.max_queue),
      pool_(num_slots),
      policy_(options.num_draft_tokens, options.adaptive_draft, drafter_->uses_engine()) {
  eos_ids_ = target->config().eos_token_ids;
  if (tokenizer != nullptr && tokenizer->eos_id() &&
      std::find(eos_ids_.begin(), eos_ids_.end(), *tokenizer->eos_id()) == eos_ids_.end()) {
    eos_ids_.push_back(*tokenizer->eos_id());
  }
  stats_.slots_total = num_slots;
  thread_ = std::thread([this] { Loop(); });
}

BatchScheduler::~BatchScheduler() { Drain(0); }

absl::StatusOr<uint64_t> BatchScheduler::Submit(GenerateRequest request) {
  if (absl::Status s = ValidateRequest(request, limits_); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_) return absl::UnavailableError("the scheduler is draining");
  if (!healthy_) return absl::UnavailableError("the engine failed; the server is unhealthy");
  QueuedRequest q;
  q.id = next_id_;
  if (request.request_id.empty()) request.request_id = absl::StrCat("req-", q.id);
  q.request = std::move(request);
  q.arrival = Clock::now();
  if (!queue_.Push(q)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the request queue is full (", queue_.capacity(), " waiting)"));
  }
  ++next_id_;
  stats_.waiting = queue_.size();
  wake_.notify_one();
  return q.id;
}

void BatchScheduler::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  cancels_.push_back(id);
  wake_.notify_one();
}

SchedulerStats BatchScheduler::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats s = stats_;
  s.waiting = queue_.size();
  s.healthy = healthy_;
  return s;
}

void BatchScheduler::Drain(double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!thread_.joinable()) return;
  draining_ = true;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(std::max(0.0, timeout_seconds)));
  idle_.wait_until(lock, deadline,
                   [this] { return queue_.empty() && stats_.running == 0 && cancels_.empty(); });
  cancel_all_ = true;
  stop_ = true;
  wake_.notify_one();
  lock.unlock();
  thread_.join();
}

void BatchScheduler::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] {
        return stop_ || !queue_.empty() || !cancels_.empty() || !running_.empty();
      });
      if (stop_ && !cancel_all_ && queue_.empty() && running_.empty()) return;
    }
    Intake();
    if (!running_.empty()) Step();
    ReapFinished();
    PublishStats();
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ && queue_.empty() && running_.empty()) return;
  }
}

void BatchScheduler::Intake() {
  std::vector<QueuedRequest> cancelled, expired, admitted;
  std::vector<uint64_t> cancel_ids;
  bool cancel_all = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_ids.swap(cancels_);
    cancel_all = cancel_all_;
    if (cancel_all) {
      cancelled = queue_.TakeAll();
    } else {
      for (uint64_t id : cancel_ids) {
        if (auto q = queue_.Remove(id)) cancelled.push_back(std::move(*q));
      }
      expired = queue_.TakeExpired(Clock::now());
      int limit = options_.max_running > 0 ? options_.max_running : pool_.total();
      int free = std::min(pool_.free(), limit - static_cast<int>(running_.size()));
      while (free-- > 0 && healthy_) {
        auto q = queue_.Pop();
        if (!q) break;
        admitted.push_back(std::move(*q));
      }
    }
  }
  for (auto& q : cancelled) {
    FinishQueued(std::move(q), FinishReason::kCancelled, absl::CancelledError("request cancelled"));
  }
  for (auto& q : expired) {
    FinishQueued(std::move(q), FinishReason::kDeadline,
                 absl::DeadlineExceededError("deadline passed while queued"));
  }
  const TimePoint now = Clock::now();
  for (auto& seq : running_) {
    if (seq->finish) continue;
    const bool cancelled_now =
        cancel_all || std::find(cancel_ids.begin(), cancel_ids.end(), seq->id) != cancel_ids.end();
    if (cancelled_now) {
      Finish(seq.get(), FinishReason::kCancelled, absl::CancelledError("request cancelled"));
    } else if (seq->request.deadline && *seq->request.deadline <= now) {
      Finish(seq.get(), FinishReason::kDeadline, absl::DeadlineExceededError("deadline passed"));
    }
  }
  ReapFinished();
  for (auto& q : admitted) Admit(std::move(q));
}

void BatchScheduler::Admit(QueuedRequest q) {
  const engine::SlotId slot = *pool_.Acquire();  // Intake admits only up to pool_.free()
  const uint64_t seed =
      q.request.sampling.seed ? *q.request.sampling.seed : MixSeed(options_.seed, q.id);
  StopChecker stop(q.request.sampling, eos_ids_, tokenizer_, q.request.prompt);
  auto seq = std::make_unique<Sequence>(q.id, std::move(q.request), slot, seed, std::move(stop));
  seq->tokens = seq->request.prompt;
  seq->timing.arrival = q.arrival;
  seq->timing.admitted = Clock::now();
  seq->usage.prompt_tokens = seq->num_prompt();
  observer_->OnQueueTime(SecondsBetween(seq->timing.arrival, seq->timing.admitted));
  running_.push_back(std::move(seq));
}

void BatchScheduler::FinishQueued(QueuedRequest q, FinishReason reason, absl::Status status) {
  FinalResult r;
  r.finish_reason = reason;
  r.status = std::move(status);
  r.usage.prompt_tokens = static_cast<int>(q.request.prompt.size());
  const TimePoint now = Clock::now();
  r.queue_seconds = SecondsBetween(q.arrival, now);
  r.e2e_seconds = r.queue_seconds;
  observer_->OnRequestFinished(r, r.usage.prompt_tokens);
  q.request.sink->OnFinish(r);
}

void BatchScheduler::ReapFinished() {
  std::vector<std::unique_ptr<Sequence>> keep;
  for (auto& seq : running_) {
    if (!seq->finish) {
      keep.push_back(std::move(seq));
      continue;
    }
    // Release never fails for a valid slot; a failing engine is reported through healthy().
    (void)target_->Release(seq->slot);
    drafter_->Release(seq->slot);
    // A draft slot the sequence never drafted in is still clean (lazy draft state): skip
    // the release and its device work.
    if (draft_ != nullptr && (draft_->position(seq->slot) > 0 || draft_->pending(seq->slot) > 0)) {
      (void)draft_->Release(seq->slot);
    }
    pool_.Release(seq->slot);
    SendFinal(seq.get());
  }
  running_ = std::move(keep);
}

void BatchScheduler::FailAll(const absl::Status& status) {
  for (auto& seq : running_) {
    if (!seq->finish) Finish(seq.get(), FinishReason::kError, status);
  }
}

void BatchScheduler::CheckHealth() {
  const bool ok = target_->healthy() && (draft_ == nullptr || draft_->healthy());
  if (ok || !healthy_) return;
  spdlog::error("scheduler: engine reported a sticky failure; failing all requests");
  healthy_ = false;
  FailAll(absl::UnavailableError("the engine failed"));
  std::vector<QueuedRequest> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued = queue_.TakeAll();
  }
  for (auto& q : queued) {
    FinishQueued(std::move(q), FinishReason::kError, absl::UnavailableError("the engine failed"));
  }
}

void BatchScheduler::PublishStats() {
  int running = static_cast<int>(running_.size());
  int waiting = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.running = running;
    stats_.slots_used = pool_.used();
    stats_.steps = steps_;
    stats_.decode_steps = policy_.stats().steps;
    stats_.draft_steps = draft_steps_;
    stats_.explore_steps = policy_.stats().explore_steps;
    waiting = queue_.size();
    stats_.waiting = waiting;
    if (queue_.empty() && running == 0 && cancels_.empty()) idle_.notify_all();
  }
  observer_->OnGauges(running, waiting, pool_.total(), pool_.used());
}

}  // namespace linspec::scheduler
