// Draft-model drafter: a small model with the same tokenizer proposes k tokens per sequence
// with k batched Forward calls on its own engine (slot ids shared with the target).
//
// The draft slot is built lazily: a sequence that is not drafting (k = 0) costs the draft
// model nothing, not even its prompt. When a sequence is chosen to draft, the tokens it
// has not fed yet (its lag: the prompt and everything generated since it last drafted, or
// just the last sampled token, plus the last proposal when every proposal was accepted)
// are fed, committed, in the first Forward of that Propose together with every other
// drafting sequence's lag, and the same Forward draws proposal 1. Linear attention makes a
// long lag a cheap chunked prefill. A lag longer than catchup_token_budget (shared by the
// batch) is fed in part and that sequence proposes nothing this step. Proposals 2..k are
// fed with pending=true; Commit keeps the accepted ones.
//
// Thread-safety: none (the engine loop thread).
#ifndef LINSPEC_SCHEDULER_DRAFT_MODEL_DRAFTER_H_
#define LINSPEC_SCHEDULER_DRAFT_MODEL_DRAFTER_H_

#include <memory>

#include "scheduler/drafter.h"
#include "scheduler/step_clock.h"

namespace linspec::scheduler {

struct DraftModelDrafterOptions {
  engine::Engine* engine = nullptr;  // borrowed
  int catchup_token_budget = 512;    // committed catch-up tokens per Propose
  // Draw proposals on the draft engine's device when it can (Engine::samples_on_device):
  // only the token and its q row come back; else from copied logits on the host.
  bool device_sampling = true;
  // Times each Forward for Drafter::last_forwards. Borrowed; null = SteadyStepClock().
  const StepClock* clock = nullptr;
};

std::unique_ptr<Drafter> MakeDraftModelDrafter(const DraftModelDrafterOptions& options);

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_DRAFT_MODEL_DRAFTER_H_
