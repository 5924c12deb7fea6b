// IncrementalDetokenizer (declared in tokenizer.h).
//
// Window algorithm: text for ids_[read_offset_, n) is Decode(ids_[prefix_offset_, n)) minus
// its first prefix_text_.size() bytes, where prefix_text_ = Decode(ids_[prefix_offset_,
// read_offset_)). Decoding from prefix_offset_ rather than read_offset_ gives the new tokens
// the context that leading-space rules (Metaspace, Strip) and byte merging need. The window
// moves forward only when its decoded tail is final: no trailing U+FFFD (an incomplete UTF-8
// character may still be completed) and no trailing <0xNN> token (a byte-fallback run is
// decoded as a whole).
#include <algorithm>
#include <cctype>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace linspec::engine {
namespace {

// Longest prompt context kept by SetPrefix; bounds the cost of every Push.
constexpr size_t kMaxPrefixTokens = 32;

bool IsByteToken(const std::string& token) {
  return token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(token[3])) &&
         std::isxdigit(static_cast<unsigned char>(token[4]));
}

bool EndsWithReplacement(const std::string& s) {
  const std::string_view r = tokenizer::kReplacementChar;
  return s.size() >= r.size() && s.compare(s.size() - r.size(), r.size(), r) == 0;
}

// Length of the longest common prefix of a and b that ends on a character boundary of b.
size_t CommonPrefix(const std::string& a, const std::string& b) {
  size_t n = 0;
  const size_t limit = std::min(a.size(), b.size());
  while (n < limit && a[n] == b[n]) ++n;
  while (n > 0 && n < b.size() && (static_cast<unsigned char>(b[n]) & 0xC0) == 0x80) --n;
  return n;
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

std::string IncrementalDetokenizer::DecodeRange(size_t begin, size_t end) const {
  auto text =
      tokenizer_.Decode(absl::MakeConstSpan(ids_).subspan(begin, end - begin), skip_special_);
  return text.ok() ? *std::move(text) : std::string();
}

bool IncrementalDetokenizer::TailIsPending() const {
  for (size_t i = ids_.size(); i > read_offset_; --i) {
    const TokenId id = ids_[i - 1];
    if (skip_special_ && tokenizer_.IsSpecial(id)) continue;  // invisible; look further back
    return IsByteToken(tokenizer_.IdToToken(id));
  }
  return false;
}

void IncrementalDetokenizer::SetPrefix(absl::Span<const TokenId> prompt_tail) {
  if (prompt_tail.size() > kMaxPrefixTokens) {
    prompt_tail = prompt_tail.subspan(prompt_tail.size() - kMaxPrefixTokens);
  }
  ids_.clear();
  for (TokenId id : prompt_tail) {
    if (id >= 0 && id < tokenizer_.vocab_size() && !tokenizer_.IdToToken(id).empty()) {
      ids_.push_back(id);
    }
  }
  prefix_offset_ = 0;
  read_offset_ = ids_.size();
  prefix_text_ = DecodeRange(0, read_offset_);
}

std::string IncrementalDetokenizer::Push(absl::Span<const TokenId> ids) {
  for (TokenId id : ids) {
    // Ids Decode would reject are dropped so that one bad id cannot stall the stream.
    if (id >= 0 && id < tokenizer_.vocab_size() && !tokenizer_.IdToToken(id).empty()) {
      ids_.push_back(id);
    }
  }
  if (read_offset_ == ids_.size() || TailIsPending()) return "";
  std::string full = DecodeRange(prefix_offset_, ids_.size());
  if (EndsWithReplacement(full)) return "";
  if (full.size() <= prefix_text_.size()) return "";  // nothing visible yet
  const size_t common = CommonPrefix(prefix_text_, full);
  std::string delta = full.substr(common);
  Advance();
  return delta;
}

void IncrementalDetokenizer::Advance() {
  // The next window starts at the first ordinary token just emitted: a window that starts
  // with a special token can decode differently (SentencePiece treats the piece after a
  // leading control symbol as the start of the text). With none, the window keeps growing.
  for (size_t i = read_offset_; i < ids_.size(); ++i) {
    if (!tokenizer_.IsSpecial(ids_[i])) {
      prefix_offset_ = i;
      break;
    }
  }
  read_offset_ = ids_.size();
  prefix_text_ = DecodeRange(prefix_offset_, read_offset_);
}

std::string IncrementalDetokenizer::Flush() {
  if (read_offset_ == ids_.size()) return "";
  const std::string full = DecodeRange(prefix_offset_, ids_.size());
  const size_t common = CommonPrefix(prefix_text_, full);
  std::string delta = full.substr(common);
  Advance();
  return delta;
}

}  // namespace linspec::engine
