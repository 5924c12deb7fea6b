// The one place that maps absl::Status to transport statuses (DESIGN.md §5) and renders the
// OpenAI error body {"error":{"message","type","param","code"}}.
//
// InvalidArgument/OutOfRange -> 400, Unauthenticated -> 401, PermissionDenied -> 403,
// NotFound -> 404, ResourceExhausted -> 429, Unavailable/FailedPrecondition -> 503,
// DeadlineExceeded -> 504, Cancelled -> 499, Unimplemented -> 501, everything else -> 500.
// Stateless and thread-safe.
#ifndef LINSPEC_SERVER_STATUS_MAPPING_H_
#define LINSPEC_SERVER_STATUS_MAPPING_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace linspec::server {

int HttpStatusFor(absl::StatusCode code);
grpc::StatusCode GrpcStatusCodeFor(absl::StatusCode code);
grpc::Status ToGrpcStatus(const absl::Status& status);

// OpenAI error "type" for an HTTP status: invalid_request_error, authentication_error,
// permission_error, not_found_error, rate_limit_error, service_unavailable_error,
// timeout_error, server_error.
const char* OpenAiErrorType(int http_status);

struct ApiError {
  int http_status = 500;
  std::string message;
  std::string type;   // empty: OpenAiErrorType(http_status)
  std::string param;  // empty: JSON null
  std::string code;   // empty: JSON null
};

ApiError ApiErrorFromStatus(const absl::Status& status, std::string param = "");
// {"error":{"message":...,"type":...,"param":...,"code":...}} (compact JSON, no newline).
std::string ErrorBodyJson(const ApiError& error);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_STATUS_MAPPING_H_
