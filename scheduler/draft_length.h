// Adaptive draft length. Per sequence: an acceptance-rate estimate from its history caps how
// far ahead it is worth drafting. Per batch: a cost model fitted to measured step times
// (target forward time as a function of tokens, draft time per forward as a function of the
// batch) picks the common k that maximizes expected tokens per second; k = 0 whenever
// speculation would not pay, so a loaded server is never slower than without it.
//
// Thread-safety: none; used by the engine loop thread only.
#ifndef LINSPEC_SCHEDULER_DRAFT_LENGTH_H_
#define LINSPEC_SCHEDULER_DRAFT_LENGTH_H_

#include <vector>

#include "absl/types/span.h"

namespace linspec::scheduler {

// Per-sequence acceptance history (kept in the sequence, updated by the policy).
struct SpecHistory {
  double accepted = 0;  // decayed count of accepted proposals
  double trials = 0;    // decayed count of accept/reject decisions
  int steps_without_draft = 0;
  double acceptance() const;  // estimate of P(accept one proposal), with a prior
};

// Least-squares fit y = a + b x with exponential forgetting.
class LinearCostFit {
 public:
  void Add(double x, double y);
  // False until samples span at least two distinct x values.
  bool ready() const;
  double Predict(double x) const;

 private:
  double w_ = 0, sx_ = 0, sy_ = 0, sxx_ = 0, sxy_ = 0;
};

// Expected tokens a sequence gains in a step with k proposals at acceptance rate alpha
// (accepted prefix plus the target's own token).
double ExpectedTokens(double alpha, int k);

class DraftLengthPolicy {
 public:
  DraftLengthPolicy(int max_k, bool adaptive, bool draft_costs_forwards);

  static void RecordAcceptance(SpecHistory* h, int proposed, int accepted);
  // One target Forward carrying num_tokens tokens took seconds.
  void RecordTargetForward(int num_tokens, double seconds);
  // The drafter took seconds for num_forwards forwards over batch sequences.
  void RecordDraft(int batch, int num_forwards, double seconds);

  // k per sequence for a decode batch. extra_tokens: prefill tokens sharing the forward;
  // token_budget: most tokens the forward may carry (prefill included).
  std::vector<int> Choose(absl::Span<SpecHistory* const> seqs, int extra_tokens, int token_budget);

 private:
  double StepCost(int target_tokens, int batch, int k) const;

  int max_k_;
  bool adaptive_;
  bool draft_costs_forwards_;
  LinearCostFit target_;
  LinearCostFit draft_;        // seconds per draft forward vs batch size
  double draft_per_step_ = 0;  // decayed mean drafter time per step (model-free drafters)
  long steps_ = 0;
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_DRAFT_LENGTH_H_
