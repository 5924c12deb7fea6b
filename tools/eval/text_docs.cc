#include "tools/eval/text_docs.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "common/status_macros.h"

namespace linspec::tools {

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::InternalError("read error in " + path);
  return ss.str();
}

std::vector<std::string> SplitDocuments(std::string_view text) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::vector<std::string> docs;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find("\n\n", start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) docs.emplace_back(text.substr(start, end - start));
    start = end + 2;
  }
  return docs;
}

absl::StatusOr<std::vector<std::vector<engine::TokenId>>> EncodeDocuments(
    const engine::Tokenizer& tokenizer, const std::vector<std::string>& docs) {
  std::vector<std::vector<engine::TokenId>> out;
  out.reserve(docs.size());
  engine::EncodeOptions opts;
  opts.add_special_tokens = false;
  opts.parse_special = true;
  for (const std::string& d : docs) {
    ASSIGN_OR_RETURN(std::vector<engine::TokenId> ids, tokenizer.Encode(d, opts));
    out.push_back(std::move(ids));
  }
  return out;
}

}  // namespace linspec::tools
