// UTF-8 helpers shared by the tokenizer pieces. Pure functions; thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_UTF8_H_
#define LINSPEC_ENGINE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace linspec::engine::tokenizer {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Length in bytes of the valid UTF-8 character starting at s[i], or 0 when the bytes there
// are not a complete, well-formed character (overlongs, surrogates and > U+10FFFF rejected).
size_t ValidCharLen(std::string_view s, size_t i);

// Decodes the valid character at s[i] (caller checked ValidCharLen > 0).
char32_t DecodeChar(std::string_view s, size_t i, size_t len);

void AppendUtf8(char32_t cp, std::string* out);

bool IsValidUtf8(std::string_view s);

// Appends `bytes` to `out`, replacing each maximal ill-formed subsequence with U+FFFD (the
// Unicode / WHATWG "substitution of maximal subparts" that Rust's from_utf8_lossy and
// TextDecoder use).
void AppendUtf8Lossy(std::string_view bytes, std::string* out);

// True when the code point has the Unicode White_Space property (what Rust's and
// Oniguruma's \s match).
bool IsUnicodeWhitespace(char32_t cp);

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_UTF8_H_
