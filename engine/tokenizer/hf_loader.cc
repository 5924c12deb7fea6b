// Parses tokenizer.json into HfParts (see hf_tokenizer.h).
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/hf_tokenizer.h"
#include "engine/tokenizer/json_util.h"

namespace linspec::engine {
namespace {

using tokenizer::AddedToken;
using tokenizer::HfParts;
using tokenizer::Json;
using tokenizer::JsonError;

// Larger ids would make the id tables absurdly big; no real vocabulary comes close.
constexpr int64_t kMaxTokenId = (1 << 24) - 1;

absl::Status ParseVocab(const Json& model, tokenizer::Vocab* vocab) {
  auto it = model.find("vocab");
  if (it == model.end() || !it->is_object()) return JsonError("model", "'vocab' must be an object");
  vocab->reserve(it->size());
  for (const auto& [token, id] : it->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokenId) {
      return JsonError("model.vocab", "id of token '" + token + "' is not a valid token id");
    }
    vocab->emplace(token, id.get<TokenId>());
  }
  return absl::OkStatus();
}

absl::Status ParseMerges(const Json& model, tokenizer::MergeList* merges) {
  auto it = model.find("merges");
  if (it == model.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return JsonError("model", "'merges' must be an array");
  merges->reserve(it->size());
  for (const Json& m : *it) {
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return JsonError("model.merges",
                         "merge '" + s + "' is not two tokens separated by a space");
      }
      merges->emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges->emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return JsonError("model.merges", "each merge must be \"a b\" or [\"a\", \"b\"]");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckUnsupportedModelFields(const Json& model) {
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() != 0.0) {
      return JsonError("model", "unsupported: BPE dropout");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() &&
        !(it->is_string() && it->get<std::string>().empty())) {
      return JsonError("model", absl::StrCat("unsupported: ", key));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAddedTokens(const Json& root, std::vector<AddedToken>* out) {
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return JsonError("added_tokens", "must be an array");
  for (const Json& t : *it) {
    if (!t.is_object()) return JsonError("added_tokens", "entries must be objects");
    AddedToken token;
    auto id = tokenizer::JsonInt(t, "id", "added_tokens");
    auto content = tokenizer::JsonString(t, "content", "added_tokens");
    if (!id.ok()) return id.status();
    if (!content.ok()) return content.status();
    if (*id < 0 || *id > kMaxTokenId) return JsonError("added_tokens", "invalid id");
    if (content->empty()) return JsonError("added_tokens", "empty content");
    token.id = static_cast<TokenId>(*id);
    token.content = *content;
    auto special = tokenizer::JsonBool(t, "special", "added_tokens", false);
    auto lstrip = tokenizer::JsonBool(t, "lstrip", "added_tokens", false);
    auto rstrip = tokenizer::JsonBool(t, "rstrip", "added_tokens", false);
    auto single_word = tokenizer::JsonBool(t, "single_word", "added_tokens", false);
    auto normalized = tokenizer::JsonBool(t, "normalized", "added_tokens", !token.special);
    for (const auto* b : {&special, &lstrip, &rstrip, &single_word, &normalized}) {
      if (!b->ok()) return b->status();
    }
    token.special = *special;
    token.lstrip = *lstrip;
    token.rstrip = *rstrip;
    token.single_word = *single_word;
    token.normalized = *normalized;
    out->push_back(std::move(token));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<tokenizer::BpeModel>> ParseModel(const Json& root, bool byte_level,
                                                                tokenizer::Vocab* vocab) {
  auto it = root.find("model");
  if (it == root.end() || !it->is_object()) return JsonError("model", "missing 'model' object");
  const Json& model = *it;
  auto type = tokenizer::JsonString(model, "type", "model", "BPE");
  if (!type.ok()) return type.status();
  if (*type != "BPE") {
    return JsonError("model", "unsupported model type '" + *type + "' (only BPE)");
  }
  if (absl::Status s = CheckUnsupportedModelFields(model); !s.ok()) return s;
  if (absl::Status s = ParseVocab(model, vocab); !s.ok()) return s;
  tokenizer::MergeList merges;
  if (absl::Status s = ParseMerges(model, &merges); !s.ok()) return s;
  tokenizer::BpeOptions options;
  options.byte_level = byte_level;
  auto byte_fallback = tokenizer::JsonBool(model, "byte_fallback", "model", false);
  auto ignore_merges = tokenizer::JsonBool(model, "ignore_merges", "model", false);
  auto fuse_unk = tokenizer::JsonBool(model, "fuse_unk", "model", false);
  auto unk = tokenizer::JsonString(model, "unk_token", "model", "");
  for (const auto* b : {&byte_fallback, &ignore_merges, &fuse_unk}) {
    if (!b->ok()) return b->status();
  }
  if (!unk.ok()) return unk.status();
  options.byte_fallback = *byte_fallback;
  options.ignore_merges = *ignore_merges;
  options.fuse_unk = *fuse_unk;
  if (auto u = vocab->find(*unk); !unk->empty() && u != vocab->end()) options.unk_id = u->second;
  return tokenizer::BpeModel::Create(*vocab, merges, options);
}

// Token name from tokenizer_config.json: "bos_token": "<s>" or {"content": "<s>", ...}.
std::optional<std::string> ConfigToken(const Json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

void ResolveBosEos(const HfTokenizerOptions& options, const tokenizer::Vocab& vocab,
                   HfParts* parts) {
  auto lookup = [&](const std::string& name) -> std::optional<TokenId> {
    for (const AddedToken& t : parts->added_tokens) {
      if (t.content == name) return t.id;
    }
    auto it = vocab.find(name);
    if (it == vocab.end()) return std::nullopt;
    return it->second;
  };
  Json config;
  if (options.tokenizer_config_json.has_value()) {
    config = Json::parse(*options.tokenizer_config_json, nullptr, /*allow_exceptions=*/false);
  }
  if (config.is_object()) {
    if (auto name = ConfigToken(config, "bos_token")) parts->bos_id = lookup(*name);
    if (auto name = ConfigToken(config, "eos_token")) parts->eos_id = lookup(*name);
  }
  if (!parts->bos_id && !parts->post_processor.prefix.empty()) {
    parts->bos_id = parts->post_processor.prefix.front();
  }
  if (!parts->eos_id && !parts->post_processor.suffix.empty()) {
    parts->eos_id = parts->post_processor.suffix.back();
  }
  for (const char* name :
       {"<s>", "<|begin_of_text|>", "<|bos|>", "<bos>", "<|startoftext|>", "<|endoftext|>"}) {
    if (!parts->bos_id) parts->bos_id = lookup(name);
  }
  for (const char* name : {"</s>", "<|end_of_text|>", "<|eos|>", "<eos>", "<|endoftext|>"}) {
    if (!parts->eos_id) parts->eos_id = lookup(name);
  }
}

absl::StatusOr<HfParts> ParseParts(const Json& root, const HfTokenizerOptions& options) {
  if (!root.is_object()) return JsonError("document", "top level must be an object");
  HfParts parts;
  auto normalizer = tokenizer::Normalizer::FromJson(root.value("normalizer", Json()));
  if (!normalizer.ok()) return normalizer.status();
  parts.normalizer = *std::move(normalizer);
  auto pre = tokenizer::PreTokenizer::FromJson(root.value("pre_tokenizer", Json()));
  if (!pre.ok()) return pre.status();
  parts.pre_tokenizer = *std::move(pre);
  auto decoder = tokenizer::Decoder::FromJson(root.value("decoder", Json()));
  if (!decoder.ok()) return decoder.status();
  parts.decoder = *std::move(decoder);
  auto post = tokenizer::PostProcessor::FromJson(root.value("post_processor", Json()));
  if (!post.ok()) return post.status();
  parts.post_processor = *std::move(post);
  tokenizer::Vocab vocab;
  auto model = ParseModel(root, parts.pre_tokenizer->byte_level(), &vocab);
  if (!model.ok()) return model.status();
  parts.model = *std::move(model);
  if (absl::Status s = ParseAddedTokens(root, &parts.added_tokens); !s.ok()) return s;
  TokenId max_id = -1;
  for (const auto& [token, id] : vocab) max_id = std::max(max_id, id);
  for (const AddedToken& t : parts.added_tokens) max_id = std::max(max_id, t.id);
  parts.id_to_token.resize(max_id + 1);
  parts.has_token.assign(max_id + 1, false);
  for (const auto& [token, id] : vocab) {
    parts.id_to_token[id] = token;
    parts.has_token[id] = true;
  }
  for (const AddedToken& t : parts.added_tokens) {
    parts.id_to_token[t.id] = t.content;
    parts.has_token[t.id] = true;
  }
  for (TokenId id : parts.post_processor.prefix) {
    if (id < 0 || id > max_id) return JsonError("post_processor", "special token id out of range");
  }
  for (TokenId id : parts.post_processor.suffix) {
    if (id < 0 || id > max_id) return JsonError("post_processor", "special token id out of range");
  }
  ResolveBosEos(options, vocab, &parts);
  return parts;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizerFromJson(
    std::string_view tokenizer_json, const HfTokenizerOptions& options) {
  Json root = Json::parse(tokenizer_json.begin(), tokenizer_json.end(), nullptr,
                          /*allow_exceptions=*/false);
  if (root.is_discarded()) return JsonError("document", "not valid JSON");
  absl::StatusOr<HfParts> parts;
  try {
    parts = ParseParts(root, options);
  } catch (const nlohmann::json::exception& e) {
    return JsonError("document", e.what());
  }
  if (!parts.ok()) return parts.status();
  return std::make_unique<tokenizer::HfTokenizer>(*std::move(parts));
}

}  // namespace linspec::engine
