// Text-file helpers shared by linspec-eval and tools/train/train.py's evaluation protocol.
//
// A split file holds documents separated by one blank line. SplitDocuments strips trailing
// newlines from the whole text, cuts it at "\n\n" and drops empty pieces, exactly as
// tools/train/train.py's read_docs() does, so both sides score the same token sequences.
// Thread-safety: free functions without shared state.
#ifndef LINSPEC_TOOLS_EVAL_TEXT_DOCS_H_
#define LINSPEC_TOOLS_EVAL_TEXT_DOCS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/types.h"

namespace linspec::tools {

// Whole file as bytes. NotFound / Internal name the path.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

std::vector<std::string> SplitDocuments(std::string_view text);

// Encodes each document without BOS/EOS; like Hugging Face encode(add_special_tokens=False),
// special-token text such as "<|eos|>" written in a document still maps to its id.
absl::StatusOr<std::vector<std::vector<engine::TokenId>>> EncodeDocuments(
    const engine::Tokenizer& tokenizer, const std::vector<std::string>& docs);

}  // namespace linspec::tools

#endif  // LINSPEC_TOOLS_EVAL_TEXT_DOCS_H_
