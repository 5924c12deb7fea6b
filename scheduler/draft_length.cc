#include "scheduler/draft_length.h"

#include <algorithm>
#include <cmath>

namespace linspec::scheduler {

namespace {
constexpr double kHistoryDecay = 0.9;
constexpr double kCostDecay = 0.995;
constexpr double kPriorAcceptance = 0.6;
constexpr double kPriorWeight = 2.0;
// Forgetting of the batch-wide acceptance estimate, per accept/reject record.
constexpr double kGlobalDecay = 0.99;
// A sequence drafts only as far as the whole prefix is still this likely to be accepted.
constexpr double kMinPrefixProbability = 0.2;
// In steps where the batch drafts anyway, a sequence that stopped drafting probes with k = 1
// this often, to notice a change (its marginal cost is a token in forwards that run anyway).
constexpr int kProbeEverySteps = 16;
// A larger k must beat a smaller one by this factor (prefer less work on near-ties).
constexpr double kPreferSmallerK = 1.02;
}  // namespace

double SpecHistory::acceptance(double prior) const {
  return (accepted + prior * kPriorWeight) / (trials + kPriorWeight);
}

void LinearCostFit::Add(double x, double y) {
  w_ = w_ * kCostDecay + 1;
  sx_ = sx_ * kCostDecay + x;
  sy_ = sy_ * kCostDecay + y;
  sxx_ = sxx_ * kCostDecay + x * x;
  sxy_ = sxy_ * kCostDecay + x * y;
  if (spread()) slope_ = Slope();
}

bool LinearCostFit::spread() const {
  if (w_ < 1.5) return false;  // two samples, the first decayed once
  const double mx = sx_ / w_;
  const double var = sxx_ / w_ - mx * mx;
  return var > 0.01 * std::max(1.0, mx * mx) * 0.01;
}

double LinearCostFit::Slope() const {
  const double mx = sx_ / w_, my = sy_ / w_;
  const double var = sxx_ / w_ - mx * mx;
  return var > 0 ? std::max(0.0, (sxy_ / w_ - mx * my) / var) : 0.0;
}

double LinearCostFit::Predict(double x) const {
  if (w_ <= 0) return 0;
  const double mx = sx_ / w_, my = sy_ / w_;
  if (!ready()) return x > mx ? my * x / mx : my;  // pessimistic both ways
  // Samples that no longer span two x values keep the last slope; the mean moves the level.
  const double b = spread() ? Slope() : slope_;
  const double a = std::max(0.0, my - b * mx);
  return a + b * x;
}

double ExpectedTokens(double alpha, int k) {
  if (alpha >= 1) return k + 1;
  return (1 - std::pow(alpha, k + 1)) / (1 - alpha);
}

DraftLengthPolicy::DraftLengthPolicy(int max_k, bool adaptive, bool draft_costs_forwards)
    : max_k_(std::max(0, max_k)),
      adaptive_(adaptive),
      draft_costs_forwards_(draft_costs_forwards) {}

void DraftLengthPolicy::RecordAcceptance(SpecHistory* h, int proposed, int accepted) {
  if (proposed <= 0) {
    ++h->steps_without_draft;
    return;
  }
  h->steps_without_draft = 0;
  const double trials = accepted + (accepted < proposed ? 1 : 0);
  h->accepted = h->accepted * kHistoryDecay + accepted;
  h->trials = h->trials * kHistoryDecay + trials;
  global_accepted_ = global_accepted_ * kGlobalDecay + accepted;
  global_trials_ = global_trials_ * kGlobalDecay + trials;
}

double DraftLengthPolicy::prior_acceptance() const {
  return (global_accepted_ + kPriorAcceptance * kPriorWeight) / (global_trials_ + kPriorWeight);
}

void DraftLengthPolicy::RecordTargetForward(int num_tokens, double seconds) {
  target_.Add(num_tokens, seconds);
}

void DraftLengthPolicy::RecordDraftForward(int num_tokens, double seconds) {
  draft_.Add(num_tokens, seconds);
  draft_measured_ = true;
}

void DraftLengthPolicy::RecordDraftStep(double seconds) {
  draft_per_step_ = draft_measured_ ? 0.9 * draft_per_step_ + 0.1 * seconds : seconds;
  draft_measured_ = true;
}

int64_t DraftLengthPolicy::MaxExplorations(int64_t steps) {
  if (steps <= 0) return 0;
  int64_t n = 1, at = 1, interval = kExploreMinIntervalSteps;
  while (at + interval <= steps) {
    at += interval;
    ++n;
    interval = std::min(2 * interval, kExploreMaxIntervalSteps);
  }
  return n;
}

DraftLengthPolicy::Plan DraftLengthPolicy::Fit(absl::Span<const int> caps, int k, int extra_tokens,
                                               int token_budget) const {
  Plan p;
  p.ks.resize(caps.size());
  p.tokens = extra_tokens;
  for (size_t i = 0; i < caps.size(); ++i) {
    p.ks[i] = std::min(k, caps[i]);
    p.tokens += p.ks[i] + 1;
  }
  // Shrink the longest drafts until the forward fits the token budget.
  while (p.tokens > token_budget) {
    auto it = std::max_element(p.ks.begin(), p.ks.end());
    if (it == p.ks.end() || *it == 0) break;
    --*it;
    --p.tokens;
  }
  return p;
}

double DraftLengthPolicy::StepCost(const Plan& p) const {
  double cost = target_.Predict(p.tokens);
  const int k = p.ks.empty() ? 0 : *std::max_element(p.ks.begin(), p.ks.end());
  if (k == 0) return cost;
  if (!draft_costs_forwards_) return cost + draft_per_step_;
  // Draft forward j carries one token per sequence drafting more than j tokens.
  for (int j = 0; j < k; ++j) {
    const int tokens =
        static_cast<int>(std::count_if(p.ks.begin(), p.ks.end(), [j](int kk) { return kk > j; }));
    cost += draft_.Predict(tokens);
  }
  return cost;
}

double DraftLengthPolicy::BestRate(absl::Span<SpecHistory* const> seqs, absl::Span<const int> caps,
                                   absl::Span<const double> alphas, int extra_tokens,
                                   int token_budget, int* best_k) const {
  double best_rate = -1;
  *best_k = 0;
  for (int k = 0; k <= max_k_; ++k) {
    Plan p = Fit(caps, k, extra_tokens, token_budget);
    double gain = 0;
    for (size_t i = 0; i < seqs.size(); ++i) gain += ExpectedTokens(alphas[i], p.ks[i]);
    // Prefill tokens sharing the forward are paid for whatever k is: rate the decode part
    // alone, so that drafting must beat plain decoding at the margin.
    p.tokens -= extra_tokens;
    const double cost = StepCost(p);
    const double rate = cost > 0 ? gain / cost : gain;
    if (best_rate < 0 || rate > best_rate * kPreferSmallerK) {
      best_rate = rate;
      *best_k = k;
    }
  }
  return best_rate;
}

bool DraftLengthPolicy::ModelReady() const {
  return target_.ready() && draft_measured_ && (!draft_costs_forwards_ || draft_.ready());
}

std::vector<int> DraftLengthPolicy::Explore(absl::Span<SpecHistory* const> seqs, int extra_tokens,
                                            int token_budget) {
  last_explore_ = stats_.steps;
  ++stats_.explore_steps;
  // A quarter of the batch measures acceptance and draft costs as well as all of it would,
  // at a quarter of the catch-up: the sequences the draft model is least behind on.
  const int n = static_cast<int>(seqs.size());
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  const int m = std::max(1, (n + 3) / 4);
  std::partial_sort(order.begin(), order.begin() + m, order.end(), [&](int a, int b) {
    return seqs[a]->catchup_tokens != seqs[b]->catchup_tokens
               ? seqs[a]->catchup_tokens < seqs[b]->catchup_tokens
               : a < b;
  });
  std::vector<int> caps(n, 0);
  for (int j = 0; j < m; ++j) caps[order[j]] = max_k_;
  return Fit(caps, std::min(2, max_k_), extra_tokens, token_budget).ks;
}

std::vector<int> DraftLengthPolicy::Choose(absl::Span<SpecHistory* const> seqs, int extra_tokens,
                                           int token_budget) {
  const int n = static_cast<int>(seqs.size());
  if (n == 0) return {};
  ++stats_.steps;
  if (!adaptive_ || max_k_ == 0) {
    return Fit(std::vector<int>(n, max_k_), max_k_, extra_tokens, token_budget).ks;
  }
  std::vector<int> caps(n);
  std::vector<double> alphas(n), optimistic(n);
  const double prior = prior_acceptance();
  for (int i = 0; i < n; ++i) {
    const double a = alphas[i] = seqs[i]->acceptance(prior);
    optimistic[i] = std::max(a, kOptimisticAcceptance);
    const int cap = a <= 0   ? 0
                    : a >= 1 ? max_k_
                             : static_cast<int>(std::log(kMinPrefixProbability) / std::log(a));
    caps[i] = std::clamp(cap, 0, max_k_);
  }
  const bool ready = ModelReady();
  if (ready) {
    int best_k = 0;
    BestRate(seqs, caps, alphas, extra_tokens, token_budget, &best_k);
    if (best_k > 0) {
      ++stats_.spec_steps;
      last_explore_ = stats_.steps;  // speculating measures everything exploring would
      explore_interval_ = kExploreMinIntervalSteps;
      for (int i = 0; i < n; ++i) {
        if (caps[i] == 0 && seqs[i]->steps_without_draft >= kProbeEverySteps) caps[i] = 1;
      }
      return Fit(caps, best_k, extra_tokens, token_budget).ks;
    }
  }
  // Speculation is not predicted to pay, or the model is incomplete. Exploring is worth it
  // only if speculation could win were acceptance high.
  bool promising = !ready;
  if (ready) {
    int opt_k = 0;
    const std::vector<int> all(n, max_k_);
    const double opt_rate = BestRate(seqs, all, optimistic, extra_tokens, token_budget, &opt_k);
    const double plain = n / std::max(1e-12, target_.Predict(n));
    promising = opt_k > 0 && opt_rate > plain * (1 + kExploreMinGain);
  }
  // The first exploration comes at once when promising (an incomplete model is); a model
  // that rules speculation out is refreshed every kExploreMaxIntervalSteps from the start.
  const int64_t interval = promising ? explore_interval_ : kExploreMaxIntervalSteps;
  const int64_t since = last_explore_ < 0 ? stats_.steps : stats_.steps - last_explore_;
  const bool due = (last_explore_ < 0 && promising) || since >= interval;
  // Explore in a step without prefill, so that the target's time is a clean sample for the
  // cost fit, unless that has been impossible for another interval.
  const bool clean = extra_tokens == 0 || since >= interval + kExploreMinIntervalSteps;
  if (!due || !clean) return std::vector<int>(n, 0);
  if (promising && last_explore_ >= 0) {
    explore_interval_ = std::min(2 * explore_interval_, kExploreMaxIntervalSteps);
  }
  return Explore(seqs, extra_tokens, token_budget);
}

}  // namespace linspec::scheduler
