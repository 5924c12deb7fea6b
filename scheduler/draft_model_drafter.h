// Draft-model drafter: a small model with the same tokenizer proposes k tokens per sequence
// with k batched Forward calls on its own engine (slot ids shared with the target).
//
// The draft slot lags the sequence: tokens the target has committed (and the last sampled
// token) that the draft has not seen are fed, committed, in the first Forward of the next
// Propose — usually one token, two when every proposal was accepted (the last proposal was
// never fed to the draft). Proposals 2..k are fed with pending=true; Commit keeps the
// accepted ones. Catch-up of a long lag (prompt, or a sequence that decoded with k = 0) is
// chunked by catchup_token_budget per Propose.
#ifndef LINSPEC_SCHEDULER_DRAFT_MODEL_DRAFTER_H_
#define LINSPEC_SCHEDULER_DRAFT_MODEL_DRAFTER_H_

#include <memory>

#include "scheduler/drafter.h"

namespace linspec::scheduler {

struct DraftModelDrafterOptions {
  engine::Engine* engine = nullptr;  // borrowed
  int catchup_token_budget = 512;    // committed catch-up tokens per Propose
  // A sequence decoding with k = 0 is caught up once it lags by this many tokens. Large, so
  // that a server where speculation does not pay (k = 0 for everyone) runs few draft
  // forwards: each catch-up forward costs about one draft step whatever its length.
  int max_lag_tokens = 256;
  // Draw proposals on the draft engine's device when it can (Engine::samples_on_device):
  // only the token and its q row come back; else from copied logits on the host.
  bool device_sampling = true;
};

std::unique_ptr<Drafter> MakeDraftModelDrafter(const DraftModelDrafterOptions& options);

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_DRAFT_MODEL_DRAFTER_H_
