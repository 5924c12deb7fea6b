#include "scheduler/validation.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace linspec::scheduler {

ValidationLimits LimitsFromOptions(const SchedulerOptions& options, int vocab_size,
                                   bool have_tokenizer) {
  ValidationLimits l;
  l.vocab_size = vocab_size;
  l.max_prompt_tokens = options.max_prompt_tokens;
  l.max_tokens_limit = options.max_tokens_limit;
  l.max_stop_strings = options.max_stop_strings;
  l.max_stop_string_bytes = options.max_stop_string_bytes;
  l.have_tokenizer = have_tokenizer;
  return l;
}

namespace {

absl::Status ValidateSampling(const SamplingParams& s, const ValidationLimits& l) {
  if (!std::isfinite(s.temperature) || s.temperature < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be a finite number >= 0, got ", s.temperature));
  }
  if (s.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k must be >= 0 (0 disables it), got ", s.top_k));
  }
  if (!(s.top_p > 0.0f && s.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", s.top_p));
  }
  if (s.max_tokens < 1 || s.max_tokens > l.max_tokens_limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be in [1, ", l.max_tokens_limit, "], got ", s.max_tokens));
  }
  if (static_cast<int>(s.stop.size()) > l.max_stop_strings) {
    return absl::InvalidArgumentError(absl::StrCat(
        "at most ", l.max_stop_strings, " stop strings are allowed, got ", s.stop.size()));
  }
  for (const std::string& stop : s.stop) {
    if (stop.empty()) return absl::InvalidArgumentError("stop strings must not be empty");
    if (static_cast<int>(stop.size()) > l.max_stop_string_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stop strings may have at most ", l.max_stop_string_bytes, " bytes, got ", stop.size()));
    }
  }
  if (!s.stop.empty() && !l.have_tokenizer) {
    return absl::InvalidArgumentError("stop strings need a tokenizer; none is loaded");
  }
  for (engine::TokenId t : s.stop_token_ids) {
    if (t < 0 || t >= l.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stop_token_ids: token id ", t, " is outside the vocabulary [0, ", l.vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequest(const GenerateRequest& request, const ValidationLimits& l) {
  if (request.sink == nullptr) return absl::InvalidArgumentError("request has no sink");
  if (request.prompt.empty()) return absl::InvalidArgumentError("prompt must not be empty");
  if (static_cast<int>(request.prompt.size()) > l.max_prompt_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("prompt has ", request.prompt.size(),
                                                   " tokens; the limit is ", l.max_prompt_tokens));
  }
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    engine::TokenId t = request.prompt[i];
    if (t < 0 || t >= l.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt token ", i, " has id ", t, ", outside the vocabulary [0, ", l.vocab_size, ")"));
    }
  }
  return ValidateSampling(request.sampling, l);
}

}  // namespace linspec::scheduler
