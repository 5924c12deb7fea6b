// Optional API-key check for HTTP (Authorization: Bearer <key>) and gRPC (metadata
// "authorization: Bearer <key>"). The comparison takes time independent of where the keys
// differ. Immutable after construction; thread-safe.
#ifndef LINSPEC_SERVER_AUTH_H_
#define LINSPEC_SERVER_AUTH_H_

#include <string>
#include <string_view>
#include <vector>

namespace linspec::server {

// True when a and b are equal; runs in time that depends only on the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

class ApiKeyAuth {
 public:
  // Empty key: authentication disabled. exempt_paths: HTTP paths that need no key.
  ApiKeyAuth(std::string key, std::vector<std::string> exempt_paths);

  bool enabled() const { return !key_.empty(); }
  bool IsExempt(std::string_view path) const;
  // authorization_value: the whole header value, e.g. "Bearer sk-123" (scheme is
  // case-insensitive). True when auth is disabled or the key matches.
  bool Check(std::string_view authorization_value) const;

 private:
  std::string key_;
  std::vector<std::string> exempt_paths_;
};

// Reads a key file: the first line, surrounding whitespace removed. Empty on error.
std::string ReadApiKeyFile(const std::string& path, std::string* error);

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_AUTH_H_
