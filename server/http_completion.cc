#include "server/http_completion.h"

#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "server/openai_response.h"
#include "server/request_log.h"
#include "server/serving_context.h"
#include "server/sse.h"

namespace linspec::server {
namespace {

namespace net = boost::asio;
using SessionPtr = std::shared_ptr<HttpSession>;

class CompletionCall : public std::enable_shared_from_this<CompletionCall> {
 public:
  CompletionCall(SessionPtr session, CompletionRequest request, std::string route)
      : session_(std::move(session)),
        ctx_(session_->ctx()),
        req_(std::move(request)),
        route_(std::move(route)),
        keepalive_(session_->executor()) {}

  void Start();
  void OnDelta(int index, scheduler::TokenDelta delta);
  void OnFinish(int index, scheduler::FinalResult result);

 private:
  struct Choice {
    std::string request_id;
    uint64_t id = 0;
    bool submitted = false;
    bool done = false;
    bool role_sent = false;
    bool first_of_prompt = false;  // counts the prompt's tokens in usage
    std::string text;
    scheduler::FinalResult result;
  };

  absl::Status BuildPrompts(std::vector<std::vector<engine::TokenId>>* prompts,
                            std::vector<engine::TokenId>* extra_stop_ids, std::string* param);
  absl::Status SubmitAll(const std::vector<std::vector<engine::TokenId>>& prompts,
                         const std::vector<engine::TokenId>& extra_stop_ids);
  void OnDisconnect();
  void CancelOthers();
  void ArmKeepAlive();
  void AllDone();
  void SendError(const absl::Status& status);
  UsageTotals Totals() const;

  SessionPtr session_;
  ServingContext* ctx_;
  CompletionRequest req_;
  std::string route_;
  ResponseMeta meta_;
  std::vector<Choice> choices_;
  int remaining_ = 0;
  bool disconnected_ = false;
  bool failed_ = false;     // an error was (or will be) reported
  bool responded_ = false;  // the response (or the error) is complete
  absl::Status first_error_;
  net::steady_timer keepalive_;
};

class ChoiceSink : public scheduler::RequestSink {
 public:
  ChoiceSink(std::shared_ptr<CompletionCall> call, int index, net::any_io_executor ex)
      : call_(std::move(call)), index_(index), ex_(std::move(ex)) {}
  void OnDelta(const scheduler::TokenDelta& delta) override {
    net::post(ex_, [c = call_, i = index_, d = delta]() mutable { c->OnDelta(i, std::move(d)); });
  }
  void OnFinish(const scheduler::FinalResult& result) override {
    net::post(ex_, [c = std::move(call_), i = index_, r = result]() mutable {
      c->OnFinish(i, std::move(r));
    });
  }

 private:
  std::shared_ptr<CompletionCall> call_;
  int index_;
  net::any_io_executor ex_;
};

absl::Status CompletionCall::BuildPrompts(std::vector<std::vector<engine::TokenId>>* prompts,
                                          std::vector<engine::TokenId>* extra_stop_ids,
                                          std::string* param) {
  *param = req_.chat ? "messages" : "prompt";
  if (req_.chat) {
    auto ids = ctx_->EncodeChat(req_.messages, extra_stop_ids);
    if (!ids.ok()) return ids.status();
    prompts->push_back(std::move(*ids));
  } else {
    for (const auto& p : req_.prompts) {
      if (p.is_tokens) {
        prompts->push_back(p.token_ids);
        continue;
      }
      auto ids = ctx_->Encode(p.text, req_.add_special_tokens);
      if (!ids.ok()) return ids.status();
      prompts->push_back(std::move(*ids));
    }
  }
  for (const auto& ids : *prompts) {
    if (absl::Status s = ctx_->CheckPrompt(ids); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CompletionCall::SubmitAll(const std::vector<std::vector<engine::TokenId>>& prompts,
                                       const std::vector<engine::TokenId>& extra_stop_ids) {
  const int n = req_.n;
  choices_.resize(prompts.size() * n);
  remaining_ = static_cast<int>(choices_.size());
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int j = 0; j < n; ++j) {
      const int index = static_cast<int>(p) * n + j;
      Choice& c = choices_[index];
      c.request_id = choices_.size() == 1 ? meta_.id : absl::StrCat(meta_.id, "-", index);
      c.first_of_prompt = j == 0;
      scheduler::GenerateRequest g;
      g.request_id = c.request_id;
      g.prompt = prompts[p];
      g.sampling = req_.sampling;
      if (g.sampling.seed && j > 0) g.sampling.seed = *g.sampling.seed + j;
      for (auto id : extra_stop_ids) g.sampling.stop_token_ids.push_back(id);
      g.sink = std::make_shared<ChoiceSink>(shared_from_this(), index, session_->executor());
      absl::StatusOr<uint64_t> id = ctx_->Submit(std::move(g));
      if (!id.ok()) {
        remaining_ -= static_cast<int>(choices_.size()) - index;  // never submitted
        for (size_t k = index; k < choices_.size(); ++k) choices_[k].done = true;
        return id.status();
      }
      c.id = *id;
      c.submitted = true;
    }
  }
  return absl::OkStatus();
}

void CompletionCall::Start() {
  meta_.chat = req_.chat;
  meta_.id = ctx_->NewRequestId(req_.chat ? "chatcmpl-" : "cmpl-");
  meta_.created = static_cast<int64_t>(std::time(nullptr));
  meta_.model = ctx_->options().model_name;
  if (absl::Status s = ctx_->CheckModel(req_.model); !s.ok()) {
    ctx_->CountRejected();
    responded_ = true;
    return session_->RespondError(ApiErrorFromStatus(s, "model"));
  }
  std::vector<std::vector<engine::TokenId>> prompts;
  std::vector<engine::TokenId> extra_stop_ids;
  std::string param;
  if (absl::Status s = BuildPrompts(&prompts, &extra_stop_ids, &param); !s.ok()) {
    ctx_->CountRejected();
    responded_ = true;
    return session_->RespondError(ApiErrorFromStatus(s, param));
  }
  if (absl::Status s = SubmitAll(prompts, extra_stop_ids); !s.ok()) {
    // Choices already admitted are cancelled; their OnFinish arrives later and is ignored.
    failed_ = true;
    responded_ = true;
    CancelOthers();
    return session_->RespondError(ApiErrorFromStatus(s));
  }
  std::weak_ptr<CompletionCall> weak = shared_from_this();
  session_->WatchForDisconnect([weak] {
    if (auto self = weak.lock()) self->OnDisconnect();
  });
  if (req_.stream) {
    session_->BeginStream();
    ArmKeepAlive();
  }
}

void CompletionCall::ArmKeepAlive() {
  keepalive_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(session_->options().sse_keepalive_seconds)));
  keepalive_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->responded_ || self->disconnected_) return;
    self->session_->StreamSend(SseComment("keep-alive"));
    self->ArmKeepAlive();
  });
}

