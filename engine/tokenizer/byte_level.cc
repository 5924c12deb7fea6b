#include "engine/tokenizer/byte_level.h"

#include <array>

#include "engine/tokenizer/utf8.h"

namespace linspec::engine::tokenizer {
namespace {

constexpr char32_t kMaxMapped = 0x144;

struct Tables {
  std::array<char32_t, 256> byte_to_cp{};
  std::array<int, kMaxMapped> cp_to_byte{};
  Tables() {
    cp_to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const char32_t cp = printable ? static_cast<char32_t>(b) : 256 + extra++;
      byte_to_cp[b] = cp;
      cp_to_byte[cp] = b;
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

}  // namespace

char32_t ByteToUnicode(unsigned char byte) { return GetTables().byte_to_cp[byte]; }

std::optional<std::string> ByteLevelToBytes(std::string_view token) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(token.size());
  size_t i = 0;
  while (i < token.size()) {
    const size_t n = ValidCharLen(token, i);
    if (n == 0) return std::nullopt;
    const char32_t cp = DecodeChar(token, i, n);
    if (cp >= kMaxMapped || t.cp_to_byte[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(t.cp_to_byte[cp]));
    i += n;
  }
  return out;
}

std::string BytesToByteLevel(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) AppendUtf8(ByteToUnicode(b), &out);
  return out;
}

}  // namespace linspec::engine::tokenizer
