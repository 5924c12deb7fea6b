// Scheduler::Create: validates options and engines, builds the drafter, starts the loop.
#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "scheduler/batch_scheduler.h"
#include "scheduler/draft_model_drafter.h"
#include "scheduler/ngram_drafter.h"

namespace linspec::scheduler {

namespace {

absl::Status ValidateOptions(const SchedulerOptions& o) {
  if (o.max_queue < 0) return absl::InvalidArgumentError("max_queue must be >= 0");
  if (o.max_prompt_tokens < 1) return absl::InvalidArgumentError("max_prompt_tokens must be >= 1");
  if (o.max_tokens_limit < 1) return absl::InvalidArgumentError("max_tokens_limit must be >= 1");
  if (o.max_stop_strings < 0 || o.max_stop_string_bytes < 1) {
    return absl::InvalidArgumentError("max_stop_strings must be >= 0, max_stop_string_bytes >= 1");
  }
  if (o.prefill_token_budget < 1) {
    return absl::InvalidArgumentError("prefill_token_budget must be >= 1");
  }
  if (o.num_draft_tokens < 0) return absl::InvalidArgumentError("num_draft_tokens must be >= 0");
  if (o.ngram_max < 1) return absl::InvalidArgumentError("ngram_max must be >= 1");
  if (o.max_running < 0) return absl::InvalidArgumentError("max_running must be >= 0");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> CreateSchedulerWithDrafter(
    const SchedulerOptions& options, engine::Engine* target, engine::Engine* draft,
    const engine::Tokenizer* tokenizer, MetricsObserver* observer,
    std::unique_ptr<Drafter> drafter) {
  if (target == nullptr) return absl::InvalidArgumentError("a target engine is required");
  if (drafter == nullptr) return absl::InvalidArgumentError("a drafter is required");
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  const int vocab = target->config().vocab_size;
  if (vocab <= 0) return absl::InvalidArgumentError("the target model has no vocabulary");
  if (tokenizer != nullptr && tokenizer->vocab_size() > vocab) {
    return absl::InvalidArgumentError(absl::StrCat("the tokenizer has ", tokenizer->vocab_size(),
                                                   " tokens but the model only ", vocab));
  }
  if (options.num_draft_tokens > target->max_pending() - 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_draft_tokens ", options.num_draft_tokens,
                     " exceeds what the target's pending area holds (", target->max_pending() - 1,
                     "); raise EngineOptions::max_draft_tokens"));
  }
  int num_slots = target->num_slots();
  if (draft != nullptr) {
    if (draft->config().vocab_size != vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("the draft model's vocabulary (", draft->config().vocab_size,
                       ") differs from the target's (", vocab, "); they must share the tokenizer"));
    }
    if (options.num_draft_tokens > draft->max_pending() + 1) {
      return absl::InvalidArgumentError("num_draft_tokens exceeds the draft's pending area");
    }
    num_slots = std::min(num_slots, draft->num_slots());
  }
  if (options.max_running > 0) num_slots = std::min(num_slots, options.max_running);
  if (num_slots < 1) return absl::InvalidArgumentError("the engine has no slots");
  if (options.max_batch_tokens <= num_slots) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch_tokens (", options.max_batch_tokens,
                                                   ") must exceed the number of slots (", num_slots,
                                                   ")"));
  }
  return std::unique_ptr<Scheduler>(std::make_unique<BatchScheduler>(
      options, target, draft, tokenizer, observer, std::move(drafter), num_slots));
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(const SchedulerOptions& options,
                                                             engine::Engine* target,
                                                             engine::Engine* draft,
                                                             const engine::Tokenizer* tokenizer,
                                                             MetricsObserver* observer) {
  std::unique_ptr<Drafter> drafter;
  switch (options.drafter) {
    case DrafterKind::kNone:
      drafter = MakeNoDrafter();
      break;
    case DrafterKind::kNgram:
      drafter = MakeNgramDrafter(options.ngram_max);
      break;
    case DrafterKind::kDraftModel: {
      if (draft == nullptr) {
        return absl::InvalidArgumentError("drafter draft_model needs a draft engine");
      }
      DraftModelDrafterOptions d;
      d.engine = draft;
      // The draft's first Forward carries the catch-up chunks plus every other drafting
      // sequence's short lag (up to k + 1 tokens each): keep it within max_batch_tokens.
      // Not tied to prefill_token_budget: a lag that fits is caught up in one Forward, so
      // a sequence drafts (and draws) the same k whatever the batch (reproducibility).
      d.catchup_token_budget =
          std::max(1, options.max_batch_tokens -
                          (options.num_draft_tokens + 1) * std::max(1, draft->num_slots()));
      d.device_sampling = options.device_sampling;
      d.clock = options.clock;
      drafter = MakeDraftModelDrafter(d);
      break;
    }
  }
  SchedulerOptions o = options;
  if (o.drafter == DrafterKind::kNone) o.num_draft_tokens = 0;
  engine::Engine* d = o.drafter == DrafterKind::kDraftModel ? draft : nullptr;
  return CreateSchedulerWithDrafter(o, target, d, tokenizer, observer, std::move(drafter));
}

}  // namespace linspec::scheduler
