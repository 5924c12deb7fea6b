// Request, sampling parameters, streamed deltas and final results. Plain data.
#ifndef LINSPEC_SCHEDULER_REQUEST_H_
#define LINSPEC_SCHEDULER_REQUEST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "engine/types.h"

namespace linspec::scheduler {

using engine::TokenId;

struct SamplingParams {
  float temperature = 1.0f;      // 0: greedy
  int top_k = 0;                 // 0: disabled
  float top_p = 1.0f;            // (0, 1]
  std::optional<uint64_t> seed;  // unset: drawn from the scheduler's generator
  int max_tokens = 16;
  std::vector<std::string> stop;  // stop strings, matched across token boundaries
  std::vector<TokenId> stop_token_ids;
  bool ignore_eos = false;
};

enum class FinishReason { kStop, kLength, kCancelled, kDeadline, kError };
const char* FinishReasonName(FinishReason r);  // "stop", "length", "cancelled", ...

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int draft_tokens = 0;     // proposed by the drafter
  int accepted_tokens = 0;  // accepted by the target
};

// One engine step's output for one request: several tokens when several were accepted.
struct TokenDelta {
  std::vector<TokenId> token_ids;
  std::string text;  // UTF-8 delta (never splits a character); stop strings trimmed
};

struct FinalResult {
  FinishReason finish_reason = FinishReason::kStop;
  absl::Status status;  // non-ok only for kError / kDeadline / kCancelled
  Usage usage;
  double queue_seconds = 0;
  double time_to_first_token_seconds = 0;
  double e2e_seconds = 0;
};

// Receives a request's output. Called on the scheduler thread, in order: zero or more
// OnDelta, then exactly one OnFinish (also for requests that fail after admission).
// Must not block; a slow consumer should buffer. After OnFinish the scheduler drops its
// reference.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void OnDelta(const TokenDelta& delta) = 0;
  virtual void OnFinish(const FinalResult& result) = 0;
};

struct GenerateRequest {
  std::string request_id;       // for logs; the scheduler assigns one when empty
  std::vector<TokenId> prompt;  // already tokenized (BOS included when wanted)
  SamplingParams sampling;
  int priority = 0;  // higher first among waiting requests
  std::optional<TimePoint> deadline;
  std::shared_ptr<RequestSink> sink;
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_REQUEST_H_
