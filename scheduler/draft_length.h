// Adaptive draft length. Per sequence: an acceptance-rate estimate from its history caps how
// far ahead it is worth drafting. Per batch: a cost model fitted to measured times (target
// forward time vs its tokens, draft forward time vs its tokens) picks the common k that
// maximizes expected tokens per second; k = 0 whenever speculation would not pay, so a loaded
// server is never slower than without it.
//
// Exploration (k > 0 on a step the model does not predict to win) is rare and bounded: only
// while the cost model is incomplete or an optimistic acceptance (kOptimisticAcceptance)
// would make speculation win by kExploreMinGain, at intervals that double from
// kExploreMinIntervalSteps to kExploreMaxIntervalSteps while speculation keeps losing; when
// not even that optimistic case wins, only every kExploreMaxIntervalSteps (cost refresh).
// Each exploration drafts min(2, max_k) tokens for the quarter of the batch (at least one
// sequence) with the least catch-up. See scheduler/README.md.
//
// Thread-safety: none; used by the engine loop thread only.
#ifndef LINSPEC_SCHEDULER_DRAFT_LENGTH_H_
#define LINSPEC_SCHEDULER_DRAFT_LENGTH_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace linspec::scheduler {

inline constexpr int64_t kExploreMinIntervalSteps = 64;
inline constexpr int64_t kExploreMaxIntervalSteps = 4096;
inline constexpr double kOptimisticAcceptance = 0.9;
inline constexpr double kExploreMinGain = 0.05;

// Per-sequence acceptance history (kept in the sequence, updated by the policy).
struct SpecHistory {
  double accepted = 0;  // decayed count of accepted proposals
  double trials = 0;    // decayed count of accept/reject decisions
  int steps_without_draft = 0;
  int64_t catchup_tokens = 0;  // set before Choose: what drafting now would feed first
  // Estimate of P(accept one proposal): this sequence's history on top of a prior (the
  // batch-wide estimate, DraftLengthPolicy::prior_acceptance).
  double acceptance(double prior) const;
};

// Least-squares fit y = a + b x with exponential forgetting. Once samples have spanned two
// x values the slope is kept when later samples all share one x (a steady batch), so the
// model does not go stale while nothing varies; the intercept follows the recent mean.
class LinearCostFit {
 public:
  void Add(double x, double y);
  bool has_data() const { return w_ > 0; }
  // False until samples have spanned at least two distinct x values.
  bool ready() const { return slope_ >= 0; }
  // Before ready: the mean scaled up proportionally for larger x, the mean for smaller x
  // (pessimistic both ways).
  double Predict(double x) const;

 private:
  bool spread() const;  // the current (decayed) samples span two x values
  double Slope() const;

  double w_ = 0, sx_ = 0, sy_ = 0, sxx_ = 0, sxy_ = 0;
  double slope_ = -1;  // last slope fitted from spread samples; < 0: none yet
};

// Expected tokens a sequence gains in a step with k proposals at acceptance rate alpha
// (accepted prefix plus the target's own token).
double ExpectedTokens(double alpha, int k);

struct DraftLengthStats {
  int64_t steps = 0;          // Choose calls with decoding sequences
  int64_t spec_steps = 0;     // steps where the model predicted speculation to win
  int64_t explore_steps = 0;  // exploration steps
};

class DraftLengthPolicy {
 public:
  // draft_costs_forwards: the drafter runs a model (RecordDraftForward); else its cost is a
  // time per step (RecordDraftStep).
  DraftLengthPolicy(int max_k, bool adaptive, bool draft_costs_forwards);

  // Updates the sequence's history and the batch-wide estimate new sequences start from.
  void RecordAcceptance(SpecHistory* h, int proposed, int accepted);
  // Acceptance across all sequences (decayed), with a fixed prior before any trial.
  double prior_acceptance() const;
  // One target Forward carrying num_tokens tokens took seconds.
  void RecordTargetForward(int num_tokens, double seconds);
  // One draft-model Forward carrying num_tokens tokens took seconds.
  void RecordDraftForward(int num_tokens, double seconds);
  // A model-free drafter's Propose took seconds.
  void RecordDraftStep(double seconds);

  // k per sequence for a decode batch. extra_tokens: prefill tokens sharing the forward;
  // token_budget: most tokens the forward may carry (prefill included).
  std::vector<int> Choose(absl::Span<SpecHistory* const> seqs, int extra_tokens, int token_budget);

  const DraftLengthStats& stats() const { return stats_; }
  // Most exploration steps the rule allows in `steps` steps (for tests and benchmarks).
  static int64_t MaxExplorations(int64_t steps);

 private:
  struct Plan {
    std::vector<int> ks;
    int tokens = 0;  // target forward tokens, prefill included
  };
  Plan Fit(absl::Span<const int> caps, int k, int extra_tokens, int token_budget) const;
  double StepCost(const Plan& p) const;
  // Expected tokens per second of the best k under caps; *best_k receives it.
  double BestRate(absl::Span<SpecHistory* const> seqs, absl::Span<const int> caps,
                  absl::Span<const double> alphas, int extra_tokens, int token_budget,
                  int* best_k) const;
  bool ModelReady() const;
  std::vector<int> Explore(absl::Span<SpecHistory* const> seqs, int extra_tokens, int token_budget);

  int max_k_;
  bool adaptive_;
  bool draft_costs_forwards_;
  LinearCostFit target_;
  LinearCostFit draft_;  // seconds per draft forward vs its tokens
  bool draft_measured_ = false;
  double draft_per_step_ = 0;  // decayed mean drafter time per step (model-free drafters)
  double global_accepted_ = 0, global_trials_ = 0;
  int64_t last_explore_ = -1;  // step of the last exploration or predicted-win step
  int64_t explore_interval_ = kExploreMinIntervalSteps;
  DraftLengthStats stats_;
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_DRAFT_LENGTH_H_
