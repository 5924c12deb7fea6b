// Names of the scheduler's enums, as the server prints them in APIs and metrics labels.
#include "scheduler/metrics_observer.h"
#include "scheduler/request.h"
#include "scheduler/scheduler.h"

namespace linspec::scheduler {

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kDeadline:
      return "deadline";
    case FinishReason::kError:
      return "error";
  }
  return "unknown";
}

const char* StepPhaseName(StepPhase p) {
  switch (p) {
    case StepPhase::kPrefill:
      return "prefill";
    case StepPhase::kDraft:
      return "draft";
    case StepPhase::kVerify:
      return "verify";
    case StepPhase::kDecode:
      return "decode";
    case StepPhase::kSample:
      return "sample";
  }
  return "unknown";
}

const char* DrafterKindName(DrafterKind k) {
  switch (k) {
    case DrafterKind::kNone:
      return "none";
    case DrafterKind::kDraftModel:
      return "draft_model";
    case DrafterKind::kNgram:
      return "ngram";
  }
  return "unknown";
}

}  // namespace linspec::scheduler
