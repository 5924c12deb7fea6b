#include "server/names.h"

namespace linspec::server {

const char* FinishReasonLabel(scheduler::FinishReason r) {
  switch (r) {
    case scheduler::FinishReason::kStop:
      return "stop";
    case scheduler::FinishReason::kLength:
      return "length";
    case scheduler::FinishReason::kCancelled:
      return "cancelled";
    case scheduler::FinishReason::kDeadline:
      return "deadline";
    case scheduler::FinishReason::kError:
      return "error";
  }
  return "error";
}

const char* StepPhaseLabel(scheduler::StepPhase p) {
  switch (p) {
    case scheduler::StepPhase::kPrefill:
      return "prefill";
    case scheduler::StepPhase::kDraft:
      return "draft";
    case scheduler::StepPhase::kVerify:
      return "verify";
    case scheduler::StepPhase::kDecode:
      return "decode";
    case scheduler::StepPhase::kSample:
      return "sample";
  }
  return "unknown";
}

}  // namespace linspec::server
