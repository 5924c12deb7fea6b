// Added / special tokens (tokenizer.json "added_tokens") and the matcher that splits text on
// them before normalization and BPE, the way Hugging Face tokenizers do: leftmost-longest
// match, `lstrip` / `rstrip` absorb neighbouring whitespace, `single_word` requires word
// boundaries. Tokens are matched on the raw text (also those marked `normalized`; exact for
// the tokenizers we load, which normalize nothing that added tokens contain).
// Immutable after construction; thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_ADDED_TOKENS_H_
#define LINSPEC_ENGINE_TOKENIZER_ADDED_TOKENS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.h"

namespace linspec::engine::tokenizer {

struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

// One piece of the input: either plain text to encode, or a matched added token.
struct TextSection {
  std::string_view text;
  const AddedToken* token = nullptr;  // non-null: emit token->id
};

class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  // Splits `text` into sections. Special tokens are matched only when `match_special`.
  void Split(std::string_view text, bool match_special, std::vector<TextSection>* out) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

 private:
  struct Match {
    size_t start = 0;  // after lstrip extension
    size_t end = 0;    // after rstrip extension
    const AddedToken* token = nullptr;
  };
  // Finds the leftmost-longest token occurrence at or after `pos`.
  bool FindNext(std::string_view text, size_t pos, bool match_special, Match* match) const;
  bool BoundaryOk(std::string_view text, size_t start, size_t end) const;

  std::vector<AddedToken> tokens_;
  // Indices into tokens_ by first byte, longest content first.
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_ADDED_TOKENS_H_
