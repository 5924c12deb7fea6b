#include "server/http_router.h"

#include <ctime>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/http_completion.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/serving_context.h"

namespace linspec::server {

namespace http = boost::beast::http;

namespace {

using nlohmann::json;
using SessionPtr = std::shared_ptr<HttpSession>;

constexpr char kJson[] = "application/json";

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void RespondStatus(const SessionPtr& s, const absl::Status& status, std::string param = "") {
  s->RespondError(ApiErrorFromStatus(status, std::move(param)));
}

void HandleHealth(const SessionPtr& s) {
  ServingContext& ctx = *s->ctx();
  const bool ok = ctx.Healthy();
  const char* state =
      ctx.state() == ServingState::kReady && !ok ? "failed" : ServingStateName(ctx.state());
  s->Respond(ok ? 200 : 503, kJson, Dump(json{{"status", ok ? "ok" : state}}));
}

void HandleMetrics(const SessionPtr& s) {
  s->Respond(200, "text/plain; version=0.0.4; charset=utf-8", s->ctx()->metrics().Serialize());
}

void HandleModels(const SessionPtr& s) {
  ServingContext& ctx = *s->ctx();
  s->Respond(200, kJson,
             ModelsJson(ctx.options().model_name, static_cast<int64_t>(std::time(nullptr)),
                        ctx.options().max_prompt_tokens));
}

void HandleTokenize(const SessionPtr& s, const std::string& body) {
  ServingContext& ctx = *s->ctx();
  std::string param;
  auto req = ParseTokenizeRequest(body, &param);
  if (!req.ok()) return RespondStatus(s, req.status(), param);
  if (absl::Status st = ctx.CheckModel(req->model); !st.ok()) return RespondStatus(s, st, "model");
  absl::StatusOr<std::vector<engine::TokenId>> ids;
  if (!req->messages.empty()) {
    std::vector<engine::TokenId> stop_ids;
    ids = ctx.EncodeChat(req->messages, &stop_ids);
  } else {
    ids = ctx.Encode(req->text, req->add_special_tokens);
  }
  if (!ids.ok()) return RespondStatus(s, ids.status(), "prompt");
  json strs = json::array();
  for (auto id : *ids) strs.push_back(ctx.tokenizer()->IdToToken(id));
  s->Respond(200, kJson,
             Dump(json{{"tokens", *ids},
                       {"token_strs", std::move(strs)},
                       {"count", ids->size()},
                       {"max_model_len", ctx.options().max_prompt_tokens}}));
}

void HandleDetokenize(const SessionPtr& s, const std::string& body) {
  ServingContext& ctx = *s->ctx();
  std::string param;
  auto req = ParseDetokenizeRequest(body, ctx.limits(), &param);
  if (!req.ok()) return RespondStatus(s, req.status(), param);
  if (absl::Status st = ctx.CheckModel(req->model); !st.ok()) return RespondStatus(s, st, "model");
  auto text = ctx.tokenizer()->Decode(req->tokens, req->skip_special_tokens);
  if (!text.ok()) return RespondStatus(s, text.status(), "tokens");
  s->Respond(200, kJson, Dump(json{{"prompt", *text}}));
}

void HandleCompletion(const SessionPtr& s, const std::string& body, bool chat,
                      const std::string& path) {
  ServingContext& ctx = *s->ctx();
  std::string param;
  auto parsed = ParseCompletionRequest(body, chat, ctx.limits(), &param);
  if (!parsed.ok()) {
    ctx.CountRejected();
    return RespondStatus(s, parsed.status(), param);
  }
  StartCompletion(s, std::move(*parsed), path);
}

bool Authorized(const ServingContext& ctx, const HttpSession::Request& req,
                const std::string& path) {
  if (!ctx.auth().enabled() || ctx.auth().IsExempt(path)) return true;
  const auto it = req.find(http::field::authorization);
  const auto v = it == req.end() ? boost::beast::string_view() : it->value();
  return ctx.auth().Check(std::string_view(v.data(), v.size()));
}

enum class Route { kHealth, kMetrics, kModels, kTokenize, kDetokenize, kCompletions, kChat };

struct RouteEntry {
  const char* path;
  http::verb method;
  Route route;
};

constexpr RouteEntry kRoutes[] = {
    {"/health", http::verb::get, Route::kHealth},
    {"/metrics", http::verb::get, Route::kMetrics},
    {"/v1/models", http::verb::get, Route::kModels},
    {"/tokenize", http::verb::post, Route::kTokenize},
    {"/detokenize", http::verb::post, Route::kDetokenize},
    {"/v1/completions", http::verb::post, Route::kCompletions},
    {"/v1/chat/completions", http::verb::post, Route::kChat},
};

}  // namespace

void RouteHttpRequest(SessionPtr s, HttpSession::Request req) {
  ServingContext& ctx = *s->ctx();
  const auto target = req.target();
  std::string path(target.data(), target.size());
  if (const size_t q = path.find('?'); q != std::string::npos) path.resize(q);
  if (path.size() > 1 && path.back() == '/') path.pop_back();

  const RouteEntry* entry = nullptr;
  for (const auto& r : kRoutes) {
    if (path == r.path) entry = &r;
  }
  if (entry == nullptr) {
    ApiError e{404, absl::StrCat("no route for ", path), "", "", "not_found"};
    return s->RespondError(e);
  }
  if (req.method() != entry->method) {
    const auto m = http::to_string(entry->method);
    ApiError e{405,
               absl::StrCat("method ", std::string(req.method_string()), " is not allowed on ",
                            path, "; use ", std::string(m.data(), m.size())),
               "", "", "method_not_allowed"};
    return s->RespondError(e, {{"Allow", std::string(m.data(), m.size())}});
  }
  if (!Authorized(ctx, req, path)) {
    ApiError e{401, "missing or invalid API key (send 'Authorization: Bearer <key>')", "", "",
               "invalid_api_key"};
    ctx.CountRejected();
    return s->RespondError(e);
  }
  switch (entry->route) {
    case Route::kHealth:
      return HandleHealth(s);
    case Route::kMetrics:
      return HandleMetrics(s);
    default:
      break;
  }
  // Everything else needs the model: 503 while loading, draining or failed.
  if (absl::Status st = ctx.CheckAccepting(); !st.ok()) {
    if (entry->route == Route::kCompletions || entry->route == Route::kChat) ctx.CountRejected();
    return RespondStatus(s, st);
  }
  switch (entry->route) {
    case Route::kModels:
      return HandleModels(s);
    case Route::kTokenize:
      return HandleTokenize(s, req.body());
    case Route::kDetokenize:
      return HandleDetokenize(s, req.body());
    case Route::kCompletions:
    case Route::kChat:
      return HandleCompletion(s, req.body(), entry->route == Route::kChat, path);
    default:
      break;
  }
}

}  // namespace linspec::server
