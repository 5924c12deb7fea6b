// Perplexity of a model on tokenized documents through the Engine interface.
//
// Protocol (the same as tools/train/train.py): each document is scored as one sequence
// [BOS] + ids + [EOS]; every token after BOS (EOS included) is predicted from its full
// prefix, so the engine carries the recurrent state across its prefill chunks.
// ppl = exp(total NLL / predicted tokens). Documents run concurrently in the engine's slots
// (slots 0..num_slots-1 are used and released); each Forward takes up to chunk_tokens per
// document and at most batch_tokens in total.
// Thread-safety: drives one engine from the calling thread. Errors: the engine's status,
// InvalidArgument for a model without BOS/EOS ids or options that cannot make progress.
#ifndef LINSPEC_TOOLS_EVAL_PERPLEXITY_H_
#define LINSPEC_TOOLS_EVAL_PERPLEXITY_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace linspec::tools {

struct PerplexityOptions {
  int chunk_tokens = 256;   // tokens of one document per Forward
  int batch_tokens = 2048;  // tokens per Forward in total (<= engine max_batch_tokens)
};

struct PerplexityResult {
  double total_nll = 0.0;  // natural log
  int64_t num_tokens = 0;  // predicted tokens
  int num_docs = 0;
  double seconds = 0.0;
  double perplexity() const {
    return num_tokens > 0 ? std::exp(total_nll / static_cast<double>(num_tokens)) : 0.0;
  }
};

// -log softmax(row)[target] in double precision.
double TokenNll(const float* row, int vocab_size, engine::TokenId target);

absl::StatusOr<PerplexityResult> ComputePerplexity(
    engine::Engine& engine, const std::vector<std::vector<engine::TokenId>>& docs,
    const PerplexityOptions& options);

}  // namespace linspec::tools

#endif  // LINSPEC_TOOLS_EVAL_PERPLEXITY_H_
