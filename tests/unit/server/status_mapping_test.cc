#include "server/status_mapping.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace linspec::server {
namespace {

TEST(StatusMappingTest, HttpCodesFollowDesign) {
  struct Row {
    absl::StatusCode code;
    int http;
    grpc::StatusCode grpc;
  };
  const Row rows[] = {
      {absl::StatusCode::kOk, 200, grpc::StatusCode::OK},
      {absl::StatusCode::kInvalidArgument, 400, grpc::StatusCode::INVALID_ARGUMENT},
      {absl::StatusCode::kUnauthenticated, 401, grpc::StatusCode::UNAUTHENTICATED},
      {absl::StatusCode::kNotFound, 404, grpc::StatusCode::NOT_FOUND},
      {absl::StatusCode::kResourceExhausted, 429, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::StatusCode::kUnavailable, 503, grpc::StatusCode::UNAVAILABLE},
      {absl::StatusCode::kFailedPrecondition, 503, grpc::StatusCode::FAILED_PRECONDITION},
      {absl::StatusCode::kDeadlineExceeded, 504, grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::StatusCode::kInternal, 500, grpc::StatusCode::INTERNAL},
      {absl::StatusCode::kCancelled, 499, grpc::StatusCode::CANCELLED},
      {absl::StatusCode::kPermissionDenied, 403, grpc::StatusCode::PERMISSION_DENIED},
      {absl::StatusCode::kUnknown, 500, grpc::StatusCode::UNKNOWN},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(HttpStatusFor(r.code), r.http) << absl::StatusCodeToString(r.code);
    EXPECT_EQ(GrpcStatusCodeFor(r.code), r.grpc) << absl::StatusCodeToString(r.code);
  }
}

TEST(StatusMappingTest, GrpcStatusKeepsMessage) {
  grpc::Status s = ToGrpcStatus(absl::ResourceExhaustedError("queue full"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "queue full");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(StatusMappingTest, ErrorBodyHasOpenAiShape) {
  ApiError e = ApiErrorFromStatus(absl::InvalidArgumentError("bad 'n'"), "n");
  auto j = nlohmann::json::parse(ErrorBodyJson(e));
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["message"], "bad 'n'");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "n");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(e.http_status, 400);

  ApiError nf = ApiErrorFromStatus(absl::NotFoundError("no model"));
  auto j2 = nlohmann::json::parse(ErrorBodyJson(nf));
  EXPECT_TRUE(j2["error"]["param"].is_null());
  EXPECT_EQ(j2["error"]["type"], "not_found_error");
  EXPECT_EQ(OpenAiErrorType(429), std::string("rate_limit_error"));
  EXPECT_EQ(OpenAiErrorType(401), std::string("authentication_error"));
  EXPECT_EQ(OpenAiErrorType(503), std::string("service_unavailable_error"));
}

TEST(StatusMappingTest, InvalidUtf8InMessageDoesNotThrow) {
  ApiError e{400, std::string("bad \xff byte"), "", "", ""};
  auto j = nlohmann::json::parse(ErrorBodyJson(e));
  EXPECT_EQ(j["error"]["message"].get<std::string>().substr(0, 4), "bad ");
}

}  // namespace
}  // namespace linspec::server
