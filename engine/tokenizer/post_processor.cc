#include "engine/tokenizer/post_processor.h"

#include <string>

namespace linspec::engine::tokenizer {
namespace {

absl::Status AddTemplate(const Json& j, PostProcessor* pp) {
  const std::string where = "post_processor TemplateProcessing";
  auto single = j.find("single");
  auto specials = j.find("special_tokens");
  if (single == j.end() || !single->is_array()) return JsonError(where, "needs 'single' array");
  bool seen_sequence = false;
  for (const Json& item : *single) {
    if (!item.is_object()) return JsonError(where, "template items must be objects");
    if (item.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    auto special = item.find("SpecialToken");
    if (special == item.end() || !special->is_object()) {
      return JsonError(where, "template item must be SpecialToken or Sequence");
    }
    auto name = JsonString(*special, "id", where);
    if (!name.ok()) return name.status();
    if (specials == j.end() || !specials->is_object() || !specials->contains(*name)) {
      return JsonError(where, "special token '" + *name + "' missing from special_tokens");
    }
    const Json& entry = (*specials)[*name];
    auto ids = entry.find("ids");
    if (ids == entry.end() || !ids->is_array()) return JsonError(where, "special token needs ids");
    for (const Json& id : *ids) {
      if (!id.is_number_integer()) return JsonError(where, "special token ids must be integers");
      (seen_sequence ? pp->suffix : pp->prefix).push_back(id.get<TokenId>());
    }
  }
  if (!seen_sequence) return JsonError(where, "'single' has no Sequence");
  return absl::OkStatus();
}

absl::Status AddClsSep(const Json& j, const std::string& where, PostProcessor* pp) {
  for (const char* key : {"cls", "sep"}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer()) {
      return JsonError(where, std::string("needs '") + key + "': [token, id]");
    }
    (std::string(key) == "cls" ? pp->prefix : pp->suffix).push_back((*it)[1].get<TokenId>());
  }
  return absl::OkStatus();
}

absl::Status AddProcessor(const Json& j, PostProcessor* pp) {
  auto type = JsonType(j, "post_processor");
  if (!type.ok()) return type.status();
  if (*type == "TemplateProcessing") return AddTemplate(j, pp);
  if (*type == "ByteLevel") return absl::OkStatus();
  if (*type == "RobertaProcessing" || *type == "BertProcessing") {
    return AddClsSep(j, "post_processor " + *type, pp);
  }
  if (*type == "Sequence") {
    auto it = j.find("processors");
    if (it == j.end() || !it->is_array()) {
      return JsonError("post_processor Sequence", "needs a 'processors' array");
    }
    for (const Json& child : *it) {
      if (absl::Status s = AddProcessor(child, pp); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  return JsonError("post_processor", "unsupported post-processor type '" + *type + "'");
}

}  // namespace

absl::StatusOr<PostProcessor> PostProcessor::FromJson(const Json& j) {
  PostProcessor pp;
  if (j.is_null()) return pp;
  if (absl::Status s = AddProcessor(j, &pp); !s.ok()) return s;
  return pp;
}

}  // namespace linspec::engine::tokenizer
