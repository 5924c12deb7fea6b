// What both front ends (gRPC and HTTP) share: the serving state machine, the scheduler and
// tokenizer once loaded, model information, request limits, API-key auth and metrics.
//
// Ownership: borrows the scheduler and tokenizer (Attach), which must outlive the context;
// owns metrics and auth. Thread-safety: all methods are thread-safe. Attach happens once,
// before the state first becomes kReady; readers check state() (acquire) before using them.
#ifndef LINSPEC_SERVER_SERVING_CONTEXT_H_
#define LINSPEC_SERVER_SERVING_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"
#include "scheduler/request.h"
#include "scheduler/scheduler.h"
#include "server/auth.h"
#include "server/chat_template.h"
#include "server/metrics.h"
#include "server/openai_request.h"

namespace linspec::server {

enum class ServingState { kLoading, kReady, kDraining, kFailed };
const char* ServingStateName(ServingState s);

struct ModelInfo {
  std::string model_name;
  std::string model_type = "linear_llama";
  std::string draft_model_name;  // empty without a draft model
  std::string drafter = "none";  // draft_model | ngram | none
  std::string device = "cpu";
  int vocab_size = 0;
  int num_state_slots = 0;
  int64_t state_slot_bytes = 0;
  int max_draft_tokens = 0;
};

struct ServingOptions {
  std::string model_name = "linspec";
  int max_prompt_tokens = 4096;
  RequestLimits limits;
  std::string api_key;  // empty: no auth
  std::vector<std::string> auth_exempt_paths = {"/health", "/metrics"};
};

class ServingContext {
 public:
  explicit ServingContext(ServingOptions options);

  // Borrowed pointers; call once while loading. engine_healthy (may be empty) is polled by
  // health checks: false reports the engine failed.
  void Attach(scheduler::Scheduler* scheduler, const engine::Tokenizer* tokenizer, ModelInfo info,
              ChatTemplate chat_template, std::function<bool()> engine_healthy);

  ServingState state() const;
  void SetState(ServingState s);
  // Called (on the SetState caller's thread) after every state change.
  void AddStateListener(std::function<void(ServingState)> listener);
  // Ready and engine healthy.
  bool Healthy() const;
  // OK when requests are accepted; Unavailable naming the reason otherwise.
  absl::Status CheckAccepting() const;

  // NotFound when model is set and is not the served model name.
  absl::Status CheckModel(const std::string& model) const;
  // Encodes text; InvalidArgument when empty after encoding.
  absl::StatusOr<std::vector<engine::TokenId>> Encode(const std::string& text,
                                                      bool add_special_tokens) const;
  // Non-empty, ids in range, length <= max_prompt_tokens.
  absl::Status CheckPrompt(const std::vector<engine::TokenId>& ids) const;
  // Chat: renders with the template, encodes, and returns the template's stop token ids.
  absl::StatusOr<std::vector<engine::TokenId>> EncodeChat(
      const std::vector<ChatMessage>& messages, std::vector<engine::TokenId>* stop_ids) const;

  // Submits to the scheduler; a refusal counts as rejected in the metrics.
  absl::StatusOr<uint64_t> Submit(scheduler::GenerateRequest request);
  void Cancel(uint64_t id);
  // Counts a request refused by a front end before reaching the scheduler.
  void CountRejected() { metrics_.OnRejected(); }

  const ServingOptions& options() const { return options_; }
  const ModelInfo& info() const { return info_; }
  const ApiKeyAuth& auth() const { return auth_; }
  ServerMetrics& metrics() { return metrics_; }
  const engine::Tokenizer* tokenizer() const { return tokenizer_; }
  scheduler::Scheduler* scheduler() const { return scheduler_; }
  const RequestLimits& limits() const { return limits_; }
  // HTTP responses being produced (for a graceful shutdown that lets streams flush).
  void AddHttpInFlight(int delta) { http_in_flight_.fetch_add(delta); }
  int http_in_flight() const { return http_in_flight_.load(); }

  // Unique request id with a prefix, e.g. "cmpl-1a2b3c...".
  std::string NewRequestId(const char* prefix);

 private:
  ServingOptions options_;
  ApiKeyAuth auth_;
  ServerMetrics metrics_;
  RequestLimits limits_;
  scheduler::Scheduler* scheduler_ = nullptr;
  const engine::Tokenizer* tokenizer_ = nullptr;
  ModelInfo info_;
  ChatTemplate chat_template_;
  std::function<bool()> engine_healthy_;
  std::atomic<ServingState> state_{ServingState::kLoading};
  std::atomic<uint64_t> next_id_{1};
  std::atomic<int> http_in_flight_{0};
  uint64_t id_salt_ = 0;
  std::mutex listeners_mu_;
  std::vector<std::function<void(ServingState)>> listeners_;
};

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_SERVING_CONTEXT_H_
