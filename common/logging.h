// Process-wide logging through spdlog. Call InitLogging once at start-up; afterwards use
// spdlog::info(...) etc. from any thread (spdlog's default logger is thread-safe).
#ifndef LINSPEC_COMMON_LOGGING_H_
#define LINSPEC_COMMON_LOGGING_H_

#include <string_view>

#include "absl/status/status.h"

namespace linspec {

// level: trace|debug|info|warn|error|off. json: one JSON object per line (structured logs).
// Returns InvalidArgument for an unknown level.
absl::Status InitLogging(std::string_view level, bool json = false);

}  // namespace linspec

#endif  // LINSPEC_COMMON_LOGGING_H_
