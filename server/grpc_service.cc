#include "server/grpc_service.h"

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "server/grpc_request.h"
#include "server/request_log.h"
#include "server/status_mapping.h"

namespace linspec::server {
namespace {

namespace v1 = linspec::v1;

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const grpc::Status& status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

// Unary Generate: the sink accumulates and finishes the reactor from the scheduler thread.
class UnaryGenerate final : public grpc::ServerUnaryReactor {
 public:
  explicit UnaryGenerate(ServingContext* ctx) : ctx_(ctx) {}
  void set_id(uint64_t id) {
    id_.store(id);
    if (cancel_wanted_.load()) ctx_->Cancel(id);
  }
  void OnCancel() override {
    cancel_wanted_.store(true);
    if (uint64_t id = id_.load(); id != 0) ctx_->Cancel(id);
  }
  void OnDone() override { delete this; }

 private:
  ServingContext* ctx_;
  std::atomic<uint64_t> id_{0};
  std::atomic<bool> cancel_wanted_{false};
};

class UnarySink final : public scheduler::RequestSink {
 public:
  UnarySink(UnaryGenerate* reactor, v1::GenerateResponse* response, std::string request_id)
      : reactor_(reactor), response_(response), request_id_(std::move(request_id)) {}
  void OnDelta(const scheduler::TokenDelta& d) override {
    text_ += d.text;
    for (auto id : d.token_ids) response_->add_token_ids(id);
  }
  void OnFinish(const scheduler::FinalResult& r) override {
    LogRequestDone("grpc", "Generate", request_id_, r);
    response_->set_request_id(request_id_);
    response_->set_text(std::move(text_));
    response_->set_finish_reason(ToProtoFinishReason(r.finish_reason));
    FillUsage(r.usage, response_->mutable_usage());
    response_->set_time_to_first_token_seconds(r.time_to_first_token_seconds);
    response_->set_e2e_seconds(r.e2e_seconds);
    reactor_->Finish(FinalGrpcStatus(r));  // last touch: the reactor may be gone after this
  }

 private:
  UnaryGenerate* reactor_;
  v1::GenerateResponse* response_;
  std::string request_id_;
  std::string text_;
};

// Server-streaming GenerateStream: one write in flight; later messages wait in a queue.
class StreamGenerate final : public grpc::ServerWriteReactor<v1::GenerateStreamResponse> {
 public:
  explicit StreamGenerate(ServingContext* ctx) : ctx_(ctx) {}

  void set_id(uint64_t id) {
    id_.store(id);
    if (cancel_wanted_.load()) ctx_->Cancel(id);
  }

  // From the scheduler thread.
  void Push(v1::GenerateStreamResponse msg) {
    const v1::GenerateStreamResponse* to_write = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (broken_) return;
      queue_.push_back(std::move(msg));
      if (!writing_) {
        writing_ = true;
        to_write = &queue_.front();
      }
    }
    if (to_write != nullptr) StartWrite(to_write);
  }

  // From the scheduler thread, once. The reactor may be deleted when this returns.
  void Complete(grpc::Status status) {
    bool finish_now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      final_status_ = std::move(status);
      completed_ = true;
      finish_now = !writing_;
    }
    if (finish_now) Finish(final_status_);
  }

  void OnWriteDone(bool ok) override {
    const v1::GenerateStreamResponse* next = nullptr;
    bool finish_now = false;
    bool cancel = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.pop_front();
      if (!ok && !broken_) {
        broken_ = true;  // the client went away: drop the rest and cancel generation
        queue_.clear();
        cancel = true;
      }
      if (!queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        finish_now = completed_;
      }
    }
    if (cancel) RequestCancel();
    if (next != nullptr) {
      StartWrite(next);
    } else if (finish_now) {
      Finish(final_status_);
    }
  }

  void OnCancel() override { RequestCancel(); }
  void OnDone() override { delete this; }

 private:
  void RequestCancel() {
    cancel_wanted_.store(true);
    if (uint64_t id = id_.load(); id != 0) ctx_->Cancel(id);
  }

  ServingContext* ctx_;
  std::atomic<uint64_t> id_{0};
  std::atomic<bool> cancel_wanted_{false};
  std::mutex mu_;
  std::deque<v1::GenerateStreamResponse> queue_;  // front() is being written
  bool writing_ = false;
  bool broken_ = false;
  bool completed_ = false;
  grpc::Status final_status_;
};

class StreamSink final : public scheduler::RequestSink {
 public:
  StreamSink(StreamGenerate* reactor, std::string request_id)
      : reactor_(reactor), request_id_(std::move(request_id)) {}
  void OnDelta(const scheduler::TokenDelta& d) override {
    v1::GenerateStreamResponse msg;
    msg.set_request_id(request_id_);
    msg.set_text(d.text);
    for (auto id : d.token_ids) msg.add_token_ids(id);
    reactor_->Push(std::move(msg));
  }
  void OnFinish(const scheduler::FinalResult& r) override {
    LogRequestDone("grpc", "GenerateStream", request_id_, r);
    grpc::Status status = FinalGrpcStatus(r);
    if (status.ok()) {
      v1::GenerateStreamResponse last;
      last.set_request_id(request_id_);
      last.set_finish_reason(ToProtoFinishReason(r.finish_reason));
      FillUsage(r.usage, last.mutable_usage());
      reactor_->Push(std::move(last));
    }
    reactor_->Complete(std::move(status));
  }

