#include "engine/tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "engine/tokenizer/utf8.h"

namespace linspec::engine::tokenizer {
namespace {

bool IsWordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c >= 0x80;
}

// Whitespace length ending at `end` (scanning left) or starting at `start` (scanning right).
size_t WhitespaceBefore(std::string_view text, size_t end) {
  size_t i = end;
  while (i > 0) {
    size_t j = i - 1;
    while (j > 0 && (static_cast<unsigned char>(text[j]) & 0xC0) == 0x80) --j;
    const size_t n = ValidCharLen(text, j);
    if (n == 0 || j + n != i || !IsUnicodeWhitespace(DecodeChar(text, j, n))) break;
    i = j;
  }
  return end - i;
}

size_t WhitespaceAfter(std::string_view text, size_t start) {
  size_t i = start;
  while (i < text.size()) {
    const size_t n = ValidCharLen(text, i);
    if (n == 0 || !IsUnicodeWhitespace(DecodeChar(text, i, n))) break;
    i += n;
  }
  return i - start;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  for (uint32_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].content.empty()) continue;
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  }
  for (auto& list : by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [this](uint32_t a, uint32_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

bool AddedTokenMatcher::BoundaryOk(std::string_view text, size_t start, size_t end) const {
  if (start > 0 && IsWordByte(text[start - 1]) && IsWordByte(text[start])) return false;
  if (end < text.size() && IsWordByte(text[end]) && IsWordByte(text[end - 1])) return false;
  return true;
}

bool AddedTokenMatcher::FindNext(std::string_view text, size_t pos, bool match_special,
                                 Match* match) const {
  for (size_t i = pos; i < text.size(); ++i) {
    const auto& candidates = by_first_byte_[static_cast<unsigned char>(text[i])];
    for (uint32_t index : candidates) {
      const AddedToken& t = tokens_[index];
      if (t.special && !match_special) continue;
      if (t.content.size() > text.size() - i) continue;
      if (std::memcmp(text.data() + i, t.content.data(), t.content.size()) != 0) continue;
      const size_t end = i + t.content.size();
      if (t.single_word && !BoundaryOk(text, i, end)) continue;
      match->token = &t;
      match->start = t.lstrip ? i - std::min(WhitespaceBefore(text, i), i - pos) : i;
      match->end = t.rstrip ? end + WhitespaceAfter(text, end) : end;
      return true;
    }
  }
  return false;
}

void AddedTokenMatcher::Split(std::string_view text, bool match_special,
                              std::vector<TextSection>* out) const {
  if (tokens_.empty()) {
    out->push_back({text, nullptr});
    return;
  }
  size_t pos = 0;
  Match m;
  while (pos < text.size() && FindNext(text, pos, match_special, &m)) {
    if (m.start > pos) out->push_back({text.substr(pos, m.start - pos), nullptr});
    out->push_back({text.substr(m.start, m.end - m.start), m.token});
    pos = m.end;
  }
  if (pos < text.size()) out->push_back({text.substr(pos), nullptr});
}

}  // namespace linspec::engine::tokenizer
