// linspec_client: a small synchronous C++ client for linspec.v1.Generation (gRPC).
//
// Ownership: the client owns its channel and stub. Thread-safety: all methods may be called
// concurrently (gRPC stubs are thread-safe). Errors come back as absl::Status with the gRPC
// code mapped one-to-one (UNAVAILABLE, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...).
#ifndef LINSPEC_CLIENT_LINSPEC_CLIENT_H_
#define LINSPEC_CLIENT_LINSPEC_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linspec/v1/generation.grpc.pb.h"

namespace linspec::client {

struct ClientOptions {
  std::string target = "127.0.0.1:50051";  // host:port
  std::string api_key;                     // sent as "authorization: Bearer <key>" when set
  double timeout_seconds = 0;              // per call; 0: no deadline
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options);

  absl::StatusOr<linspec::v1::GenerateResponse> Generate(
      const linspec::v1::GenerateRequest& request);
  // Calls on_message for every streamed message; returning false cancels the call (the
  // result is then CANCELLED). Returns the call's final status.
  absl::Status GenerateStream(
      const linspec::v1::GenerateRequest& request,
      const std::function<bool(const linspec::v1::GenerateStreamResponse&)>& on_message);
  absl::StatusOr<linspec::v1::TokenizeResponse> Tokenize(const std::string& text,
                                                         bool add_special_tokens);
  absl::StatusOr<std::string> Detokenize(const std::vector<int>& token_ids,
                                         bool skip_special_tokens);
  absl::StatusOr<linspec::v1::ModelInfo> GetModelInfo();
  // Blocks until the channel is connected or timeout_seconds pass.
  bool WaitForConnected(double timeout_seconds);

 private:
  explicit Client(const ClientOptions& options);
  void Prepare(grpc::ClientContext* context) const;

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<linspec::v1::Generation::Stub> stub_;
};

absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace linspec::client

#endif  // LINSPEC_CLIENT_LINSPEC_CLIENT_H_
