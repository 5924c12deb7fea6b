#include "common/status_macros.h"

#include <string>

#include "gtest/gtest.h"

namespace linspec {
namespace {

absl::StatusOr<int> ParsePositive(int v) {
  if (v <= 0) return absl::InvalidArgumentError("not positive");
  return v;
}

absl::Status Check(int v, int* calls) {
  ++*calls;
  RETURN_IF_ERROR(ParsePositive(v).status());
  return absl::OkStatus();
}

absl::StatusOr<int> Doubled(int v) {
  ASSIGN_OR_RETURN(int x, ParsePositive(v));
  return 2 * x;
}

absl::StatusOr<std::string> MoveOnlyChain(int v) {
  ASSIGN_OR_RETURN(auto x, Doubled(v));
  ASSIGN_OR_RETURN(auto y, Doubled(x));  // two uses on separate lines must not collide
  return std::to_string(y);
}

TEST(StatusMacros, ReturnIfErrorPropagatesFailure) {
  int calls = 0;
  EXPECT_TRUE(Check(3, &calls).ok());
  absl::Status s = Check(-1, &calls);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "not positive");
  EXPECT_EQ(calls, 2);
}

TEST(StatusMacros, AssignOrReturnUnwrapsAndPropagates) {
  EXPECT_EQ(*Doubled(4), 8);
  EXPECT_EQ(Doubled(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*MoveOnlyChain(3), "12");
  EXPECT_FALSE(MoveOnlyChain(-3).ok());
}

TEST(StatusMacros, ReturnIfErrorAcceptsStatusOr) {
  auto f = [](int v) -> absl::Status {
    RETURN_IF_ERROR(ParsePositive(v));
    return absl::OkStatus();
  };
  EXPECT_TRUE(f(1).ok());
  EXPECT_EQ(f(-5).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace linspec
