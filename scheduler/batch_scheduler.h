// The Scheduler implementation: Submit/Cancel/Drain on any thread, one engine loop thread
// doing continuous batching with speculative decoding. Split over files by job:
//   batch_scheduler.cc  threads, queue intake, admission, cancellation, finishing, stats
//   engine_step.cc      one engine step: plan prefill, draft, one target forward, accept
//   emit.cc             turning accepted tokens into deltas, stops and metrics
//
// Most code should use Scheduler::Create. CreateSchedulerWithDrafter lets tests plug in a
// drafter of their own (e.g. one proposing random tokens).
#ifndef LINSPEC_SCHEDULER_BATCH_SCHEDULER_H_
#define LINSPEC_SCHEDULER_BATCH_SCHEDULER_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "scheduler/draft_length.h"
#include "scheduler/drafter.h"
#include "scheduler/request_queue.h"
#include "scheduler/scheduler.h"
#include "scheduler/sequence.h"
#include "scheduler/slot_pool.h"
#include "scheduler/step_clock.h"
#include "scheduler/validation.h"

namespace linspec::scheduler {

// Same contract as Scheduler::Create, with the drafter given (options.drafter is ignored;
// draft may be null unless the drafter uses it).
absl::StatusOr<std::unique_ptr<Scheduler>> CreateSchedulerWithDrafter(
    const SchedulerOptions& options, engine::Engine* target, engine::Engine* draft,
    const engine::Tokenizer* tokenizer, MetricsObserver* observer,
    std::unique_ptr<Drafter> drafter);

class BatchScheduler : public Scheduler {
 public:
  BatchScheduler(const SchedulerOptions& options, engine::Engine* target, engine::Engine* draft,
                 const engine::Tokenizer* tokenizer, MetricsObserver* observer,
                 std::unique_ptr<Drafter> drafter, int num_slots);
  ~BatchScheduler() override;

  absl::StatusOr<uint64_t> Submit(GenerateRequest request) override;
  void Cancel(uint64_t id) override;
  SchedulerStats Stats() const override;
  void Drain(double timeout_seconds) override;

 private:
  // ---- batch_scheduler.cc
  void Loop();
  // Takes cancellations, expired and admissible requests from the shared state.
  void Intake();
  void Admit(QueuedRequest q);
  void FinishQueued(QueuedRequest q, FinishReason reason, absl::Status status);
  // Releases slots of sequences with `finish` set, calls their sinks, drops them.
  void ReapFinished();
  void FailAll(const absl::Status& status);
  void CheckHealth();
  void PublishStats();

  // ---- engine_step.cc
  void Step();
  struct PrefillChunk {
    Sequence* seq;
    int num_tokens;
  };
  std::vector<PrefillChunk> PlanPrefill(int token_budget);
  // Drafts for decoding sequences; fills drafts (one task per decoding sequence).
  absl::Status RunDrafter(const std::vector<Sequence*>& decoding, const std::vector<int>& ks,
                          std::vector<DraftTask>* drafts);
  absl::Status RunTarget(const std::vector<PrefillChunk>& prefill,
                         const std::vector<Sequence*>& decoding,
                         const std::vector<DraftTask>& drafts);
  // row: the chunk's first result row; chunk_index: its index in the Forward (sampled tokens).
  void AfterPrefill(const PrefillChunk& chunk, int row, size_t chunk_index);
  absl::Status AfterDecode(Sequence* seq, const DraftTask& draft, int first_row,
                           size_t chunk_index);
  // The engine-side sampling of one chunk (device sampling).
  engine::ChunkSampling ChunkSamplingOf(const Sequence& seq, bool active,
                                        absl::Span<const float> draft_probs) const;
  const float* Row(int row) const;

  // ---- emit.cc
  // Samples from a single target row (first token or k = 0 decode).
  engine::TokenId SampleRow(Sequence* seq, int row);
  // Appends generated tokens, streams them, applies stop conditions and metrics.
  void EmitTokens(Sequence* seq, const std::vector<engine::TokenId>& tokens);
  void Finish(Sequence* seq, FinishReason reason, absl::Status status);
  void SendFinal(Sequence* seq);

  const SchedulerOptions options_;
  const StepClock* const clock_;  // options_.clock or the steady clock
  engine::Engine* const target_;
  const bool device_sampling_;  // options_.device_sampling && target_->samples_on_device()
  engine::Engine* const draft_;
  const engine::Tokenizer* const tokenizer_;
  MetricsObserver* observer_;
  MetricsObserver null_observer_;
  std::unique_ptr<Drafter> drafter_;
  ValidationLimits limits_;
  std::vector<engine::TokenId> eos_ids_;

  // Shared state.
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  RequestQueue queue_;
  std::vector<uint64_t> cancels_;
  bool draining_ = false;
  bool cancel_all_ = false;
  bool stop_ = false;
  uint64_t next_id_ = 1;
  SchedulerStats stats_;
  std::atomic<bool> healthy_{true};

  // Engine loop thread only.
  SlotPool pool_;
  DraftLengthPolicy policy_;
  std::vector<std::unique_ptr<Sequence>> running_;
  engine::ForwardResult result_;
  std::vector<engine::ChunkSampling> sampling_;  // per chunk of the last Forward (device sampling)
  bool result_has_logits_ = false;
  std::vector<float> probs_;
  int64_t steps_ = 0;
  int64_t draft_steps_ = 0;
  int last_forward_tokens_ = 0;
  double last_forward_seconds_ = 0;

  std::thread thread_;
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_BATCH_SCHEDULER_H_
