// Non-throwing accessors over nlohmann::json for the tokenizer.json loader: a wrong type is
// reported as InvalidArgument naming the field, never as an exception.
#ifndef LINSPEC_ENGINE_TOKENIZER_JSON_UTIL_H_
#define LINSPEC_ENGINE_TOKENIZER_JSON_UTIL_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace linspec::engine::tokenizer {

using Json = nlohmann::json;

inline absl::Status JsonError(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer.json: ", std::string(where), ": ", std::string(what)));
}

// Value of a string field; `fallback` when absent or null; error for another type.
inline absl::StatusOr<std::string> JsonString(const Json& j, const char* key,
                                              std::string_view where,
                                              std::optional<std::string> fallback = std::nullopt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback.has_value()) return *fallback;
    return JsonError(where, absl::StrCat("missing string field '", key, "'"));
  }
  if (!it->is_string()) return JsonError(where, absl::StrCat("field '", key, "' must be a string"));
  return it->get<std::string>();
}

inline absl::StatusOr<bool> JsonBool(const Json& j, const char* key, std::string_view where,
                                     bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return JsonError(where, absl::StrCat("field '", key, "' must be a bool"));
  return it->get<bool>();
}

inline absl::StatusOr<int64_t> JsonInt(const Json& j, const char* key, std::string_view where,
                                       std::optional<int64_t> fallback = std::nullopt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback.has_value()) return *fallback;
    return JsonError(where, absl::StrCat("missing integer field '", key, "'"));
  }
  if (!it->is_number_integer()) {
    return JsonError(where, absl::StrCat("field '", key, "' must be an integer"));
  }
  return it->get<int64_t>();
}

// The "type" of a component object.
inline absl::StatusOr<std::string> JsonType(const Json& j, std::string_view where) {
  if (!j.is_object()) return JsonError(where, "must be an object");
  return JsonString(j, "type", where);
}

// The string of a {"String": "..."} or {"Regex": "..."} pattern object.
struct JsonPattern {
  bool is_regex = false;
  std::string text;
};
inline absl::StatusOr<JsonPattern> ParsePattern(const Json& j, std::string_view where) {
  if (j.is_object()) {
    if (auto it = j.find("String"); it != j.end() && it->is_string()) {
      return JsonPattern{false, it->get<std::string>()};
    }
    if (auto it = j.find("Regex"); it != j.end() && it->is_string()) {
      return JsonPattern{true, it->get<std::string>()};
    }
  }
  return JsonError(where, "pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_JSON_UTIL_H_
