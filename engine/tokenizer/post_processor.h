// tokenizer.json "post_processor" for single sequences: the special-token ids placed before
// and after the encoded text. Supported: TemplateProcessing, ByteLevel (adds nothing),
// RobertaProcessing, BertProcessing, and Sequence. Others are rejected with InvalidArgument.
#ifndef LINSPEC_ENGINE_TOKENIZER_POST_PROCESSOR_H_
#define LINSPEC_ENGINE_TOKENIZER_POST_PROCESSOR_H_

#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/json_util.h"
#include "engine/types.h"

namespace linspec::engine::tokenizer {

struct PostProcessor {
  std::vector<TokenId> prefix;
  std::vector<TokenId> suffix;

  // A JSON null gives an empty post-processor.
  static absl::StatusOr<PostProcessor> FromJson(const Json& j);
};

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_POST_PROCESSOR_H_
