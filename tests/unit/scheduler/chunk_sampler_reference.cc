#include "tests/unit/scheduler/chunk_sampler_reference.h"

#include <algorithm>
#include <vector>

#include "scheduler/acceptance.h"
#include "scheduler/request.h"
#include "scheduler/sampler.h"

namespace linspec::testing {

engine::ChunkTokens ReferenceChunkTokens(absl::Span<const float> rows, int vocab,
                                         absl::Span<const engine::TokenId> drafts,
                                         const engine::ChunkSampling& s,
                                         std::vector<float>* probs) {
  if (!s.active) return {};
  const int k = static_cast<int>(drafts.size());
  scheduler::SamplingParams params;
  params.temperature = s.temperature;
  params.top_k = s.top_k;
  params.top_p = s.top_p;
  if (k == 0) {  // one draw from the (last) row, on the chunk's stream
    std::vector<float> p(vocab, 0.f);
    engine::TokenId t = 0;
    if (s.temperature == 0.f) {
      t = static_cast<engine::TokenId>(std::max_element(rows.data(), rows.data() + vocab) -
                                       rows.data());
      p[t] = 1.f;
    } else {
      scheduler::ToProbs(rows.data(), vocab, params, &p);
      t = scheduler::SampleFromProbs(p.data(), vocab,
                                     scheduler::UniformAt(s.seed, s.first_index, s.stream));
    }
    if (s.want_probs && probs != nullptr) probs->insert(probs->end(), p.begin(), p.end());
    return engine::ChunkTokens{0, t};
  }
  scheduler::AcceptResult acc;
  if (s.temperature == 0.f) {
    std::vector<engine::TokenId> argmax(k + 1);
    for (int i = 0; i <= k; ++i) {
      const float* r = rows.data() + static_cast<size_t>(i) * vocab;
      argmax[i] = static_cast<engine::TokenId>(std::max_element(r, r + vocab) - r);
    }
    acc = scheduler::AcceptGreedy(drafts, argmax);
  } else {
    std::vector<float> row_probs;
    scheduler::SampledAcceptInput in;
    in.drafts = drafts;
    in.draft_probs = s.draft_probs;
    in.target_row = [&](int i) {
      scheduler::ToProbs(rows.data() + static_cast<size_t>(i) * vocab, vocab, params, &row_probs);
      return static_cast<const float*>(row_probs.data());
    };
    in.vocab = vocab;
    in.seed = s.seed;
    in.first_index = s.first_index;
    acc = scheduler::AcceptSampled(in);
  }
  return engine::ChunkTokens{acc.num_accepted, acc.next};
}

}  // namespace linspec::testing
