#include "common/logging.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace linspec {

absl::Status InitLogging(std::string_view level, bool json) {
  const spdlog::level::level_enum lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat("unknown log level '", std::string(level),
                                                   "' (expected trace|debug|info|warn|error|off)"));
  }
  auto logger = spdlog::stderr_color_mt("linspec");
  spdlog::set_default_logger(logger);
  spdlog::set_level(lvl);
  if (json) {
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e","level":"%l","thread":%t,"msg":%v})");
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%L%$ [%t] %v");
  }
  return absl::OkStatus();
}

}  // namespace linspec
