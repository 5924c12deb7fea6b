// The host twin of engine-side sampling (engine.h ChunkSampling), built from the scheduler's
// host sampler and acceptance: what a backend that samples on its device must return. Used by
// the fake engine's device-sampling mode and by the CUDA sampling parity test.
#ifndef LINSPEC_TESTS_UNIT_SCHEDULER_CHUNK_SAMPLER_REFERENCE_H_
#define LINSPEC_TESTS_UNIT_SCHEDULER_CHUNK_SAMPLER_REFERENCE_H_

#include <vector>

#include "absl/types/span.h"
#include "engine/engine.h"

namespace linspec::testing {

// rows: the chunk's logits rows, [drafts.size() + 1, vocab] (a committed chunk: its last row).
// With s.want_probs (no drafts), the distribution drawn from is appended to *probs.
engine::ChunkTokens ReferenceChunkTokens(absl::Span<const float> rows, int vocab,
                                         absl::Span<const engine::TokenId> drafts,
                                         const engine::ChunkSampling& s,
                                         std::vector<float>* probs = nullptr);

}  // namespace linspec::testing

#endif  // LINSPEC_TESTS_UNIT_SCHEDULER_CHUNK_SAMPLER_REFERENCE_H_
