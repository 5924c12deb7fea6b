// Host side of on-device sampling: checks ForwardOptions::sampling against the chunks, lays
// out one kernels::SampleChunk per chunk in the step metadata and uploads proposal rows.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/cuda/cuda_engine.h"
#include "kernels/sampling.h"

namespace linspec::engine::cuda {
namespace {

absl::Status CheckParams(size_t i, const ChunkSampling& s) {
  if (!(s.temperature >= 0.f) || !std::isfinite(s.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling[", i, "]: temperature must be finite and >= 0"));
  }
  if (!(s.top_p > 0.f && s.top_p <= 1.f)) {
    return absl::InvalidArgumentError(absl::StrCat("sampling[", i, "]: top_p must be in (0, 1]"));
  }
  if (s.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sampling[", i, "]: top_k must be >= 0"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CudaEngine::EnsureProposalRows(int rows) {
  if (rows <= q_rows_capacity_) return absl::OkStatus();
  // Sized once for the largest verify the engine can take; graphs that sample baked in the
  // old (null) address, so they are dropped and re-captured.
  const int capacity = std::max(rows, std::min(max_tokens_, num_slots() * (max_pending_ - 1)));
  RETURN_IF_ERROR(Fail(CudaStatus(cudaStreamSynchronize(stream_), "proposal rows")));
  RETURN_IF_ERROR(q_rows_.Allocate(size_t(capacity) * config_.vocab_size * 4, "proposal rows"));
  q_rows_capacity_ = capacity;
  for (auto it = graphs_.begin(); it != graphs_.end();) {
    if (it->first.sample) {
      cudaGraphExecDestroy(it->second);
      it = graphs_.erase(it);
    } else {
      ++it;
    }
  }
  return absl::OkStatus();
}

absl::Status CudaEngine::PrepareSampling(absl::Span<const SeqChunk> chunks,
                                         absl::Span<const ChunkSampling> sampling,
                                         const StepPlan& plan) {
  if (sampling.size() != chunks.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Forward: ", sampling.size(), " sampling entries for ", chunks.size(), " chunks"));
  }
  const size_t vocab = config_.vocab_size;
  int q_rows = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ChunkSampling& s = sampling[i];
    if (!s.active) continue;
    RETURN_IF_ERROR(CheckParams(i, s));
    const size_t k = chunks[i].pending ? chunks[i].tokens.size() - 1 : 0;
    if (k > 0 && !chunks[i].all_logits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampling[", i, "]: a pending chunk is sampled from all its rows (all_logits)"));
    }
    if (!s.draft_probs.empty() && s.draft_probs.size() != k * vocab) {
      return absl::InvalidArgumentError(absl::StrCat("sampling[", i, "]: draft_probs has ",
                                                     s.draft_probs.size(), " values, want ", k,
                                                     " x ", vocab));
    }
    if (!s.draft_probs.empty()) q_rows += static_cast<int>(k);
    if (s.want_probs && k > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampling[", i, "]: want_probs is for chunks without drafts"));
    }
  }
  if (q_rows > 0) RETURN_IF_ERROR(EnsureProposalRows(q_rows));
  auto* out = reinterpret_cast<kernels::SampleChunk*>(
      meta_host_.get<char>() + SampleMetaOffset(plan.num_tokens, plan.num_seqs));
  int q_next = 0;
  probs_rows_used_ = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ChunkSampling& s = sampling[i];
    kernels::SampleChunk c;
    c.active = s.active ? 1 : 0;
    c.num_drafts = chunks[i].pending ? static_cast<int>(chunks[i].tokens.size()) - 1 : 0;
    // A committed chunk's token follows its last row (its only row unless all_logits).
    c.first_row = plan.row_offset[i] + (chunks[i].all_logits && c.num_drafts == 0
                                            ? static_cast<int>(chunks[i].tokens.size()) - 1
                                            : 0);
    c.draft_token = plan.seqs[i].token_offset + 1;
    c.temperature = s.temperature;
    c.top_k = s.top_k;
    c.top_p = s.top_p;
    c.seed = s.seed;
    c.first_index = s.first_index;
    c.stream = static_cast<uint32_t>(s.stream);
    if (s.active && s.want_probs) c.probs_row = probs_rows_used_++;
    if (s.active && !s.draft_probs.empty() && c.num_drafts > 0) {
      c.q_row = q_next;
      RETURN_IF_ERROR(Fail(CudaStatus(
          cudaMemcpyAsync(q_rows_.get<float>() + size_t(q_next) * vocab, s.draft_probs.data(),
                          s.draft_probs.size() * 4, cudaMemcpyHostToDevice, stream_),
          "proposal rows upload")));
      q_next += c.num_drafts;
    }
    out[i] = c;
  }
  return absl::OkStatus();
}

}  // namespace linspec::engine::cuda
