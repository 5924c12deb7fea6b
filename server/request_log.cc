#include "server/request_log.h"

#include <atomic>

#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "server/names.h"
#include "spdlog/spdlog.h"

namespace linspec::server {
namespace {

std::atomic<bool> g_json{false};

void Emit(LogLevel level, const std::string& msg) {
  switch (level) {
    case LogLevel::kDebug:
      spdlog::debug("{}", msg);
      break;
    case LogLevel::kInfo:
      spdlog::info("{}", msg);
      break;
    case LogLevel::kWarn:
      spdlog::warn("{}", msg);
      break;
    case LogLevel::kError:
      spdlog::error("{}", msg);
      break;
  }
}

}  // namespace

void SetJsonLogs(bool json) { g_json.store(json); }

void LogRequestDone(const char* api, const std::string& route, const std::string& request_id,
                    const scheduler::FinalResult& r) {
  const auto& u = r.usage;
  if (g_json.load()) {
    nlohmann::json j{{"event", "request_done"},
                     {"id", request_id},
                     {"api", api},
                     {"route", route},
                     {"finish_reason", FinishReasonLabel(r.finish_reason)},
                     {"prompt_tokens", u.prompt_tokens},
                     {"completion_tokens", u.completion_tokens},
                     {"draft_tokens", u.draft_tokens},
                     {"accepted_tokens", u.accepted_tokens},
                     {"queue_ms", r.queue_seconds * 1e3},
                     {"ttft_ms", r.time_to_first_token_seconds * 1e3},
                     {"e2e_ms", r.e2e_seconds * 1e3}};
    if (!r.status.ok()) j["status"] = r.status.ToString();
    Emit(LogLevel::kInfo, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }
  std::string line = absl::StrFormat(
      "request_done id=%s api=%s route=%s finish=%s prompt_tokens=%d completion_tokens=%d "
      "draft_tokens=%d accepted_tokens=%d queue_ms=%.2f ttft_ms=%.2f e2e_ms=%.2f",
      request_id, api, route, FinishReasonLabel(r.finish_reason), u.prompt_tokens,
      u.completion_tokens, u.draft_tokens, u.accepted_tokens, r.queue_seconds * 1e3,
      r.time_to_first_token_seconds * 1e3, r.e2e_seconds * 1e3);
  if (!r.status.ok()) line += " status=\"" + r.status.ToString() + "\"";
  Emit(LogLevel::kInfo, line);
}

void LogText(LogLevel level, const std::string& text) {
  if (g_json.load()) {
    Emit(level,
         nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    Emit(level, text);
  }
}

}  // namespace linspec::server