 private:
  StreamGenerate* reactor_;
  std::string request_id_;
};

}  // namespace

grpc::ServerUnaryReactor* GenerationService::Generate(grpc::CallbackServerContext* context,
                                                      const v1::GenerateRequest* request,
                                                      v1::GenerateResponse* response) {
  if (absl::Status s = CheckGrpcAuth(*ctx_, *context); !s.ok()) {
    ctx_->CountRejected();
    return FinishNow(context, ToGrpcStatus(s));
  }
  auto req = ToSchedulerRequest(*ctx_, *context, *request);
  if (!req.ok()) {
    ctx_->CountRejected();
    return FinishNow(context, ToGrpcStatus(req.status()));
  }
  if (req->request_id.empty()) req->request_id = ctx_->NewRequestId("grpc-");
  auto* reactor = new UnaryGenerate(ctx_);
  req->sink = std::make_shared<UnarySink>(reactor, response, req->request_id);
  absl::StatusOr<uint64_t> id = ctx_->Submit(std::move(*req));
  if (!id.ok()) {
    reactor->Finish(ToGrpcStatus(id.status()));
  } else {
    reactor->set_id(*id);
  }
  return reactor;
}

grpc::ServerWriteReactor<v1::GenerateStreamResponse>* GenerationService::GenerateStream(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  auto* reactor = new StreamGenerate(ctx_);
  absl::Status status = CheckGrpcAuth(*ctx_, *context);
  absl::StatusOr<scheduler::GenerateRequest> req =
      status.ok() ? ToSchedulerRequest(*ctx_, *context, *request)
                  : absl::StatusOr<scheduler::GenerateRequest>(status);
  if (!req.ok()) {
    ctx_->CountRejected();
    reactor->Finish(ToGrpcStatus(req.status()));
    return reactor;
  }
  if (req->request_id.empty()) req->request_id = ctx_->NewRequestId("grpc-");
  req->sink = std::make_shared<StreamSink>(reactor, req->request_id);
  absl::StatusOr<uint64_t> id = ctx_->Submit(std::move(*req));
  if (!id.ok()) {
    reactor->Finish(ToGrpcStatus(id.status()));
  } else {
    reactor->set_id(*id);
  }
  return reactor;
}

grpc::ServerUnaryReactor* GenerationService::Tokenize(grpc::CallbackServerContext* context,
                                                      const v1::TokenizeRequest* request,
                                                      v1::TokenizeResponse* response) {
  if (absl::Status s = CheckGrpcAuth(*ctx_, *context); !s.ok()) {
    return FinishNow(context, ToGrpcStatus(s));
  }
  if (absl::Status s = ctx_->CheckAccepting(); !s.ok()) return FinishNow(context, ToGrpcStatus(s));
  auto ids = ctx_->Encode(request->text(), request->add_special_tokens());
  if (!ids.ok()) return FinishNow(context, ToGrpcStatus(ids.status()));
  for (auto id : *ids) {
    response->add_token_ids(id);
    response->add_tokens(ctx_->tokenizer()->IdToToken(id));
  }
  return FinishNow(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GenerationService::Detokenize(grpc::CallbackServerContext* context,
                                                        const v1::DetokenizeRequest* request,
                                                        v1::DetokenizeResponse* response) {
  if (absl::Status s = CheckGrpcAuth(*ctx_, *context); !s.ok()) {
    return FinishNow(context, ToGrpcStatus(s));
  }
  if (absl::Status s = ctx_->CheckAccepting(); !s.ok()) return FinishNow(context, ToGrpcStatus(s));
  std::vector<engine::TokenId> ids(request->token_ids().begin(), request->token_ids().end());
  auto text = ctx_->tokenizer()->Decode(ids, request->skip_special_tokens());
  if (!text.ok()) return FinishNow(context, ToGrpcStatus(text.status()));
  response->set_text(*text);
  return FinishNow(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GenerationService::GetModelInfo(grpc::CallbackServerContext* context,
                                                          const v1::GetModelInfoRequest*,
                                                          v1::ModelInfo* response) {
  if (absl::Status s = CheckGrpcAuth(*ctx_, *context); !s.ok()) {
    return FinishNow(context, ToGrpcStatus(s));
  }
  if (absl::Status s = ctx_->CheckAccepting(); !s.ok()) return FinishNow(context, ToGrpcStatus(s));
  const ModelInfo& info = ctx_->info();
  response->set_model_name(ctx_->options().model_name);
  response->set_vocab_size(info.vocab_size);
  response->set_max_prompt_tokens(ctx_->options().max_prompt_tokens);
  response->set_num_state_slots(info.num_state_slots);
  response->set_state_slot_bytes(info.state_slot_bytes);
  response->set_draft_model_name(info.draft_model_name);
  response->set_drafter(info.drafter);
  response->set_max_draft_tokens(info.max_draft_tokens);
  response->set_device(info.device);
  response->set_model_type(info.model_type);
  return FinishNow(context, grpc::Status::OK);
}

}  // namespace linspec::server
