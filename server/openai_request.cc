#include "server/openai_request.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace linspec::server {
namespace {

using nlohmann::json;

absl::Status Bad(std::string* param, const std::string& name, const std::string& message) {
  if (param != nullptr) *param = name;
  return absl::InvalidArgumentError(message);
}

// Parses the body as a JSON object. nlohmann's exceptions are caught here, at the parse site.
absl::StatusOr<json> ParseObject(std::string_view body, std::string* param) {
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {
    return Bad(param, "", absl::StrCat("request body is not valid JSON: ", e.what()));
  }
  if (!j.is_object()) return Bad(param, "", "request body must be a JSON object");
  return j;
}

const json* Field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status GetInt(const json& obj, const char* key, int64_t lo, int64_t hi,
                    std::optional<int64_t>* out, std::string* param) {
  const json* f = Field(obj, key);
  if (f == nullptr) return absl::OkStatus();
  if (!f->is_number_integer())
    return Bad(param, key, absl::StrCat("'", key, "' must be an integer"));
  const int64_t v = f->is_number_unsigned() && f->get<uint64_t>() > uint64_t{INT64_MAX}
                        ? INT64_MAX
                        : f->get<int64_t>();
  if (v < lo || v > hi) {
    return Bad(param, key, absl::StrCat("'", key, "' must be in [", lo, ", ", hi, "], got ", v));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status GetNumber(const json& obj, const char* key, std::optional<double>* out,
                       std::string* param) {
  const json* f = Field(obj, key);
  if (f == nullptr) return absl::OkStatus();
  if (!f->is_number()) return Bad(param, key, absl::StrCat("'", key, "' must be a number"));
  *out = f->get<double>();
  return absl::OkStatus();
}

absl::Status GetBool(const json& obj, const char* key, bool* out, std::string* param) {
  const json* f = Field(obj, key);
  if (f == nullptr) return absl::OkStatus();
  if (!f->is_boolean()) return Bad(param, key, absl::StrCat("'", key, "' must be a boolean"));
  *out = f->get<bool>();
  return absl::OkStatus();
}

absl::Status GetString(const json& obj, const char* key, std::string* out, std::string* param) {
  const json* f = Field(obj, key);
  if (f == nullptr) return absl::OkStatus();
  if (!f->is_string()) return Bad(param, key, absl::StrCat("'", key, "' must be a string"));
  *out = f->get<std::string>();
  return absl::OkStatus();
}

absl::Status TokenList(const json& arr, const char* key, const RequestLimits& limits,
                       std::vector<engine::TokenId>* out, std::string* param) {
  out->reserve(arr.size());
  for (const auto& t : arr) {
    if (!t.is_number_integer()) {
      return Bad(param, key, absl::StrCat("'", key, "' token ids must be integers"));
    }
    const int64_t v = t.get<int64_t>();
    const int64_t hi = limits.vocab_size > 0 ? limits.vocab_size : INT32_MAX;
    if (v < 0 || v >= hi) {
      return Bad(param, key, absl::StrCat("token id ", v, " is out of range [0, ", hi, ")"));
    }
    out->push_back(static_cast<engine::TokenId>(v));
  }
  return absl::OkStatus();
}

// prompt: string | [string] | [int] | [[int]].
absl::Status ParsePrompts(const json& obj, const RequestLimits& limits,
                          std::vector<PromptInput>* out, std::string* param) {
  const json* p = Field(obj, "prompt");
  if (p == nullptr) return Bad(param, "prompt", "'prompt' is required");
  if (p->is_string()) {
    out->push_back(PromptInput{false, p->get<std::string>(), {}});
  } else if (p->is_array()) {
    if (p->empty()) return Bad(param, "prompt", "'prompt' must not be empty");
    if ((*p)[0].is_number_integer()) {
      PromptInput in;
      in.is_tokens = true;
      if (absl::Status s = TokenList(*p, "prompt", limits, &in.token_ids, param); !s.ok()) {
        return s;
      }
      out->push_back(std::move(in));
    } else {
      for (const auto& e : *p) {
        if (e.is_string()) {
          out->push_back(PromptInput{false, e.get<std::string>(), {}});
        } else if (e.is_array()) {
          PromptInput in;
          in.is_tokens = true;
          if (absl::Status s = TokenList(e, "prompt", limits, &in.token_ids, param); !s.ok()) {
            return s;
          }
          out->push_back(std::move(in));
        } else {
          return Bad(param, "prompt",
                     "'prompt' must be a string, a list of strings, a list of token ids or a "
                     "list of token-id lists");
        }
      }
    }
  } else {
    return Bad(param, "prompt",
               "'prompt' must be a string, a list of strings, a list of token ids or a list of "
               "token-id lists");
  }
  if (static_cast<int>(out->size()) > limits.max_prompts) {
    return Bad(param, "prompt",
               absl::StrCat("at most ", limits.max_prompts, " prompts per request"));
  }
  for (const auto& in : *out) {
    if (in.is_tokens ? in.token_ids.empty() : in.text.empty()) {
      return Bad(param, "prompt", "'prompt' must not be empty");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseMessages(const json& obj, std::vector<ChatMessage>* out, std::string* param) {
  const json* m = Field(obj, "messages");
  if (m == nullptr) return Bad(param, "messages", "'messages' is required");
  if (!m->is_array()) return Bad(param, "messages", "'messages' must be a list");
  if (m->empty()) return Bad(param, "messages", "'messages' must not be empty");
  for (const auto& e : *m) {
    if (!e.is_object()) return Bad(param, "messages", "each message must be an object");
    ChatMessage msg;
    const json* role = Field(e, "role");
    if (role == nullptr || !role->is_string()) {
      return Bad(param, "messages", "each message needs a string 'role'");
    }
    msg.role = role->get<std::string>();
    if (msg.role != "system" && msg.role != "developer" && msg.role != "user" &&
        msg.role != "assistant" && msg.role != "tool") {
      return Bad(param, "messages", absl::StrCat("unknown message role '", msg.role, "'"));
    }
    const json* content = Field(e, "content");
    if (content == nullptr) {
      // null content is allowed (e.g. an assistant turn); it renders as empty text.
    } else if (content->is_string()) {
      msg.content = content->get<std::string>();
    } else if (content->is_array()) {
      for (const auto& part : *content) {
        const json* type = part.is_object() ? Field(part, "type") : nullptr;
        const json* text = part.is_object() ? Field(part, "text") : nullptr;
        if (type == nullptr || !type->is_string() || type->get<std::string>() != "text" ||
            text == nullptr || !text->is_string()) {
          return Bad(param, "messages", "only text content parts are supported");
        }
        msg.content += text->get<std::string>();
      }
    } else {
      return Bad(param, "messages", "message 'content' must be a string or a list of parts");
    }
    out->push_back(std::move(msg));
  }
  return absl::OkStatus();
}

absl::Status ParseStop(const json& obj, const RequestLimits& limits, std::vector<std::string>* out,
                       std::string* param) {
  const json* s = Field(obj, "stop");
  if (s == nullptr) return absl::OkStatus();
  if (s->is_string()) {
    out->push_back(s->get<std::string>());
  } else if (s->is_array()) {
    for (const auto& e : *s) {
      if (!e.is_string()) return Bad(param, "stop", "'stop' must be a string or list of strings");
      out->push_back(e.get<std::string>());
    }
  } else {
    return Bad(param, "stop", "'stop' must be a string or list of strings");
  }
  if (static_cast<int>(out->size()) > limits.max_stop_strings) {
    return Bad(param, "stop", absl::StrCat("at most ", limits.max_stop_strings, " stop strings"));
  }
  for (const auto& str : *out) {
    if (str.empty()) return Bad(param, "stop", "stop strings must not be empty");
    if (static_cast<int>(str.size()) > limits.max_stop_string_bytes) {
      return Bad(
          param, "stop",
          absl::StrCat("stop strings are limited to ", limits.max_stop_string_bytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

// Fields this server does not implement; a request using them fails loudly.
absl::Status RejectUnsupported(const json& obj, bool chat, std::string* param) {
  if (const json* f = Field(obj, "logprobs");
      f != nullptr && !(f->is_boolean() && !f->get<bool>())) {
    return Bad(param, "logprobs", "logprobs are not supported by this server");
  }
  if (const json* f = Field(obj, "top_logprobs");
      f != nullptr && !(f->is_number_integer() && f->get<int64_t>() == 0)) {
    return Bad(param, "top_logprobs", "top_logprobs are not supported by this server");
  }
  if (const json* f = Field(obj, "echo"); f != nullptr && !(f->is_boolean() && !f->get<bool>())) {
    return Bad(param, "echo", "echo is not supported by this server");
  }
  if (const json* f = Field(obj, "suffix");
      f != nullptr && !(f->is_string() && f->get<std::string>().empty())) {
    return Bad(param, "suffix", "suffix is not supported by this server");
  }
  for (const char* key : {"presence_penalty", "frequency_penalty", "repetition_penalty"}) {
    const json* f = Field(obj, key);
    if (f == nullptr) continue;
    if (!f->is_number()) return Bad(param, key, absl::StrCat("'", key, "' must be a number"));
    const double neutral = std::string(key) == "repetition_penalty" ? 1.0 : 0.0;
    if (f->get<double>() != neutral) {
      return Bad(param, key, absl::StrCat(key, " is not supported by this server"));
    }
  }
  if (const json* f = Field(obj, "logit_bias"); f != nullptr && !(f->is_object() && f->empty())) {
    return Bad(param, "logit_bias", "logit_bias is not supported by this server");
  }
  if (const json* f = Field(obj, "tools"); chat && f != nullptr && !(f->is_array() && f->empty())) {
    return Bad(param, "tools", "tools are not supported by this server");
  }
  return absl::OkStatus();
}

absl::Status ParseSampling(const json& obj, bool chat, const RequestLimits& limits,
                           scheduler::SamplingParams* s, std::string* param) {
  std::optional<int64_t> max_tokens, max_completion_tokens, top_k, seed;
  std::optional<double> temperature, top_p;
  const int64_t kBig = std::numeric_limits<int32_t>::max();
  if (absl::Status st = GetInt(obj, "max_tokens", 1, kBig, &max_tokens, param); !st.ok()) return st;
  if (absl::Status st =
          GetInt(obj, "max_completion_tokens", 1, kBig, &max_completion_tokens, param);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = GetInt(obj, "top_k", -1, kBig, &top_k, param); !st.ok()) return st;
  if (absl::Status st = GetInt(obj, "seed", std::numeric_limits<int64_t>::min(),
                               std::numeric_limits<int64_t>::max(), &seed, param);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = GetNumber(obj, "temperature", &temperature, param); !st.ok()) return st;
  if (absl::Status st = GetNumber(obj, "top_p", &top_p, param); !st.ok()) return st;
  if (absl::Status st = GetBool(obj, "ignore_eos", &s->ignore_eos, param); !st.ok()) return st;
  if (absl::Status st = ParseStop(obj, limits, &s->stop, param); !st.ok()) return st;
  if (const json* f = Field(obj, "stop_token_ids"); f != nullptr) {
    if (!f->is_array()) return Bad(param, "stop_token_ids", "'stop_token_ids' must be a list");
    if (absl::Status st = TokenList(*f, "stop_token_ids", limits, &s->stop_token_ids, param);
        !st.ok()) {
      return st;
    }
  }
  s->max_tokens = chat ? limits.default_chat_max_tokens : limits.default_max_tokens;
  if (max_completion_tokens) {
    s->max_tokens = static_cast<int>(*max_completion_tokens);
  } else if (max_tokens) {
    s->max_tokens = static_cast<int>(*max_tokens);
  }
  if (temperature) s->temperature = static_cast<float>(*temperature);
  if (top_p) s->top_p = static_cast<float>(*top_p);
  if (top_k) s->top_k = *top_k < 0 ? 0 : static_cast<int>(*top_k);
  if (seed) s->seed = static_cast<uint64_t>(*seed);
  if (const std::string which = max_completion_tokens ? "max_completion_tokens" : "max_tokens";
      s->max_tokens > limits.max_tokens_limit) {
    return Bad(param, which,
               absl::StrCat("'", which, "' is ", s->max_tokens, "; this server allows at most ",
                            limits.max_tokens_limit));
  }
  return ValidateSampling(*s, limits, param);
}

}  // namespace

absl::Status ValidateSampling(const scheduler::SamplingParams& s, const RequestLimits& limits,
                              std::string* param) {
  if (!std::isfinite(s.temperature) || s.temperature < 0.0f || s.temperature > 2.0f) {
    return Bad(param, "temperature", "'temperature' must be in [0, 2]");
  }
  if (!std::isfinite(s.top_p) || s.top_p <= 0.0f || s.top_p > 1.0f) {
    return Bad(param, "top_p", "'top_p' must be in (0, 1]");
  }
  if (s.top_k < 0) return Bad(param, "top_k", "'top_k' must be >= 0 (0 disables)");
  if (s.max_tokens < 1) return Bad(param, "max_tokens", "'max_tokens' must be at least 1");
  if (s.max_tokens > limits.max_tokens_limit) {
    return Bad(param, "max_tokens",
               absl::StrCat("'max_tokens' is ", s.max_tokens, "; this server allows at most ",
                            limits.max_tokens_limit));
  }
  if (static_cast<int>(s.stop.size()) > limits.max_stop_strings) {
    return Bad(param, "stop", absl::StrCat("at most ", limits.max_stop_strings, " stop strings"));
  }
  for (const auto& str : s.stop) {
    if (str.empty()) return Bad(param, "stop", "stop strings must not be empty");
    if (static_cast<int>(str.size()) > limits.max_stop_string_bytes) {
      return Bad(
          param, "stop",
          absl::StrCat("stop strings are limited to ", limits.max_stop_string_bytes, " bytes"));
    }
  }
  for (auto id : s.stop_token_ids) {
    if (id < 0 || (limits.vocab_size > 0 && id >= limits.vocab_size)) {
      return Bad(param, "stop_token_ids", absl::StrCat("stop token id ", id, " is out of range"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body, bool chat,
                                                         const RequestLimits& limits,
                                                         std::string* param) {
  absl::StatusOr<json> parsed = ParseObject(body, param);
  if (!parsed.ok()) return parsed.status();
  const json& obj = *parsed;
  CompletionRequest req;
  req.chat = chat;
  if (absl::Status s = GetString(obj, "model", &req.model, param); !s.ok()) return s;
  if (absl::Status s = RejectUnsupported(obj, chat, param); !s.ok()) return s;
  if (chat) {
    if (absl::Status s = ParseMessages(obj, &req.messages, param); !s.ok()) return s;
  } else {
    if (absl::Status s = ParsePrompts(obj, limits, &req.prompts, param); !s.ok()) return s;
  }
  std::optional<int64_t> n, best_of;
  if (absl::Status s = GetInt(obj, "n", 1, limits.max_n, &n, param); !s.ok()) return s;
  if (n) req.n = static_cast<int>(*n);
  if (absl::Status s = GetInt(obj, "best_of", 1, limits.max_n, &best_of, param); !s.ok()) return s;
  if (best_of && *best_of != req.n) {
    return Bad(param, "best_of", "best_of other than n is not supported by this server");
  }
  if (absl::Status s = GetBool(obj, "stream", &req.stream, param); !s.ok()) return s;
  if (const json* so = Field(obj, "stream_options"); so != nullptr) {
    if (!so->is_object()) return Bad(param, "stream_options", "'stream_options' must be an object");
    if (absl::Status s = GetBool(*so, "include_usage", &req.include_usage, param); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = GetBool(obj, "add_special_tokens", &req.add_special_tokens, param);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = GetBool(obj, "skip_special_tokens", &req.skip_special_tokens, param);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseSampling(obj, chat, limits, &req.sampling, param); !s.ok()) return s;
  return req;
}

absl::StatusOr<TokenizeRequestJson> ParseTokenizeRequest(std::string_view body,
                                                         std::string* param) {
  absl::StatusOr<json> parsed = ParseObject(body, param);
  if (!parsed.ok()) return parsed.status();
  const json& obj = *parsed;
  TokenizeRequestJson req;
  if (absl::Status s = GetString(obj, "model", &req.model, param); !s.ok()) return s;
  if (absl::Status s = GetBool(obj, "add_special_tokens", &req.add_special_tokens, param);
      !s.ok()) {
    return s;
  }
  if (Field(obj, "messages") != nullptr) {
    if (absl::Status s = ParseMessages(obj, &req.messages, param); !s.ok()) return s;
    return req;
  }
  const char* key = Field(obj, "prompt") != nullptr ? "prompt" : "text";
  if (Field(obj, key) == nullptr) return Bad(param, "prompt", "'prompt' is required");
  if (absl::Status s = GetString(obj, key, &req.text, param); !s.ok()) return s;
  return req;
}

absl::StatusOr<DetokenizeRequestJson> ParseDetokenizeRequest(std::string_view body,
                                                             const RequestLimits& limits,
                                                             std::string* param) {
  absl::StatusOr<json> parsed = ParseObject(body, param);
  if (!parsed.ok()) return parsed.status();
  const json& obj = *parsed;
  DetokenizeRequestJson req;
  if (absl::Status s = GetString(obj, "model", &req.model, param); !s.ok()) return s;
  if (absl::Status s = GetBool(obj, "skip_special_tokens", &req.skip_special_tokens, param);
      !s.ok()) {
    return s;
  }
  const json* t = Field(obj, "tokens");
  if (t == nullptr) return Bad(param, "tokens", "'tokens' is required");
  if (!t->is_array()) return Bad(param, "tokens", "'tokens' must be a list of token ids");
  if (absl::Status s = TokenList(*t, "tokens", limits, &req.tokens, param); !s.ok()) return s;
  return req;
}

}  // namespace linspec::server
