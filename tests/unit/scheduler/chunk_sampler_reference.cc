#include "tests/unit/scheduler/chunk_sampler_reference.h"

#include <algorithm>
#include <vector>

#include "scheduler/acceptance.h"
#include "scheduler/request.h"
#include "scheduler/sampler.h"

namespace linspec::testing {

engine::ChunkTokens ReferenceChunkTokens(absl::Span<const float> rows, int vocab,
                                         absl::Span<const engine::TokenId> drafts,
                                         const engine::ChunkSampling& s) {
  if (!s.active) return {};
  const int k = static_cast<int>(drafts.size());
  scheduler::AcceptResult acc;
  if (s.temperature == 0.f) {
    std::vector<engine::TokenId> argmax(k + 1);
    for (int i = 0; i <= k; ++i) {
      const float* r = rows.data() + static_cast<size_t>(i) * vocab;
      argmax[i] = static_cast<engine::TokenId>(std::max_element(r, r + vocab) - r);
    }
    acc = scheduler::AcceptGreedy(drafts, argmax);
  } else {
    scheduler::SamplingParams params;
    params.temperature = s.temperature;
    params.top_k = s.top_k;
    params.top_p = s.top_p;
    std::vector<float> probs;
    scheduler::SampledAcceptInput in;
    in.drafts = drafts;
    in.draft_probs = s.draft_probs;
    in.target_row = [&](int i) {
      scheduler::ToProbs(rows.data() + static_cast<size_t>(i) * vocab, vocab, params, &probs);
      return static_cast<const float*>(probs.data());
    };
    in.vocab = vocab;
    in.seed = s.seed;
    in.first_index = s.first_index;
    acc = scheduler::AcceptSampled(in);
  }
  return engine::ChunkTokens{acc.num_accepted, acc.next};
}

}  // namespace linspec::testing
