#include "server/openai_response.h"

#include <string>

#include "nlohmann/json.hpp"

namespace linspec::server {
namespace {

using nlohmann::json;

std::string Dump(const json& j) {
  // Model output may contain invalid UTF-8 only if the detokenizer misbehaves; never throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json Header(const ResponseMeta& meta, bool chunk) {
  json j;
  j["id"] = meta.id;
  j["object"] =
      meta.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  j["created"] = meta.created;
  j["model"] = meta.model;
  return j;
}

json UsageObject(const UsageTotals& u) {
  return json{{"prompt_tokens", u.prompt_tokens},
              {"completion_tokens", u.completion_tokens},
              {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json FinishOrNull(const std::string& r) { return r.empty() ? json() : json(r); }

}  // namespace

std::string CompletionResponseJson(const ResponseMeta& meta,
                                   const std::vector<ChoiceOutput>& choices,
                                   const UsageTotals& usage) {
  json j = Header(meta, /*chunk=*/false);
  json arr = json::array();
  for (const auto& c : choices) {
    json choice{{"index", c.index},
                {"logprobs", nullptr},
                {"finish_reason", FinishOrNull(c.finish_reason)}};
    if (meta.chat) {
      choice["message"] = json{{"role", "assistant"}, {"content", c.text}};
    } else {
      choice["text"] = c.text;
    }
    arr.push_back(std::move(choice));
  }
  j["choices"] = std::move(arr);
  j["usage"] = UsageObject(usage);
  return Dump(j);
}

std::string CompletionChunkJson(const ResponseMeta& meta, int index, const std::string& text,
                                const std::string& finish_reason, bool role_first) {
  json j = Header(meta, /*chunk=*/true);
  json choice{
      {"index", index}, {"logprobs", nullptr}, {"finish_reason", FinishOrNull(finish_reason)}};
  if (meta.chat) {
    json delta = json::object();
    if (role_first) delta["role"] = "assistant";
    if (!text.empty() || role_first) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  j["choices"] = json::array({std::move(choice)});
  return Dump(j);
}

std::string UsageChunkJson(const ResponseMeta& meta, const UsageTotals& usage) {
  json j = Header(meta, /*chunk=*/true);
  j["choices"] = json::array();
  j["usage"] = UsageObject(usage);
  return Dump(j);
}

std::string ModelsJson(const std::string& model_name, int64_t created, int max_model_len) {
  json model{{"id", model_name},      {"object", "model"},  {"created", created},
             {"owned_by", "linspec"}, {"root", model_name}, {"max_model_len", max_model_len}};
  return Dump(json{{"object", "list"}, {"data", json::array({std::move(model)})}});
}

std::string OpenAiFinishReason(scheduler::FinishReason r) {
  switch (r) {
    case scheduler::FinishReason::kStop:
      return "stop";
    case scheduler::FinishReason::kLength:
      return "length";
    default:
      return "";
  }
}

}  // namespace linspec::server
