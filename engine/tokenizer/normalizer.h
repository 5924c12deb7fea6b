// tokenizer.json "normalizer": Sequence of Prepend, Replace (String pattern), Strip, and NFC
// (unicode_nfc.h). Other normalizers are rejected with InvalidArgument naming the type.
// Immutable; thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_NORMALIZER_H_
#define LINSPEC_ENGINE_TOKENIZER_NORMALIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/json_util.h"

namespace linspec::engine::tokenizer {

class Normalizer {
 public:
  // Returns nullptr for a JSON null (no normalizer).
  static absl::StatusOr<std::unique_ptr<Normalizer>> FromJson(const Json& j);

  std::string Normalize(std::string_view text) const;

 private:
  struct Step {
    enum class Kind { kPrepend, kReplace, kStrip, kNfc } kind;
    std::string from;  // Prepend: the prefix; Replace: the pattern
    std::string to;
    bool strip_left = false;
    bool strip_right = false;
  };
  static absl::Status AddSteps(const Json& j, std::vector<Step>* steps);

  std::vector<Step> steps_;
};

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_NORMALIZER_H_
