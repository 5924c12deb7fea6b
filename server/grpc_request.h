// Conversion of gRPC GenerateRequest messages to scheduler requests, and the checks shared
// by every gRPC method (readiness, API key). Thread-safe.
#ifndef LINSPEC_SERVER_GRPC_REQUEST_H_
#define LINSPEC_SERVER_GRPC_REQUEST_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "linspec/v1/generation.pb.h"
#include "scheduler/request.h"
#include "server/serving_context.h"

namespace linspec::server {

// Unauthenticated when a key is configured and the call's metadata lacks it.
absl::Status CheckGrpcAuth(const ServingContext& ctx, const grpc::ServerContextBase& context);

// Validates and converts (no sink set). The call's deadline becomes the request deadline.
// InvalidArgument / NotFound (model) / Unavailable (not ready).
absl::StatusOr<scheduler::GenerateRequest> ToSchedulerRequest(
    const ServingContext& ctx, const grpc::ServerContextBase& context,
    const linspec::v1::GenerateRequest& request);

linspec::v1::FinishReason ToProtoFinishReason(scheduler::FinishReason r);
void FillUsage(const scheduler::Usage& u, linspec::v1::Usage* out);
// OK for stop/length; CANCELLED, DEADLINE_EXCEEDED or the request's error otherwise.
grpc::Status FinalGrpcStatus(const scheduler::FinalResult& result);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_GRPC_REQUEST_H_
