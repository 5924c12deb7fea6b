// Tokenizer over a SentencePiece tokenizer.model (libsentencepiece). Control pieces (<s>,
// </s>) and <unk> are the special tokens: matched in text when parse_special, skipped by
// Decode(skip_special_tokens). BOS is added by default when the model has one, EOS not,
// unless tokenizer_config.json's add_bos_token / add_eos_token say otherwise.
// Immutable after loading; thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
#define LINSPEC_ENGINE_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace linspec::engine {

struct SentencePieceOptions {
  std::optional<std::string> tokenizer_config_json;
};

// InvalidArgument when `model_proto` is not a valid SentencePiece model.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(
    std::string_view model_proto, const SentencePieceOptions& options = {});

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
