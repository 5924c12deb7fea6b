// tokenizer.json "pre_tokenizer": splits one text section into words for the BPE model.
// Supported: Split (Regex or String pattern; behaviour Isolated or Removed), ByteLevel
// (optionally with the GPT-2 split regex and add_prefix_space; must come last), Metaspace
// (replacement, prepend_scheme always/first/never, split), Digits, and a Sequence of these. Others
// are rejected with InvalidArgument naming the type. Immutable; thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
#define LINSPEC_ENGINE_TOKENIZER_PRE_TOKENIZER_H_

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/json_util.h"
#include "engine/tokenizer/split_regex.h"

namespace linspec::engine::tokenizer {

class PreTokenizer {
 public:
  // A JSON null gives a pre-tokenizer that returns the section as one word.
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromJson(const Json& j);
  ~PreTokenizer();

  // Splits `text` (a section that starts at offset 0 of the input when `at_start`) into
  // words. Rewritten text lives in `storage`, whose elements must outlive the words.
  void Run(std::string_view text, bool at_start, std::vector<std::string_view>* words,
           std::deque<std::string>* storage) const;

  // True when the chain ends with ByteLevel: words are raw bytes for a byte-level model.
  bool byte_level() const { return byte_level_; }

 private:
  enum class PrependScheme { kAlways, kFirst, kNever };
  struct Step {
    enum class Kind { kSplitRegex, kSplitString, kByteLevel, kMetaspace } kind;
    std::unique_ptr<SplitRegex> regex;               // kSplitRegex; kByteLevel with use_regex
    std::string literal;                             // kSplitString pattern; kMetaspace replacement
    bool removed = false;                            // Split behaviour Removed
    bool add_prefix_space = false;                   // kByteLevel
    PrependScheme prepend = PrependScheme::kAlways;  // kMetaspace
    bool split = true;                               // kMetaspace
  };
  absl::Status AddSteps(const Json& j);
  absl::Status AddSplit(const Json& j);
  absl::Status AddMetaspace(const Json& j);
  absl::Status AddByteLevel(const Json& j);
  void RunStep(const Step& step, std::vector<std::string_view>* words, std::vector<bool>* at_start,
               std::deque<std::string>* storage) const;

  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
