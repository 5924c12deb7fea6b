#include "server/sse.h"

#include <cstdio>
#include <string>

namespace linspec::server {

std::string SseData(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 8);
  size_t start = 0;
  while (true) {
    const size_t nl = payload.find('\n', start);
    out += "data: ";
    out.append(payload.substr(start, nl == std::string_view::npos ? nl : nl - start));
    out += '\n';
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out += '\n';
  return out;
}

std::string SseDone() { return "data: [DONE]\n\n"; }

std::string SseComment(std::string_view text) {
  std::string out = ": ";
  out.append(text);
  out += "\n\n";
  return out;
}

std::string HttpChunk(std::string_view payload) {
  if (payload.empty()) return "";
  char size[20];
  std::snprintf(size, sizeof(size), "%zx\r\n", payload.size());
  std::string out(size);
  out.append(payload);
  out += "\r\n";
  return out;
}

std::string HttpLastChunk() { return "0\r\n\r\n"; }

}  // namespace linspec::server
