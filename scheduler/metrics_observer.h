// Hooks through which the scheduler reports what the server exports as Prometheus metrics
// (DESIGN.md §5). Called on the scheduler thread; implementations must be cheap and must not
// block. The default implementation ignores everything.
#ifndef LINSPEC_SCHEDULER_METRICS_OBSERVER_H_
#define LINSPEC_SCHEDULER_METRICS_OBSERVER_H_

#include <string_view>

#include "scheduler/request.h"

namespace linspec::scheduler {

enum class StepPhase { kPrefill, kDraft, kVerify, kDecode, kSample };
const char* StepPhaseName(StepPhase p);  // "prefill", "draft", ...

class MetricsObserver {
 public:
  virtual ~MetricsObserver() = default;
  virtual void OnRequestFinished(const FinalResult& result, int prompt_tokens) {}
  virtual void OnGenerationTokens(int n) {}
  virtual void OnFirstToken(double ttft_seconds) {}
  virtual void OnInterTokenLatency(double seconds) {}
  virtual void OnQueueTime(double seconds) {}
  virtual void OnBatch(int batch_size) {}
  virtual void OnStepPhase(StepPhase phase, double seconds) {}
  // One verify round of one sequence: num_draft proposed, num_accepted of them accepted.
  virtual void OnSpecDecode(int num_draft, int num_accepted) {}
  virtual void OnGauges(int running, int waiting, int slots_total, int slots_used) {}
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_METRICS_OBSERVER_H_
