#include "server/auth.h"

#include <cctype>
#include <fstream>
#include <sstream>
#include <utility>

namespace linspec::server {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Walk the longer length so the time reveals nothing but the lengths.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

ApiKeyAuth::ApiKeyAuth(std::string key, std::vector<std::string> exempt_paths)
    : key_(std::move(key)), exempt_paths_(std::move(exempt_paths)) {}

bool ApiKeyAuth::IsExempt(std::string_view path) const {
  for (const auto& p : exempt_paths_) {
    if (path == p) return true;
  }
  return false;
}

bool ApiKeyAuth::Check(std::string_view value) const {
  if (key_.empty()) return true;
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return false;
  }
  std::string_view token = value.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  return ConstantTimeEquals(token, key_);
}

std::string ReadApiKeyFile(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read API key file " + path;
    return "";
  }
  std::string line;
  std::getline(in, line);
  size_t b = 0, e = line.size();
  while (b < e && std::isspace(static_cast<unsigned char>(line[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(line[e - 1]))) --e;
  if (b == e) *error = "API key file " + path + " is empty";
  return line.substr(b, e - b);
}

}  // namespace linspec::server
