#include "server/serving_context.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"

namespace linspec::server {

const char* ServingStateName(ServingState s) {
  switch (s) {
    case ServingState::kLoading:
      return "loading";
    case ServingState::kReady:
      return "ready";
    case ServingState::kDraining:
      return "draining";
    case ServingState::kFailed:
      return "failed";
  }
  return "unknown";
}

ServingContext::ServingContext(ServingOptions options)
    : options_(std::move(options)),
      auth_(options_.api_key, options_.auth_exempt_paths),
      metrics_(options_.model_name),
      limits_(options_.limits) {
  std::random_device rd;
  id_salt_ = (uint64_t{rd()} << 32) ^ rd();
}

void ServingContext::Attach(scheduler::Scheduler* scheduler, const engine::Tokenizer* tokenizer,
                            ModelInfo info, ChatTemplate chat_template,
                            std::function<bool()> engine_healthy) {
  scheduler_ = scheduler;
  tokenizer_ = tokenizer;
  info_ = std::move(info);
  chat_template_ = chat_template;
  engine_healthy_ = std::move(engine_healthy);
  if (info_.vocab_size > 0) limits_.vocab_size = info_.vocab_size;
}

ServingState ServingContext::state() const { return state_.load(std::memory_order_acquire); }

void ServingContext::SetState(ServingState s) {
  state_.store(s, std::memory_order_release);
  std::vector<std::function<void(ServingState)>> listeners;
  {
    std::lock_guard<std::mutex> lock(listeners_mu_);
    listeners = listeners_;
  }
  for (auto& l : listeners) l(s);
}

void ServingContext::AddStateListener(std::function<void(ServingState)> listener) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  listeners_.push_back(std::move(listener));
}

bool ServingContext::Healthy() const {
  return state() == ServingState::kReady && (!engine_healthy_ || engine_healthy_());
}

absl::Status ServingContext::CheckAccepting() const {
  switch (state()) {
    case ServingState::kReady:
      if (engine_healthy_ && !engine_healthy_()) {
        return absl::UnavailableError("the engine failed; the server is unhealthy");
      }
      return absl::OkStatus();
    case ServingState::kLoading:
      return absl::UnavailableError("the model is still loading; retry shortly");
    case ServingState::kDraining:
      return absl::UnavailableError("the server is shutting down");
    case ServingState::kFailed:
      return absl::UnavailableError("the engine failed; the server is unhealthy");
  }
  return absl::UnavailableError("unavailable");
}

absl::Status ServingContext::CheckModel(const std::string& model) const {
  if (model.empty() || model == options_.model_name) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat(
      "The model '", model, "' does not exist; this server serves '", options_.model_name, "'"));
}

absl::StatusOr<std::vector<engine::TokenId>> ServingContext::Encode(const std::string& text,
                                                                    bool add_special) const {
  engine::EncodeOptions opts;
  opts.add_special_tokens = add_special;
  return tokenizer_->Encode(text, opts);
}

absl::Status ServingContext::CheckPrompt(const std::vector<engine::TokenId>& ids) const {
  if (ids.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (static_cast<int>(ids.size()) > options_.max_prompt_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("the prompt has ", ids.size(),
                                                   " tokens; this server allows at most ",
                                                   options_.max_prompt_tokens));
  }
  const int vocab = limits_.vocab_size;
  for (auto id : ids) {
    if (id < 0 || (vocab > 0 && id >= vocab)) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is out of range [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<engine::TokenId>> ServingContext::EncodeChat(
    const std::vector<ChatMessage>& messages, std::vector<engine::TokenId>* stop_ids) const {
  const std::string text = chat_template_.Render(messages);
  for (const auto& tok : chat_template_.end_of_turn_tokens()) {
    if (auto id = tokenizer_->TokenToId(tok)) stop_ids->push_back(*id);
  }
  return Encode(text, chat_template_.add_special_tokens());
}

absl::StatusOr<uint64_t> ServingContext::Submit(scheduler::GenerateRequest request) {
  if (absl::Status s = CheckAccepting(); !s.ok()) {
    metrics_.OnRejected();
    return s;
  }
  absl::StatusOr<uint64_t> id = scheduler_->Submit(std::move(request));
  if (!id.ok()) metrics_.OnRejected();
  return id;
}

void ServingContext::Cancel(uint64_t id) {
  if (scheduler_ != nullptr) scheduler_->Cancel(id);
}

std::string ServingContext::NewRequestId(const char* prefix) {
  const uint64_t n = next_id_.fetch_add(1, std::memory_order_relaxed);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(id_salt_ ^ (n * 0x9E3779B97F4A7C15ull)));
  return absl::StrCat(prefix, buf);
}

}  // namespace linspec::server
