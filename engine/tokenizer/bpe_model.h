// The BPE model of a Hugging Face tokenizer.json: merges applied by rank to the symbols of
// one pre-tokenized word.
//
// Byte-level models (GPT-2, Llama-3, Qwen) work on raw bytes: vocabulary strings are mapped
// back from the byte-to-unicode alphabet at load time, so encoding never builds "Ġ" strings.
// Other models (Llama-2 Metaspace) start from UTF-8 characters, with `<0xNN>` byte tokens
// for characters outside the vocabulary when byte_fallback is set, else the unk token.
// Immutable after Create (the word cache is internally synchronized); thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_BPE_MODEL_H_
#define LINSPEC_ENGINE_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/word_cache.h"
#include "engine/types.h"

namespace linspec::engine::tokenizer {

struct BpeOptions {
  bool byte_level = false;     // symbols are bytes (ByteLevel pre-tokenizer present)
  bool byte_fallback = false;  // unknown characters become <0xNN> tokens
  bool ignore_merges = false;  // a word that is itself in the vocabulary is one token
  std::optional<TokenId> unk_id;
  bool fuse_unk = false;
  size_t cache_capacity = 1 << 17;  // words; about 10 MB when full
};

// Vocabulary in tokenizer.json form (token string -> id) and merges as pairs of strings.
using Vocab = absl::flat_hash_map<std::string, TokenId>;
using MergeList = std::vector<std::pair<std::string, std::string>>;

class BpeModel {
 public:
  // InvalidArgument when a merge names a token that is not in the vocabulary.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(const Vocab& vocab,
                                                          const MergeList& merges,
                                                          const BpeOptions& options);

  // Appends the ids of `word` (bytes for byte-level models, UTF-8 otherwise) to `out`.
  void Encode(std::string_view word, std::vector<TokenId>* out) const;

  const BpeOptions& options() const { return options_; }

 private:
  struct Merge {
    int32_t rank;
    TokenId new_id;
  };
  struct Symbol {
    TokenId id;
    int32_t prev;
    int32_t next;
    uint32_t len;  // bytes; 0 once merged away
  };

  explicit BpeModel(const BpeOptions& options)
      : options_(options), cache_(options.cache_capacity) {}
  static uint64_t PairKey(TokenId a, TokenId b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const Merge* FindMerge(TokenId a, TokenId b) const;
  void InitialSymbols(std::string_view word, std::vector<Symbol>* symbols) const;
  void AddUnknown(uint32_t len, std::vector<Symbol>* symbols) const;
  void MergeAll(std::vector<Symbol>* symbols) const;
  void EncodeUncached(std::string_view word, std::vector<TokenId>* out) const;
  void EncodeCached(std::string_view word, std::vector<TokenId>* out) const;
  static bool MetaspaceSplitIsExact(const Vocab& vocab);

  BpeOptions options_;
  absl::flat_hash_map<std::string, TokenId> symbol_to_id_;  // bytes or UTF-8, see above
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<TokenId, 256> byte_ids_{};  // byte-level: id of each single byte; fallback: <0xNN>
  std::array<bool, 256> has_byte_id_{};
  // Metaspace vocabularies (Llama-2) where no token has "▁" after another character: a word
  // can be cut before every "▁" that follows a non-"▁" character without changing the
  // result (no merge can cross the cut), which keeps words short enough for the cache.
  bool metaspace_split_ = false;
  WordCache cache_;
};

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_BPE_MODEL_H_
