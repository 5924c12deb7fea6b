#include "tools/eval/perplexity.h"

#include <algorithm>
#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace linspec::tools {
namespace {

using engine::TokenId;

// One document in flight: its full sequence and how much of it the engine has consumed.
struct DocRun {
  std::vector<TokenId> seq;  // [BOS] + ids + [EOS]
  size_t fed = 0;            // inputs seq[0..fed) are committed in the slot
  engine::SlotId slot = 0;
  size_t inputs() const { return seq.size() - 1; }
};

}  // namespace

double TokenNll(const float* row, int vocab_size, TokenId target) {
  float mx = row[0];
  for (int i = 1; i < vocab_size; ++i) mx = std::max(mx, row[i]);
  double sum = 0.0;
  for (int i = 0; i < vocab_size; ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
  return std::log(sum) + mx - static_cast<double>(row[target]);
}

absl::StatusOr<PerplexityResult> ComputePerplexity(engine::Engine& engine,
                                                   const std::vector<std::vector<TokenId>>& docs,
                                                   const PerplexityOptions& options) {
  const engine::ModelConfig& cfg = engine.config();
  if (cfg.bos_token_id < 0 || cfg.eos_token_ids.empty()) {
    return absl::InvalidArgumentError(
        "perplexity needs a model with bos_token_id and eos_token_id");
  }
  if (options.chunk_tokens <= 0 || options.batch_tokens < options.chunk_tokens) {
    return absl::InvalidArgumentError("need 0 < chunk_tokens <= batch_tokens");
  }
  const auto t0 = std::chrono::steady_clock::now();
  PerplexityResult result;
  std::vector<DocRun> active;
  std::vector<engine::SlotId> free_slots;
  for (int s = engine.num_slots() - 1; s >= 0; --s) free_slots.push_back(s);
  size_t next_doc = 0;
  engine::ForwardResult fr;
  while (next_doc < docs.size() || !active.empty()) {
    while (next_doc < docs.size() && !free_slots.empty()) {
      DocRun run;
      run.seq.push_back(cfg.bos_token_id);
      run.seq.insert(run.seq.end(), docs[next_doc].begin(), docs[next_doc].end());
      run.seq.push_back(cfg.eos_token_ids[0]);
      run.slot = free_slots.back();
      free_slots.pop_back();
      RETURN_IF_ERROR(engine.Release(run.slot));
      active.push_back(std::move(run));
      ++next_doc;
    }
    std::vector<engine::SeqChunk> chunks;
    std::vector<size_t> owner;  // active index of each chunk
    int budget = options.batch_tokens;
    for (size_t i = 0; i < active.size() && budget > 0; ++i) {
      DocRun& r = active[i];
      const int n = static_cast<int>(
          std::min<size_t>({r.inputs() - r.fed, static_cast<size_t>(options.chunk_tokens),
                            static_cast<size_t>(budget)}));
      engine::SeqChunk c;
      c.slot = r.slot;
      c.tokens = absl::MakeConstSpan(r.seq.data() + r.fed, n);
      c.pending = false;
      c.all_logits = true;
      chunks.push_back(c);
      owner.push_back(i);
      budget -= n;
    }
    RETURN_IF_ERROR(engine.Forward(chunks, engine::ForwardOptions{}, &fr));
    for (size_t c = 0; c < chunks.size(); ++c) {
      DocRun& r = active[owner[c]];
      for (size_t j = 0; j < chunks[c].tokens.size(); ++j) {
        const float* row =
            fr.logits.data() + static_cast<size_t>(fr.row_offset[c] + j) * fr.vocab_size;
        result.total_nll += TokenNll(row, fr.vocab_size, r.seq[r.fed + j + 1]);
      }
      result.num_tokens += static_cast<int64_t>(chunks[c].tokens.size());
      r.fed += chunks[c].tokens.size();
    }
    for (size_t i = active.size(); i-- > 0;) {
      if (active[i].fed == active[i].inputs()) {
        RETURN_IF_ERROR(engine.Release(active[i].slot));
        free_slots.push_back(active[i].slot);
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
        ++result.num_docs;
      }
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace linspec::tools
