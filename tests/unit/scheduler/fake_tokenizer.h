// A tiny tokenizer for scheduler tests: id 0 "<eos>" and id 1 "<bos>" are special, a few
// ids are raw bytes of a two-byte UTF-8 character (so streaming must not split it), the
// rest are short strings of one to three characters (so stop strings straddle tokens).
#ifndef LINSPEC_TESTS_UNIT_SCHEDULER_FAKE_TOKENIZER_H_
#define LINSPEC_TESTS_UNIT_SCHEDULER_FAKE_TOKENIZER_H_

#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace linspec::testing {

class FakeTokenizer : public engine::Tokenizer {
 public:
  explicit FakeTokenizer(int vocab_size);

  absl::StatusOr<std::vector<engine::TokenId>> Encode(
      std::string_view text, const engine::EncodeOptions& options) const override;
  absl::StatusOr<std::string> Decode(absl::Span<const engine::TokenId> ids,
                                     bool skip_special_tokens) const override;
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  std::string IdToToken(engine::TokenId id) const override;
  std::optional<engine::TokenId> TokenToId(std::string_view token) const override;
  bool IsSpecial(engine::TokenId id) const override { return id == 0 || id == 1; }
  std::optional<engine::TokenId> bos_id() const override { return 1; }
  std::optional<engine::TokenId> eos_id() const override { return 0; }

 private:
  std::vector<std::string> pieces_;
};

}  // namespace linspec::testing

#endif  // LINSPEC_TESTS_UNIT_SCHEDULER_FAKE_TOKENIZER_H_
