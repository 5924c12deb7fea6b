#include "scheduler/draft_length.h"

#include <algorithm>
#include <cmath>

namespace linspec::scheduler {

namespace {
constexpr double kHistoryDecay = 0.9;
constexpr double kCostDecay = 0.995;
constexpr double kPriorAcceptance = 0.6;
constexpr double kPriorWeight = 2.0;
// A sequence drafts only as far as the whole prefix is still this likely to be accepted.
constexpr double kMinPrefixProbability = 0.2;
// A sequence that stopped drafting probes with k = 1 this often, to notice a change.
constexpr int kProbeEverySteps = 16;
// Until the cost fit is ready, and then this often, the batch explores the full k.
constexpr long kExploreEverySteps = 64;
}  // namespace

double SpecHistory::acceptance() const {
  return (accepted + kPriorAcceptance * kPriorWeight) / (trials + kPriorWeight);
}

void LinearCostFit::Add(double x, double y) {
  w_ = w_ * kCostDecay + 1;
  sx_ = sx_ * kCostDecay + x;
  sy_ = sy_ * kCostDecay + y;
  sxx_ = sxx_ * kCostDecay + x * x;
  sxy_ = sxy_ * kCostDecay + x * y;
}

bool LinearCostFit::ready() const {
  if (w_ < 2) return false;
  const double mx = sx_ / w_;
  const double var = sxx_ / w_ - mx * mx;
  return var > 0.01 * std::max(1.0, mx * mx) * 0.01;
}

double LinearCostFit::Predict(double x) const {
  if (w_ <= 0) return 0;
  const double mx = sx_ / w_, my = sy_ / w_;
  const double var = sxx_ / w_ - mx * mx;
  if (!ready() || var <= 0) return mx > 0 ? my * x / mx : my;  // proportional: pessimistic
  const double b = std::max(0.0, (sxy_ / w_ - mx * my) / var);
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
  h->accepted = h->accepted * kHistoryDecay + accepted;
  h->trials = h->trials * kHistoryDecay + accepted + (accepted < proposed ? 1 : 0);
}

void DraftLengthPolicy::RecordTargetForward(int num_tokens, double seconds) {
  target_.Add(num_tokens, seconds);
}

void DraftLengthPolicy::RecordDraft(int batch, int num_forwards, double seconds) {
  if (draft_costs_forwards_) {
    if (num_forwards > 0) draft_.Add(batch, seconds / num_forwards);
  } else {
    draft_per_step_ = 0.9 * draft_per_step_ + 0.1 * seconds;
  }
}

double DraftLengthPolicy::StepCost(int target_tokens, int batch, int k) const {
  double cost = target_.Predict(target_tokens);
  if (k > 0) cost += draft_costs_forwards_ ? k * draft_.Predict(batch) : draft_per_step_;
  return cost;
}

std::vector<int> DraftLengthPolicy::Choose(absl::Span<SpecHistory* const> seqs, int extra_tokens,
                                           int token_budget) {
  const int n = static_cast<int>(seqs.size());
  ++steps_;
  std::vector<int> caps(n, max_k_);
  if (adaptive_) {
    for (int i = 0; i < n; ++i) {
      const double a = seqs[i]->acceptance();
      int cap = a <= 0   ? 0
                : a >= 1 ? max_k_
                         : static_cast<int>(std::log(kMinPrefixProbability) / std::log(a));
      cap = std::clamp(cap, 0, max_k_);
      if (cap == 0 && seqs[i]->steps_without_draft >= kProbeEverySteps) cap = std::min(1, max_k_);
      caps[i] = cap;
    }
  }
  auto with_k = [&](int k) {
    std::vector<int> ks(n);
    int tokens = extra_tokens;
    for (int i = 0; i < n; ++i) {
      ks[i] = std::min(k, caps[i]);
      tokens += ks[i] + 1;
    }
    // Shrink the longest drafts until the forward fits the token budget.
    while (tokens > token_budget) {
      auto it = std::max_element(ks.begin(), ks.end());
      if (it == ks.end() || *it == 0) break;
      --*it;
      --tokens;
    }
    return std::make_pair(ks, tokens);
  };
  if (n == 0) return {};
  if (!adaptive_ || max_k_ == 0) return with_k(max_k_).first;
  // Exploration alternates a short draft with none so the cost fit sees two token counts
  // (prefill chunks in the same forwards add larger ones); short keeps the probe cheap.
  const int probe_k = std::min(2, max_k_);
  if (!target_.ready()) return with_k(steps_ % 2 == 0 ? probe_k : 0).first;
  if (steps_ % kExploreEverySteps == 0) return with_k(probe_k).first;
  int best_k = 0;
  double best_rate = -1;
  for (int k = 0; k <= max_k_; ++k) {
    auto [ks, tokens] = with_k(k);
    double gain = 0;
    for (int i = 0; i < n; ++i) gain += ExpectedTokens(seqs[i]->acceptance(), ks[i]);
    const double cost = StepCost(tokens, n, *std::max_element(ks.begin(), ks.end()));
    const double rate = cost > 0 ? gain / cost : gain;
    if (rate > best_rate * 1.02 || best_rate < 0) {  // prefer smaller k on near-ties
      best_rate = rate;
      best_k = k;
    }
  }
  return with_k(best_k).first;
}

}  // namespace linspec::scheduler
