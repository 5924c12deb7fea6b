// Stable lowercase names of scheduler enums, as used in metrics labels, logs and the OpenAI
// finish_reason field. Defined here so the server does not depend on the scheduler's .cc.
#ifndef LINSPEC_SERVER_NAMES_H_
#define LINSPEC_SERVER_NAMES_H_

#include "scheduler/metrics_observer.h"
#include "scheduler/request.h"

namespace linspec::server {

// "stop", "length", "cancelled", "deadline", "error".
const char* FinishReasonLabel(scheduler::FinishReason r);
// "prefill", "draft", "verify", "decode", "sample".
const char* StepPhaseLabel(scheduler::StepPhase p);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_NAMES_H_
