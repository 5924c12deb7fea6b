// Splits text with a Hugging Face pre-tokenizer regex (Oniguruma syntax) using RE2.
//
// RE2 has no lookaround, so the one construct these patterns use, a final `\s+(?!\S)|\s+`
// alternative (GPT-2, Llama-3, Qwen), is emulated in code: a whitespace run matched by it
// gives back its last character when text follows. `\s` / `\S` are rewritten to Unicode
// White_Space classes (RE2's `\s` is ASCII only). Any other lookaround is rejected.
// Immutable after Create; thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_SPLIT_REGEX_H_
#define LINSPEC_ENGINE_TOKENIZER_SPLIT_REGEX_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}

namespace linspec::engine::tokenizer {

// The GPT-2 ByteLevel split pattern.
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class SplitRegex {
 public:
  // InvalidArgument when the pattern uses unsupported syntax (lookaround other than the
  // trailing `\s+(?!\S)|\s+`, `\S` inside a class) or RE2 rejects it.
  static absl::StatusOr<std::unique_ptr<SplitRegex>> Create(std::string_view pattern);
  ~SplitRegex();

  // Appends the matches and the unmatched gaps between them, in order (HF "Isolated").
  // When `removed` is true the matches are dropped and only the gaps are kept.
  void Split(std::string_view text, bool removed, std::vector<std::string_view>* out) const;

  // The RE2 pattern after translation (for tests and error messages).
  const std::string& translated() const { return translated_; }

 private:
  SplitRegex() = default;
  // Length of the match at `pos` after applying the `\s+(?!\S)` rule.
  size_t AdjustWhitespaceMatch(std::string_view text, size_t start, size_t end) const;

  std::string translated_;
  std::unique_ptr<re2::RE2> re_;
  std::unique_ptr<re2::RE2> before_ws_;  // alternatives before `\s+(?!\S)`, if any
  bool ws_lookahead_ = false;
};

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_SPLIT_REGEX_H_
