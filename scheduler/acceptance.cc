#include "scheduler/acceptance.h"

#include <vector>

#include "scheduler/sampler.h"

namespace linspec::scheduler {

AcceptResult AcceptGreedy(absl::Span<const engine::TokenId> drafts,
                          absl::Span<const engine::TokenId> target_argmax) {
  AcceptResult r;
  const int k = static_cast<int>(drafts.size());
  while (r.num_accepted < k && drafts[r.num_accepted] == target_argmax[r.num_accepted]) {
    ++r.num_accepted;
  }
  r.next = target_argmax[r.num_accepted];
  return r;
}

AcceptResult AcceptSampled(const SampledAcceptInput& in) {
  AcceptResult r;
  const int k = static_cast<int>(in.drafts.size());
  const int vocab = in.vocab;
  auto target_row = [&](int i) -> const float* {
    if (in.target_row) return in.target_row(i);
    return in.target_probs.data() + static_cast<size_t>(i) * vocab;
  };
  thread_local std::vector<float> residual;  // reused across calls: no allocation per row
  for (int i = 0; i < k; ++i) {
    const float* p = target_row(i);
    const float* q =
        in.draft_probs.empty() ? nullptr : in.draft_probs.data() + static_cast<size_t>(i) * vocab;
    const engine::TokenId d = in.drafts[i];
    const double qd = q ? q[d] : 1.0;
    const double pd = p[d];
    const uint64_t index = in.first_index + i;
    const double coin = UniformAt(in.seed, index, RandomStream::kAccept);
    if (qd > 0 && coin * qd < pd) {
      ++r.num_accepted;
      continue;
    }
    residual.resize(vocab);
    double mass = 0;
    for (int v = 0; v < vocab; ++v) {
      const double qv = q ? q[v] : (v == d ? 1.0 : 0.0);
      const double x = p[v] - qv;
      residual[v] = x > 0 ? static_cast<float>(x) : 0.0f;
      mass += residual[v];
    }
    const double u = UniformAt(in.seed, index, RandomStream::kTarget);
    // mass == 0 only when p == q, where rejection has probability zero; fall back to p.
    r.next = mass > 0 ? SampleFromProbs(residual.data(), vocab, u) : SampleFromProbs(p, vocab, u);
    return r;
  }
  const float* bonus = target_row(k);
  r.next =
      SampleFromProbs(bonus, vocab, UniformAt(in.seed, in.first_index + k, RandomStream::kTarget));
  return r;
}

}  // namespace linspec::scheduler
