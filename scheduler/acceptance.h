// Speculative acceptance for one sequence (DESIGN.md §4).
//
// Greedy: accept drafts while each equals the target's argmax at its position, then take the
// target's argmax. Sampling: rejection sampling — accept draft d with probability
// min(1, p(d)/q(d)); on rejection draw from norm(max(0, p - q)); when all drafts are accepted
// draw a bonus token from the last target row. The output distribution equals p's.
//
// Thread-safety: pure functions.
#ifndef LINSPEC_SCHEDULER_ACCEPTANCE_H_
#define LINSPEC_SCHEDULER_ACCEPTANCE_H_

#include <cstdint>
#include <functional>

#include "absl/types/span.h"
#include "engine/types.h"

namespace linspec::scheduler {

struct AcceptResult {
  int num_accepted = 0;      // drafts accepted, 0..k
  engine::TokenId next = 0;  // the token the target adds after them
};

// target_argmax: k + 1 rows (row i follows the i-th draft; row 0 follows the last
// committed token).
AcceptResult AcceptGreedy(absl::Span<const engine::TokenId> drafts,
                          absl::Span<const engine::TokenId> target_argmax);

struct SampledAcceptInput {
  absl::Span<const engine::TokenId> drafts;  // k proposals
  // k rows of the proposal distribution, [k, vocab]; empty: each proposal is treated as
  // deterministic given its own draw (q = one-hot), which is exact for any drafter whose
  // proposal does not depend on the acceptance coins.
  absl::Span<const float> draft_probs;
  absl::Span<const float> target_probs;  // k + 1 rows, [k + 1, vocab], already transformed
  // Alternative to target_probs: returns target row i (0..k), already transformed. Called at
  // most once per row, in increasing order, and only for rows the acceptance reaches (rows
  // after a rejection are never computed); the pointer must stay valid until the next call.
  std::function<const float*(int)> target_row;
  int vocab = 0;
  uint64_t seed = 0;
  uint64_t first_index = 0;  // output index of the first draft
};

AcceptResult AcceptSampled(const SampledAcceptInput& in);

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_ACCEPTANCE_H_
