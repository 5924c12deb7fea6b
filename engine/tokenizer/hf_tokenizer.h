// Tokenizer for Hugging Face tokenizer.json files with a BPE model: byte-level BPE (GPT-2,
// Llama-3, Qwen) and Metaspace / SentencePiece-style BPE with byte fallback (Llama-2).
// Pipeline per Encode: split on added tokens -> normalizer -> pre-tokenizer -> BPE per word
// -> post-processor. Immutable after loading; all methods are thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_HF_TOKENIZER_H_
#define LINSPEC_ENGINE_TOKENIZER_HF_TOKENIZER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/decoder.h"
#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/post_processor.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace linspec::engine {

struct HfTokenizerOptions {
  // Contents of tokenizer_config.json, when available: bos_token / eos_token name the BOS
  // and EOS tokens (otherwise the post-processor template and common names are used).
  std::optional<std::string> tokenizer_config_json;
};

// Parses a tokenizer.json document. InvalidArgument for malformed JSON, unsupported model /
// normalizer / pre-tokenizer / decoder / post-processor types (the message names the type),
// or inconsistent vocabularies (merge of unknown tokens, negative or huge ids).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizerFromJson(
    std::string_view tokenizer_json, const HfTokenizerOptions& options = {});

namespace tokenizer {

// The pieces a loaded tokenizer.json is made of (built by the loader in hf_loader.cc).
struct HfParts {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Decoder> decoder;
  PostProcessor post_processor;
  std::vector<AddedToken> added_tokens;
  std::vector<std::string> id_to_token;  // "" for ids without a token
  std::vector<bool> has_token;
  std::optional<TokenId> bos_id;
  std::optional<TokenId> eos_id;
};

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(HfParts parts);

  absl::StatusOr<std::vector<TokenId>> Encode(std::string_view text,
                                              const EncodeOptions& options) const override;
  absl::StatusOr<std::string> Decode(absl::Span<const TokenId> ids,
                                     bool skip_special_tokens) const override;
  int vocab_size() const override { return static_cast<int>(parts_.id_to_token.size()); }
  std::string IdToToken(TokenId id) const override;
  std::optional<TokenId> TokenToId(std::string_view token) const override;
  bool IsSpecial(TokenId id) const override;
  std::optional<TokenId> bos_id() const override { return parts_.bos_id; }
  std::optional<TokenId> eos_id() const override { return parts_.eos_id; }

 private:
  void EncodeSection(std::string_view text, bool at_start, std::vector<TokenId>* ids) const;
  void ApplyPostProcessor(const EncodeOptions& options, std::vector<TokenId>* ids) const;

  HfParts parts_;
  AddedTokenMatcher added_;
  absl::flat_hash_map<std::string, TokenId> token_to_id_;
  std::vector<bool> special_;
  std::vector<std::string> id_bytes_;  // byte-level decode fast path; empty when unused
};

}  // namespace tokenizer
}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_TOKENIZER_HF_TOKENIZER_H_
