// N-gram prompt lookup: finds the most recent earlier occurrence of the sequence's last n
// tokens (n from ngram_max down to 1) and proposes the tokens that followed it. No model;
// proposals are deterministic given the context (q is one-hot).
#ifndef LINSPEC_SCHEDULER_NGRAM_DRAFTER_H_
#define LINSPEC_SCHEDULER_NGRAM_DRAFTER_H_

#include <memory>
#include <vector>

#include "scheduler/drafter.h"

namespace linspec::scheduler {

// Up to k tokens following the latest earlier match of context's last n tokens.
std::vector<engine::TokenId> NgramLookup(absl::Span<const engine::TokenId> context, int ngram_max,
                                         int k);

std::unique_ptr<Drafter> MakeNgramDrafter(int ngram_max);

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_NGRAM_DRAFTER_H_
