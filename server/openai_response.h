// OpenAI-shaped response bodies: text_completion / chat.completion objects, streaming chunks,
// the usage chunk, and /v1/models. Pure functions producing compact JSON.
#ifndef LINSPEC_SERVER_OPENAI_RESPONSE_H_
#define LINSPEC_SERVER_OPENAI_RESPONSE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/request.h"

namespace linspec::server {

struct ResponseMeta {
  bool chat = false;
  std::string id;  // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;
  std::string model;
};

struct ChoiceOutput {
  int index = 0;
  std::string text;
  std::string finish_reason;  // "stop" | "length"
};

struct UsageTotals {
  int prompt_tokens = 0;
  int completion_tokens = 0;
};

std::string CompletionResponseJson(const ResponseMeta& meta,
                                   const std::vector<ChoiceOutput>& choices,
                                   const UsageTotals& usage);
// One streamed delta of one choice. finish_reason empty: null. Chat: role_first adds
// "role":"assistant" to the delta (first chunk of a choice).
std::string CompletionChunkJson(const ResponseMeta& meta, int index, const std::string& text,
                                const std::string& finish_reason, bool role_first);
// The stream_options.include_usage chunk: "choices": [] and the usage object.
std::string UsageChunkJson(const ResponseMeta& meta, const UsageTotals& usage);
std::string ModelsJson(const std::string& model_name, int64_t created, int max_model_len);

// "stop"/"length" for OpenAI; cancelled/deadline/error have no OpenAI equivalent (the caller
// reports them as errors).
std::string OpenAiFinishReason(scheduler::FinishReason r);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_OPENAI_RESPONSE_H_
