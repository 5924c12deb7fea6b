#include "engine/cuda/step_plan.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace linspec::engine::cuda {

absl::Status BuildStepPlan(absl::Span<const SeqChunk> chunks,
                           const std::vector<SlotCursor>& cursors, const PlanLimits& limits,
                           StepPlan* plan) {
  *plan = StepPlan();
  if (chunks.empty()) return absl::InvalidArgumentError("Forward: no chunks");
  std::vector<bool> seen(limits.num_slots, false);
  int64_t total = 0;
  for (const SeqChunk& c : chunks) {
    if (c.slot < 0 || c.slot >= limits.num_slots) {
      return absl::InvalidArgumentError(
          absl::StrCat("Forward: slot ", c.slot, " out of range [0, ", limits.num_slots, ")"));
    }
    if (seen[c.slot]) {
      return absl::InvalidArgumentError(absl::StrCat("Forward: slot ", c.slot, " appears twice"));
    }
    seen[c.slot] = true;
    if (c.tokens.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("Forward: empty chunk for slot ", c.slot));
    }
    const SlotCursor& cur = cursors[c.slot];
    if (!c.pending && cur.pending > 0) {
      return absl::InvalidArgumentError(absl::StrCat("Forward: committed chunk for slot ", c.slot,
                                                     " which has ", cur.pending,
                                                     " pending tokens (Commit first)"));
    }
    if (c.pending && cur.pending + static_cast<int64_t>(c.tokens.size()) > limits.max_pending) {
      return absl::ResourceExhaustedError(
          absl::StrCat("Forward: slot ", c.slot, " pending area overflows (", cur.pending, " + ",
                       c.tokens.size(), " > ", limits.max_pending, ")"));
    }
    for (TokenId t : c.tokens) {
      if (t < 0 || t >= limits.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("Forward: token id ", t, " out of range [0, ", limits.vocab_size, ")"));
      }
    }
    if (cur.position + cur.pending + static_cast<int64_t>(c.tokens.size()) >
        std::numeric_limits<int32_t>::max() / 2) {
      return absl::InvalidArgumentError("Forward: sequence too long");
    }
    total += static_cast<int64_t>(c.tokens.size());
  }
  if (total > limits.max_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("Forward: ", total, " tokens exceed max_batch_tokens ", limits.max_tokens));
  }
  plan->num_tokens = static_cast<int>(total);
  plan->num_seqs = static_cast<int>(chunks.size());
  plan->tokens.reserve(total);
  plan->positions.reserve(total);
  plan->row_map.reserve(total);
  int row = 0;
  for (const SeqChunk& c : chunks) {
    const SlotCursor& cur = cursors[c.slot];
    const int n = static_cast<int>(c.tokens.size());
    kernels::LinearAttentionSeq s;
    s.slot = c.slot;
    s.token_offset = static_cast<int32_t>(plan->tokens.size());
    s.num_new = n;
    s.fold_pos = static_cast<int32_t>(cur.fold);
    s.start_pos = static_cast<int32_t>(cur.position + cur.pending);
    s.commit_pos = static_cast<int32_t>(c.pending ? cur.position : cur.position + n);
    plan->seqs.push_back(s);
    plan->row_offset.push_back(row);
    for (int i = 0; i < n; ++i) {
      plan->tokens.push_back(c.tokens[i]);
      plan->positions.push_back(s.start_pos + i);
      const bool out = c.all_logits || i == n - 1;
      plan->row_map.push_back(out ? row++ : -1);
    }
    SlotCursor next = cur;
    if (c.pending) {
      next.pending += n;
    } else {
      next.position += n;
    }
    next.fold = kernels::FoldPosAfter(cur.fold, s.commit_pos, limits.group_size);
    plan->after.push_back(next);
  }
  plan->num_rows = row;
  return absl::OkStatus();
}

}  // namespace linspec::engine::cuda
