// linspec.v1.Generation on the grpc++ callback API (DESIGN.md §5).
//
// Generate / GenerateStream submit to the scheduler; the scheduler's sink fills the response
// or queues stream messages (one per scheduler delta; a final message carries finish reason
// and usage). Client cancellation and deadlines reach Scheduler::Cancel / the request
// deadline. API key: metadata "authorization: Bearer <key>" when configured.
//
// Ownership: borrows the ServingContext. Reactors delete themselves in OnDone. Thread-safety:
// gRPC calls the handlers on its threads; sinks run on the scheduler thread and never block
// (they call StartWrite/Finish, which only enqueue).
#ifndef LINSPEC_SERVER_GRPC_SERVICE_H_
#define LINSPEC_SERVER_GRPC_SERVICE_H_

#include "linspec/v1/generation.grpc.pb.h"
#include "server/serving_context.h"

namespace linspec::server {

class GenerationService final : public linspec::v1::Generation::CallbackService {
 public:
  explicit GenerationService(ServingContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const linspec::v1::GenerateRequest* request,
                                     linspec::v1::GenerateResponse* response) override;
  grpc::ServerWriteReactor<linspec::v1::GenerateStreamResponse>* GenerateStream(
      grpc::CallbackServerContext* context, const linspec::v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const linspec::v1::TokenizeRequest* request,
                                     linspec::v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const linspec::v1::DetokenizeRequest* request,
                                       linspec::v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const linspec::v1::GetModelInfoRequest* request,
                                         linspec::v1::ModelInfo* response) override;

 private:
  ServingContext* ctx_;
};

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_GRPC_SERVICE_H_
