#include "engine/tokenizer/utf8.h"

#include <cstdint>

namespace linspec::engine::tokenizer {
namespace {

// For a lead byte, the number of continuation bytes and the allowed range of the first one.
struct LeadInfo {
  int continuation = -1;  // -1: not a valid lead byte
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
};

LeadInfo Lead(uint8_t b) {
  if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF};
  if (b == 0xE0) return {2, 0xA0, 0xBF};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {2, 0x80, 0xBF};
  if (b == 0xED) return {2, 0x80, 0x9F};
  if (b == 0xF0) return {3, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {3, 0x80, 0xBF};
  if (b == 0xF4) return {3, 0x80, 0x8F};
  return {};
}

// Number of bytes at s[i] that form a well-formed prefix of a character (>= 1 when s[i] is
// a valid lead), and whether the character is complete.
size_t ScanChar(std::string_view s, size_t i, bool* complete) {
  const auto b = static_cast<uint8_t>(s[i]);
  *complete = false;
  if (b < 0x80) {
    *complete = true;
    return 1;
  }
  const LeadInfo info = Lead(b);
  if (info.continuation < 0) return 0;
  size_t n = 1;
  for (int k = 0; k < info.continuation; ++k) {
    if (i + n >= s.size()) return n;
    const auto c = static_cast<uint8_t>(s[i + n]);
    const uint8_t lo = k == 0 ? info.lo : 0x80;
    const uint8_t hi = k == 0 ? info.hi : 0xBF;
    if (c < lo || c > hi) return n;
    ++n;
  }
  *complete = true;
  return n;
}

}  // namespace

size_t ValidCharLen(std::string_view s, size_t i) {
  bool complete = false;
  const size_t n = ScanChar(s, i, &complete);
  return complete ? n : 0;
}

char32_t DecodeChar(std::string_view s, size_t i, size_t len) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (len == 1) return b0;
  char32_t cp = b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = ValidCharLen(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void AppendUtf8Lossy(std::string_view bytes, std::string* out) {
  size_t i = 0;
  size_t run_start = 0;  // start of the pending run of valid bytes
  while (i < bytes.size()) {
    if (static_cast<uint8_t>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    bool complete = false;
    const size_t n = ScanChar(bytes, i, &complete);
    if (complete) {
      i += n;
      continue;
    }
    out->append(bytes.substr(run_start, i - run_start));
    out->append(kReplacementChar);
    i += n == 0 ? 1 : n;
    run_start = i;
  }
  out->append(bytes.substr(run_start));
}

bool IsUnicodeWhitespace(char32_t cp) {
  if (cp >= 0x09 && cp <= 0x0D) return true;
  switch (cp) {
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace linspec::engine::tokenizer
