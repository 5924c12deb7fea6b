// Server log lines: one structured line per finished request, and free-form lines that stay
// valid JSON when --log-json is on (common/logging.cc inserts the message raw as "msg").
// Thread-safe (spdlog's default logger is).
#ifndef LINSPEC_SERVER_REQUEST_LOG_H_
#define LINSPEC_SERVER_REQUEST_LOG_H_

#include <string>

#include "scheduler/request.h"

namespace linspec::server {

// Must match the json flag given to InitLogging.
void SetJsonLogs(bool json);

// api: "http" | "grpc"; route: e.g. "/v1/completions" or "Generate".
void LogRequestDone(const char* api, const std::string& route, const std::string& request_id,
                    const scheduler::FinalResult& result);

enum class LogLevel { kDebug, kInfo, kWarn, kError };
// Logs text, quoted as a JSON string in JSON mode.
void LogText(LogLevel level, const std::string& text);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_REQUEST_LOG_H_
