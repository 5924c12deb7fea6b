// Per-request output state: counts generated tokens, turns them into streamed text and
// decides when the request stops (EOS, stop token ids, stop strings, max_tokens).
//
// Stop strings are matched across token boundaries: text is held back (never more than the
// longest stop string minus one byte, and never splitting a UTF-8 character) until it can no
// longer be the start of a stop string; text from a stop string on is trimmed. Tokens after
// the one that stops the request (EOS, stop string, max_tokens) are dropped, so max_tokens is
// exact even when one step accepts several tokens.
//
// Thread-safety: none; owned by one sequence on the engine loop thread.
#ifndef LINSPEC_SCHEDULER_STOP_CHECKER_H_
#define LINSPEC_SCHEDULER_STOP_CHECKER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "engine/tokenizer/tokenizer.h"
#include "scheduler/request.h"

namespace linspec::scheduler {

class StopChecker {
 public:
  // tokenizer may be null (no text is produced; stop strings must then be empty).
  // eos_ids: the model's end-of-sequence ids (ignored when params.ignore_eos).
  StopChecker(const SamplingParams& params, std::vector<engine::TokenId> eos_ids,
              const engine::Tokenizer* tokenizer, absl::Span<const engine::TokenId> prompt);

  struct Outcome {
    TokenDelta delta;                    // what to stream now (may be empty)
    std::optional<FinishReason> finish;  // set when the request is complete
  };

  // Appends tokens produced by one step, in order.
  Outcome Append(absl::Span<const engine::TokenId> tokens);

  // Text still held back, for a request that ends for another reason (deadline, cancel).
  std::string FlushText();

  int num_tokens() const { return num_tokens_; }
  bool finished() const { return finished_; }

 private:
  bool IsStopToken(engine::TokenId t) const;
  // Moves held text that cannot start a stop string into out.
  void ReleaseSafeText(std::string* out);
  // Position of the earliest stop string in held_, or npos.
  size_t FindStop() const;

  int max_tokens_;
  std::vector<std::string> stop_strings_;
  std::vector<engine::TokenId> stop_ids_;
  size_t hold_bytes_ = 0;  // longest stop string - 1
  std::unique_ptr<engine::IncrementalDetokenizer> detok_;
  std::string held_;
  int num_tokens_ = 0;
  bool finished_ = false;
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_STOP_CHECKER_H_
