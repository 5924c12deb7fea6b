#include "engine/tokenizer/hf_tokenizer.h"

#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/utf8.h"

namespace linspec::engine::tokenizer {

HfTokenizer::HfTokenizer(HfParts parts) : parts_(std::move(parts)), added_(parts_.added_tokens) {
  const size_t n = parts_.id_to_token.size();
  special_.assign(n, false);
  token_to_id_.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    if (parts_.has_token[id])
      token_to_id_.emplace(parts_.id_to_token[id], static_cast<TokenId>(id));
  }
  for (const AddedToken& t : parts_.added_tokens) {
    token_to_id_.insert_or_assign(t.content, t.id);
    special_[t.id] = t.special;
  }
  if (parts_.decoder->IsPlainByteLevel()) {
    id_bytes_.resize(n);
    for (size_t id = 0; id < n; ++id) {
      const std::string& token = parts_.id_to_token[id];
      auto bytes = ByteLevelToBytes(token);
      id_bytes_[id] = bytes.has_value() ? *std::move(bytes) : token;
    }
  }
}

void HfTokenizer::EncodeSection(std::string_view text, bool at_start,
                                std::vector<TokenId>* ids) const {
  std::string normalized;
  if (parts_.normalizer != nullptr) {
    normalized = parts_.normalizer->Normalize(text);
    text = normalized;
  }
  if (text.empty()) return;
  std::vector<std::string_view> words;
  std::deque<std::string> storage;
  parts_.pre_tokenizer->Run(text, at_start, &words, &storage);
  for (std::string_view word : words) parts_.model->Encode(word, ids);
}

void HfTokenizer::ApplyPostProcessor(const EncodeOptions& options,
                                     std::vector<TokenId>* ids) const {
  std::vector<TokenId> prefix = parts_.post_processor.prefix;
  std::vector<TokenId> suffix = parts_.post_processor.suffix;
  if (options.add_bos.has_value() && parts_.bos_id.has_value()) {
    const bool has = !prefix.empty() && prefix.front() == *parts_.bos_id;
    if (*options.add_bos && !has) prefix.insert(prefix.begin(), *parts_.bos_id);
    if (!*options.add_bos && has) prefix.erase(prefix.begin());
  }
  if (options.add_eos.has_value() && parts_.eos_id.has_value()) {
    const bool has = !suffix.empty() && suffix.back() == *parts_.eos_id;
    if (*options.add_eos && !has) suffix.push_back(*parts_.eos_id);
    if (!*options.add_eos && has) suffix.pop_back();
  }
  if (prefix.empty() && suffix.empty()) return;
  ids->insert(ids->begin(), prefix.begin(), prefix.end());
  ids->insert(ids->end(), suffix.begin(), suffix.end());
}

absl::StatusOr<std::vector<TokenId>> HfTokenizer::Encode(std::string_view text,
                                                         const EncodeOptions& options) const {
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError("Encode: text is not valid UTF-8");
  std::vector<TextSection> sections;
  added_.Split(text, options.parse_special, &sections);
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const TextSection& section : sections) {
    if (section.token != nullptr) {
      ids.push_back(section.token->id);
    } else {
      EncodeSection(section.text, section.text.data() == text.data(), &ids);
    }
  }
  if (options.add_special_tokens) ApplyPostProcessor(options, &ids);
  return ids;
}

absl::StatusOr<std::string> HfTokenizer::Decode(absl::Span<const TokenId> ids,
                                                bool skip_special_tokens) const {
  const size_t n = parts_.id_to_token.size();
  for (TokenId id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= n || !parts_.has_token[id]) {
      return absl::InvalidArgumentError(
          absl::StrCat("Decode: token id ", id, " is out of range (vocab size ", n, ")"));
    }
  }
  if (!id_bytes_.empty()) {
    std::string bytes;
    for (TokenId id : ids) {
      if (!(skip_special_tokens && special_[id])) bytes += id_bytes_[id];
    }
    std::string text;
    AppendUtf8Lossy(bytes, &text);
    return text;
  }
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (TokenId id : ids) {
    if (!(skip_special_tokens && special_[id])) tokens.push_back(parts_.id_to_token[id]);
  }
  return parts_.decoder->Decode(std::move(tokens));
}

std::string HfTokenizer::IdToToken(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= parts_.id_to_token.size()) return "";
  return parts_.id_to_token[id];
}

std::optional<TokenId> HfTokenizer::TokenToId(std::string_view token) const {
  auto it = token_to_id_.find(absl::string_view(token.data(), token.size()));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

bool HfTokenizer::IsSpecial(TokenId id) const {
  return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[id];
}

}  // namespace linspec::engine::tokenizer
