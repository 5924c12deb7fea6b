// Checks a request before it is queued, so that nothing a client controls can reach the
// engine loop in a bad state.
//
// Status codes: InvalidArgument with a message naming the field and the allowed range.
#ifndef LINSPEC_SCHEDULER_VALIDATION_H_
#define LINSPEC_SCHEDULER_VALIDATION_H_

#include "absl/status/status.h"
#include "scheduler/request.h"
#include "scheduler/scheduler.h"

namespace linspec::scheduler {

struct ValidationLimits {
  int vocab_size = 0;
  int max_prompt_tokens = 0;
  int max_tokens_limit = 0;
  int max_stop_strings = 0;
  int max_stop_string_bytes = 0;
  bool have_tokenizer = true;  // stop strings need text
};

ValidationLimits LimitsFromOptions(const SchedulerOptions& options, int vocab_size,
                                   bool have_tokenizer);

absl::Status ValidateRequest(const GenerateRequest& request, const ValidationLimits& limits);

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_VALIDATION_H_
