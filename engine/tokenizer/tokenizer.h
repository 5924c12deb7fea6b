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
  // Match added/special tokens written in the text (e.g. "<|endoftext|>"). When false only
  // non-special added tokens are matched and special ones are encoded as plain text.
  bool parse_special = true;
  // Override the post-processor for the BOS / EOS token (when the tokenizer has one):
  // true makes the sequence start with BOS (end with EOS), false removes a BOS (EOS) that
  // the post-processor would add. nullopt keeps the tokenizer's configuration. Applied only
  // when add_special_tokens is true.
  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
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

// Loads <dir>/tokenizer.json, or <dir>/tokenizer.model when there is no tokenizer.json
// (<dir>/tokenizer_config.json, when present, supplies bos_token / eos_token, and for
// tokenizer.model add_bos_token / add_eos_token; tokenizer.json follows its post_processor,
// as Hugging Face's fast tokenizers do). `model_dir` may also name a tokenizer.json or .model file.
// Unsupported types or malformed files give InvalidArgument naming what is unsupported;
// NotFound when neither file exists.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir);

// Streaming detokenizer: feed tokens as they are generated; returns text deltas that never
// split a UTF-8 character or byte-fallback sequence. The concatenation of all deltas plus
// Flush() equals tokenizer.Decode(all_tokens, skip_special_tokens). With SetPrefix(p) it
// equals the part of Decode(p + all_tokens) after Decode(p) (the continuation, with the
// leading-space rules of the prompt context). Text is held back while the decoded tail ends
// in U+FFFD or the last token is a <0xNN> byte token; Flush() emits whatever is held.
// Ids out of range are skipped (Decode would reject them). Cost per Push is proportional to
// the few tokens since the last emitted boundary. One instance per stream; not thread-safe;
// `tokenizer` must outlive it.
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = true);
  // Optionally seed with prompt tokens so leading-space rules match a continuation. Call
  // before the first Push.
  void SetPrefix(absl::Span<const TokenId> prompt_tail);
  std::string Push(absl::Span<const TokenId> ids);
  std::string Flush();

 private:
  std::string DecodeRange(size_t begin, size_t end) const;
  bool TailIsPending() const;
  void Advance();

  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<TokenId> ids_;
  size_t prefix_offset_ = 0;  // start of the decode window (context for leading spaces)
  size_t read_offset_ = 0;    // ids_ before this have been fully emitted
  std::string prefix_text_;   // Decode(ids_[prefix_offset_, read_offset_))
};

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_TOKENIZER_TOKENIZER_H_
