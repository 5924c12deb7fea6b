#include "client/linspec_client.h"

#include <chrono>
#include <string>
#include <utility>

#include "grpcpp/grpcpp.h"

namespace linspec::client {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

Client::Client(const ClientOptions& options) : options_(options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(options_.target, grpc::InsecureChannelCredentials(), args);
  stub_ = linspec::v1::Generation::NewStub(channel_);
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("empty target");
  return std::unique_ptr<Client>(new Client(options));
}

void Client::Prepare(grpc::ClientContext* context) const {
  if (!options_.api_key.empty())
    context->AddMetadata("authorization", "Bearer " + options_.api_key);
  if (options_.timeout_seconds > 0) {
    context->set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_seconds * 1e3)));
  }
}

bool Client::WaitForConnected(double timeout_seconds) {
  return channel_->WaitForConnected(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1e3)));
}

absl::StatusOr<linspec::v1::GenerateResponse> Client::Generate(
    const linspec::v1::GenerateRequest& request) {
  grpc::ClientContext context;
  Prepare(&context);
  linspec::v1::GenerateResponse response;
  grpc::Status s = stub_->Generate(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

absl::Status Client::GenerateStream(
    const linspec::v1::GenerateRequest& request,
    const std::function<bool(const linspec::v1::GenerateStreamResponse&)>& on_message) {
  grpc::ClientContext context;
  Prepare(&context);
  auto reader = stub_->GenerateStream(&context, request);
  linspec::v1::GenerateStreamResponse msg;
  while (reader->Read(&msg)) {
    if (!on_message(msg)) {
      context.TryCancel();
      while (reader->Read(&msg)) {
      }
      break;
    }
  }
  return FromGrpcStatus(reader->Finish());
}

absl::StatusOr<linspec::v1::TokenizeResponse> Client::Tokenize(const std::string& text,
                                                               bool add_special_tokens) {
  grpc::ClientContext context;
  Prepare(&context);
  linspec::v1::TokenizeRequest req;
  req.set_text(text);
  req.set_add_special_tokens(add_special_tokens);
  linspec::v1::TokenizeResponse res;
  grpc::Status s = stub_->Tokenize(&context, req, &res);
  if (!s.ok()) return FromGrpcStatus(s);
  return res;
}

absl::StatusOr<std::string> Client::Detokenize(const std::vector<int>& token_ids,
                                               bool skip_special_tokens) {
  grpc::ClientContext context;
  Prepare(&context);
  linspec::v1::DetokenizeRequest req;
  for (int id : token_ids) req.add_token_ids(id);
  req.set_skip_special_tokens(skip_special_tokens);
  linspec::v1::DetokenizeResponse res;
  grpc::Status s = stub_->Detokenize(&context, req, &res);
  if (!s.ok()) return FromGrpcStatus(s);
  return res.text();
}

absl::StatusOr<linspec::v1::ModelInfo> Client::GetModelInfo() {
  grpc::ClientContext context;
  Prepare(&context);
  linspec::v1::ModelInfo info;
  grpc::Status s = stub_->GetModelInfo(&context, {}, &info);
  if (!s.ok()) return FromGrpcStatus(s);
  return info;
}

}  // namespace linspec::client
