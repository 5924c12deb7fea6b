// Tokenizer interface: Hugging Face tokenizer.json (byte-level BPE; Metaspace BPE with byte
// fallback) or SentencePiece tokenizer.model. Immutable after loading; all methods are
// thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_TOKENIZER_H_
#define LINSPEC_ENGINE_TOKENIZER_TOKENIZER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/types.h"

namespace linspec::engine {

struct EncodeOptions {
  // Apply the post-processor (BOS/EOS as the tokenizer configures).
  bool add_special_tokens = true;
  // Match added/special tokens written in the text (e.g. "<|endoftext|>").
  bool parse_special = true;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual absl::StatusOr<std::vector<TokenId>> Encode(std::string_view text,
                                                      const EncodeOptions& options) const = 0;
  // Decodes ids to text. Out-of-range ids give InvalidArgument. Invalid UTF-8 produced by
  // byte tokens is replaced with U+FFFD, as Hugging Face does.
  virtual absl::StatusOr<std::string> Decode(absl::Span<const TokenId> ids,
                                             bool skip_special_tokens) const = 0;
  virtual int vocab_size() const = 0;
  // Token string as stored in the vocabulary ("Ġthe", "▁the", "<0x0A>").
  virtual std::string IdToToken(TokenId id) const = 0;
  virtual std::optional<TokenId> TokenToId(std::string_view token) const = 0;
  virtual bool IsSpecial(TokenId id) const = 0;
  virtual std::optional<TokenId> bos_id() const = 0;
  virtual std::optional<TokenId> eos_id() const = 0;
};

// Loads <dir>/tokenizer.json, or <dir>/tokenizer.model when there is no tokenizer.json.
// Unsupported types or malformed files give InvalidArgument naming what is unsupported.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir);

// Streaming detokenizer: feed tokens as they are generated; returns text deltas that never
// split a UTF-8 character or byte-fallback sequence. The concatenation of all deltas plus
// Flush() equals tokenizer.Decode(all_tokens, skip_special_tokens).
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = true);
  // Optionally seed with prompt tokens so leading-space rules match a continuation.
  void SetPrefix(absl::Span<const TokenId> prompt_tail);
  std::string Push(absl::Span<const TokenId> ids);
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<TokenId> ids_;
  size_t prefix_offset_ = 0;  // ids_ before this were fully emitted
  size_t emitted_bytes_ = 0;  // bytes of Decode(ids_[prefix_offset_..]) already emitted
};

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_TOKENIZER_TOKENIZER_H_
