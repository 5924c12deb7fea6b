// Parsing and validation of OpenAI-shaped request bodies (/v1/completions,
// /v1/chat/completions, /tokenize, /detokenize). Pure functions, thread-safe.
//
// Errors are InvalidArgument with a message a user can act on; *error_param names the
// offending field (OpenAI's "param"). Unsupported features that a client may reasonably send
// (logprobs, echo, suffix, penalties, logit_bias, tools) are rejected with a clear message
// instead of being silently ignored.
#ifndef LINSPEC_SERVER_OPENAI_REQUEST_H_
#define LINSPEC_SERVER_OPENAI_REQUEST_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/types.h"
#include "scheduler/request.h"
#include "server/chat_template.h"

namespace linspec::server {

struct RequestLimits {
  int max_n = 8;                // choices per prompt
  int max_prompts = 16;         // prompts per /v1/completions request
  int max_tokens_limit = 4096;  // max_tokens above -> 400
  int default_max_tokens = 16;  // completions default (OpenAI)
  int default_chat_max_tokens = 256;
  int max_stop_strings = 8;
  int max_stop_string_bytes = 256;
  int vocab_size = 0;  // >0: token ids must be in [0, vocab_size)
};

// One prompt: either text or token ids.
struct PromptInput {
  bool is_tokens = false;
  std::string text;
  std::vector<engine::TokenId> token_ids;
};

struct CompletionRequest {
  bool chat = false;
  std::string model;                  // empty when absent
  std::vector<PromptInput> prompts;   // completions: one or more
  std::vector<ChatMessage> messages;  // chat
  scheduler::SamplingParams sampling;
  int n = 1;
  bool stream = false;
  bool include_usage = false;      // stream_options.include_usage
  bool add_special_tokens = true;  // extra field (vLLM); chat uses the template's choice
  bool skip_special_tokens = true;
};

absl::StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body, bool chat,
                                                         const RequestLimits& limits,
                                                         std::string* error_param);

struct TokenizeRequestJson {
  std::string model;
  std::string text;                   // "prompt" (vLLM) or "text"
  std::vector<ChatMessage> messages;  // vLLM chat form: rendered with the chat template
  bool add_special_tokens = true;
};
absl::StatusOr<TokenizeRequestJson> ParseTokenizeRequest(std::string_view body,
                                                         std::string* error_param);

struct DetokenizeRequestJson {
  std::string model;
  std::vector<engine::TokenId> tokens;
  bool skip_special_tokens = true;
};
absl::StatusOr<DetokenizeRequestJson> ParseDetokenizeRequest(std::string_view body,
                                                             const RequestLimits& limits,
                                                             std::string* error_param);

// Range checks shared by the HTTP and gRPC front ends.
absl::Status ValidateSampling(const scheduler::SamplingParams& s, const RequestLimits& limits,
                              std::string* error_param);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_OPENAI_REQUEST_H_
