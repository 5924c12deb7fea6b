// Draft/target speculative decoding statistics through the Engine interface (DESIGN.md §4).
//
// All prompts run concurrently, prompt i in slot i of both engines (so at most
// min(num_slots) prompts per call; slots are released before and after). One step per
// sequence: the draft proposes k tokens (k single-token pending forwards; the first also
// feeds tokens the draft has not seen yet), the target verifies [last, d1..dk] in one
// pending forward with all logits, acceptance runs, and both engines commit the accepted
// prefix (rejection is a cursor move). Temperature 0: accept while d_j equals the target
// argmax, then take the target argmax. Temperature > 0: rejection sampling (accept with
// min(1, p/q), else draw from norm(max(0, p - q)); bonus token from p), so the output
// distribution is the target's. k = 0 (or no draft) is plain target-only decoding.
// Each sequence samples with its own generator seeded from (seed, prompt index).
//
// Thread-safety: drives the engines from the calling thread. Errors: engine statuses;
// InvalidArgument when k exceeds an engine's pending capacity, vocabularies differ, or there
// are more prompts than slots.
#ifndef LINSPEC_TOOLS_EVAL_SPECULATIVE_H_
#define LINSPEC_TOOLS_EVAL_SPECULATIVE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace linspec::tools {

struct SpeculativeOptions {
  int k = 4;                 // draft tokens per step; 0 = no speculation
  float temperature = 0.0f;  // 0 = greedy
  int max_new_tokens = 64;
  bool stop_at_eos = true;
  uint64_t seed = 1;
  int batch_tokens = 2048;  // prefill budget per Forward
};

struct SpeculativeResult {
  int64_t sequences = 0;
  int64_t steps = 0;                 // target forwards per sequence, summed (prefill excluded)
  int64_t drafted = 0;               // draft tokens proposed
  int64_t accepted = 0;              // draft tokens accepted
  int64_t generated = 0;             // tokens emitted (after truncation to max_new_tokens)
  std::vector<int64_t> accepted_at;  // [k]: steps whose draft token j was accepted
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  std::vector<std::vector<engine::TokenId>> outputs;  // per prompt

  double mean_accepted() const { return steps ? double(accepted) / double(steps) : 0.0; }
  double acceptance_rate() const { return drafted ? double(accepted) / double(drafted) : 0.0; }
  double tokens_per_second() const {
    return decode_seconds > 0 ? double(generated) / decode_seconds : 0.0;
  }
};

// draft may be null when options.k == 0. prompts must be non-empty token lists.
absl::StatusOr<SpeculativeResult> RunSpeculative(
    engine::Engine& target, engine::Engine* draft,
    const std::vector<std::vector<engine::TokenId>>& prompts, const SpeculativeOptions& options);

}  // namespace linspec::tools

#endif  // LINSPEC_TOOLS_EVAL_SPECULATIVE_H_
