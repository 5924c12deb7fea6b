#include "tests/unit/scheduler/fake_tokenizer.h"

#include "absl/strings/str_cat.h"

namespace linspec::testing {

namespace {

// Copies valid UTF-8 and replaces each invalid or truncated sequence with U+FFFD.
std::string SanitizeUtf8(const std::string& in) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    const unsigned char c = in[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (size_t j = 1; ok && j < len; ++j)
      ok = (static_cast<unsigned char>(in[i + j]) & 0xC0) == 0x80;
    if (ok) {
      out.append(in, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace

FakeTokenizer::FakeTokenizer(int vocab_size) {
  const std::vector<std::string> base = {"<eos>", "<bos>", "a",   "b", "ab", " ", "c",  "\xC3",
                                         "\xA9",  "ba",    "abc", "!", "d",  "é", " a", "\n"};
  for (int i = 0; i < vocab_size; ++i) {
    pieces_.push_back(i < static_cast<int>(base.size())
                          ? base[i]
                          : std::string(1, static_cast<char>('e' + (i - base.size()) % 20)));
  }
}

absl::StatusOr<std::vector<engine::TokenId>> FakeTokenizer::Encode(
    std::string_view text, const engine::EncodeOptions& options) const {
  return absl::UnimplementedError("FakeTokenizer::Encode");
}

absl::StatusOr<std::string> FakeTokenizer::Decode(absl::Span<const engine::TokenId> ids,
                                                  bool skip_special_tokens) const {
  std::string raw;
  for (engine::TokenId id : ids) {
    if (id < 0 || id >= vocab_size()) return absl::InvalidArgumentError("bad id");
    if (skip_special_tokens && IsSpecial(id)) continue;
    raw += pieces_[id];
  }
  return SanitizeUtf8(raw);
}

std::string FakeTokenizer::IdToToken(engine::TokenId id) const {
  return id >= 0 && id < vocab_size() ? pieces_[id] : "";
}

std::optional<engine::TokenId> FakeTokenizer::TokenToId(std::string_view token) const {
  for (int i = 0; i < vocab_size(); ++i) {
    if (pieces_[i] == token) return i;
  }
  return std::nullopt;
}

}  // namespace linspec::testing