void CompletionCall::OnDelta(int index, scheduler::TokenDelta delta) {
  if (responded_ || disconnected_) return;
  Choice& c = choices_[index];
  if (!req_.stream) {
    c.text += delta.text;
    return;
  }
  const bool role_first = req_.chat && !c.role_sent;
  if (delta.text.empty() && !role_first) return;
  c.role_sent = true;
  session_->StreamSend(SseData(CompletionChunkJson(meta_, index, delta.text, "", role_first)));
}

void CompletionCall::SendError(const absl::Status& status) {
  failed_ = true;
  if (first_error_.ok()) first_error_ = status;
  if (req_.stream && !disconnected_ && !responded_) {
    session_->StreamSend(SseData(ErrorBodyJson(ApiErrorFromStatus(status))));
  }
  CancelOthers();
}

void CompletionCall::OnFinish(int index, scheduler::FinalResult result) {
  Choice& c = choices_[index];
  c.done = true;
  c.result = result;
  --remaining_;
  LogRequestDone("http", route_, c.request_id, result);
  if (!responded_ && !disconnected_) {
    const std::string reason = OpenAiFinishReason(result.finish_reason);
    if (reason.empty()) {
      if (!failed_) {
        absl::Status st =
            result.status.ok()
                ? absl::InternalError(absl::StrCat(
                      "request ended without a result (",
                      result.finish_reason == scheduler::FinishReason::kCancelled ? "cancelled"
                                                                                  : "error",
                      ")"))
                : result.status;
        SendError(st);
      }
    } else if (req_.stream && !failed_) {
      const bool role_first = req_.chat && !c.role_sent;
      c.role_sent = true;
      session_->StreamSend(SseData(CompletionChunkJson(meta_, index, "", reason, role_first)));
    }
  }
  if (remaining_ == 0) AllDone();
}

UsageTotals CompletionCall::Totals() const {
  UsageTotals u;
  for (const auto& c : choices_) {
    if (c.first_of_prompt) u.prompt_tokens += c.result.usage.prompt_tokens;
    u.completion_tokens += c.result.usage.completion_tokens;
  }
  return u;
}

void CompletionCall::AllDone() {
  keepalive_.cancel();
  if (responded_ || disconnected_) return;
  responded_ = true;
  if (req_.stream) {
    if (!failed_ && req_.include_usage)
      session_->StreamSend(SseData(UsageChunkJson(meta_, Totals())));
    session_->StreamSend(SseDone());
    session_->EndStream();
    return;
  }
  if (failed_) return session_->RespondError(ApiErrorFromStatus(first_error_));
  std::vector<ChoiceOutput> out;
  out.reserve(choices_.size());
  for (size_t i = 0; i < choices_.size(); ++i) {
    out.push_back(ChoiceOutput{static_cast<int>(i), choices_[i].text,
                               OpenAiFinishReason(choices_[i].result.finish_reason)});
  }
  session_->Respond(200, "application/json", CompletionResponseJson(meta_, out, Totals()));
}

void CompletionCall::OnDisconnect() {
  if (responded_) return;
  disconnected_ = true;
  CancelOthers();
}

void CompletionCall::CancelOthers() {
  for (const auto& c : choices_) {
    if (c.submitted && !c.done) ctx_->Cancel(c.id);
  }
}

}  // namespace

void StartCompletion(std::shared_ptr<HttpSession> session, CompletionRequest request,
                     const std::string& route) {
  auto call = std::make_shared<CompletionCall>(std::move(session), std::move(request), route);
  call->Start();
}

}  // namespace linspec::server
