// LoadTokenizer: picks tokenizer.json or tokenizer.model in a model directory.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/hf_tokenizer.h"
#include "engine/tokenizer/sentencepiece_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace linspec::engine {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  std::ostringstream data;
  data << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path.string()));
  return data.str();
}

std::optional<std::string> ReadOptional(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  auto data = ReadFile(path);
  if (!data.ok()) return std::nullopt;
  return *std::move(data);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFile(const fs::path& path) {
  auto data = ReadFile(path);
  if (!data.ok()) return data.status();
  const std::optional<std::string> config =
      ReadOptional(path.parent_path() / "tokenizer_config.json");
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok;
  if (path.extension() == ".model") {
    tok = LoadSentencePieceTokenizer(*data, {config});
  } else {
    tok = LoadHfTokenizerFromJson(*data, {config});
  }
  if (!tok.ok()) {
    return absl::Status(tok.status().code(),
                        absl::StrCat(path.string(), ": ", tok.status().message()));
  }
  return tok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir) {
  const fs::path dir(model_dir);
  std::error_code ec;
  if (fs::is_regular_file(dir, ec)) return LoadFile(dir);
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    if (fs::is_regular_file(dir / name, ec)) return LoadFile(dir / name);
  }
  return absl::NotFoundError(
      absl::StrCat("no tokenizer.json or tokenizer.model in '", model_dir, "'"));
}

}  // namespace linspec::engine
