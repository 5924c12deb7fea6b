// The request scheduler: a bounded wait queue, a slot pool, and an engine loop thread that
// runs continuous batching with speculative decoding (DESIGN.md §4).
//
// Ownership: the scheduler owns slot lifetime (which slot ids are in use) and every admitted
// request until its sink's OnFinish returns. Engines, tokenizer and observer are borrowed and
// must outlive the scheduler. Submit/Cancel/Stats/Drain are thread-safe.
#ifndef LINSPEC_SCHEDULER_SCHEDULER_H_
#define LINSPEC_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "scheduler/metrics_observer.h"
#include "scheduler/request.h"
#include "scheduler/step_clock.h"

namespace linspec::scheduler {

enum class DrafterKind { kNone, kDraftModel, kNgram };
const char* DrafterKindName(DrafterKind k);

struct SchedulerOptions {
  int max_queue = 256;           // waiting requests; more -> ResourceExhausted
  int max_prompt_tokens = 4096;  // longer -> InvalidArgument
  int max_tokens_limit = 4096;   // max_tokens above -> InvalidArgument
  int max_stop_strings = 8;
  int max_stop_string_bytes = 256;
  int prefill_token_budget = 512;  // prompt tokens per engine step (chunked prefill)
  // Most tokens one target Forward may carry (prefill chunks + k + 1 per decoding
  // sequence); keep <= the engine's EngineOptions::max_batch_tokens.
  int max_batch_tokens = 2048;
  DrafterKind drafter = DrafterKind::kNone;
  int num_draft_tokens = 4;    // k, upper bound when adaptive
  bool adaptive_draft = true;  // false: always k
  int ngram_max = 3;           // n-gram drafter: longest suffix matched
  uint64_t seed = 0;           // seeds requests that set none
  int max_running = 0;         // concurrent sequences; 0 = every engine slot
  // Sample and accept on the target engine's device when it can (Engine::samples_on_device):
  // only tokens and accept counts leave the device. false: host sampling from copied logits.
  bool device_sampling = true;
  // The clock the speculation cost model times engine calls with. Borrowed; null = the
  // steady clock. Tests and simulations pass a fake one (step_clock.h).
  const StepClock* clock = nullptr;
};

struct SchedulerStats {
  int running = 0;
  int waiting = 0;
  int slots_total = 0;
  int slots_used = 0;
  int64_t steps = 0;
  int64_t decode_steps = 0;   // steps with decoding sequences (draft length chosen)
  int64_t draft_steps = 0;    // steps where the drafter ran (some k > 0)
  int64_t explore_steps = 0;  // of those, exploration steps (draft_length.h)
  bool healthy = true;        // false once an engine reported a sticky failure
};

class Scheduler {
 public:
  // target: required; draft: required iff drafter == kDraftModel (validated: same vocab).
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(const SchedulerOptions& options,
                                                           engine::Engine* target,
                                                           engine::Engine* draft,
                                                           const engine::Tokenizer* tokenizer,
                                                           MetricsObserver* observer);
  virtual ~Scheduler() = default;

  // Validates and enqueues. InvalidArgument (bad params, prompt too long or empty),
  // ResourceExhausted (queue full), Unavailable (draining or engine failed). On error the
  // sink is not called. On success returns the request id used for Cancel.
  virtual absl::StatusOr<uint64_t> Submit(GenerateRequest request) = 0;

  // Cancels a queued or running request: its sink gets OnFinish(kCancelled) and its slots
  // are free by the end of the current step. Unknown or finished ids are ignored.
  virtual void Cancel(uint64_t id) = 0;

  virtual SchedulerStats Stats() const = 0;

  // Stops admitting (Submit -> Unavailable) and waits up to timeout for running and queued
  // requests to finish; what remains is cancelled. Then stops the loop thread.
  virtual void Drain(double timeout_seconds) = 0;
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_SCHEDULER_H_
