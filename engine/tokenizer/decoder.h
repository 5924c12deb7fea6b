// tokenizer.json "decoder": turns token strings back into text, with Hugging Face (Rust)
// semantics. Supported: ByteLevel, Metaspace, Replace (String pattern), ByteFallback, Fuse,
// Strip, and a Sequence of these. Others are rejected with InvalidArgument naming the type.
// The result is always valid UTF-8 (invalid bytes become U+FFFD; an invalid ByteFallback
// run gives one U+FFFD per byte, as in the Rust library). Immutable; thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_DECODER_H_
#define LINSPEC_ENGINE_TOKENIZER_DECODER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/json_util.h"

namespace linspec::engine::tokenizer {

class Decoder {
 public:
  // A JSON null gives a decoder that joins tokens with spaces, as Hugging Face does.
  static absl::StatusOr<std::unique_ptr<Decoder>> FromJson(const Json& j);

  std::string Decode(std::vector<std::string> tokens) const;

  // True when the chain is exactly one ByteLevel decoder (callers may use a byte fast path).
  bool IsPlainByteLevel() const;

 private:
  struct Step {
    enum class Kind { kByteLevel, kMetaspace, kReplace, kByteFallback, kFuse, kStrip } kind;
    std::string from;               // Replace pattern; Metaspace replacement; Strip content
    std::string to;                 // Replace content
    int start = 0;                  // Strip
    int stop = 0;                   // Strip
    bool strip_first_space = true;  // Metaspace (prepend_scheme != never)
  };
  absl::Status AddSteps(const Json& j);
  static void ApplyStep(const Step& step, std::vector<std::string>* tokens);

  std::vector<Step> steps_;
  bool null_decoder_ = false;
};

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_DECODER_H_
