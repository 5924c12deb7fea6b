#include "engine/tokenizer/sentencepiece_tokenizer.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/spm_backend.h"
#include "engine/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace linspec::engine {
namespace {

using tokenizer::AddedToken;
using tokenizer::AddedTokenMatcher;
using tokenizer::SpmBackend;
using tokenizer::TextSection;

std::vector<AddedToken> SpecialPieces(const SpmBackend& spm) {
  std::vector<AddedToken> out;
  for (int id = 0; id < spm.piece_size(); ++id) {
    if (!spm.IsControl(id) && !spm.IsUnknown(id)) continue;
    AddedToken t;
    t.id = id;
    t.content = spm.IdToPiece(id);
    t.special = true;
    if (!t.content.empty()) out.push_back(std::move(t));
  }
  return out;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(std::unique_ptr<SpmBackend> spm, bool add_bos, bool add_eos)
      : spm_(std::move(spm)),
        specials_(SpecialPieces(*spm_)),
        add_bos_(add_bos),
        add_eos_(add_eos) {}

  absl::StatusOr<std::vector<TokenId>> Encode(std::string_view text,
                                              const EncodeOptions& options) const override {
    if (!tokenizer::IsValidUtf8(text)) {
      return absl::InvalidArgumentError("Encode: text is not valid UTF-8");
    }
    std::vector<TextSection> sections;
    specials_.Split(text, options.parse_special, &sections);
    std::vector<int> ids;
    for (const TextSection& s : sections) {
      if (s.token != nullptr) {
        ids.push_back(s.token->id);
        continue;
      }
      std::string error;
      if (!spm_->Encode(s.text, &ids, &error)) {
        return absl::InternalError(absl::StrCat("sentencepiece Encode: ", error));
      }
    }
    if (options.add_special_tokens) {
      const bool bos = options.add_bos.value_or(add_bos_) && spm_->bos_id() >= 0;
      const bool eos = options.add_eos.value_or(add_eos_) && spm_->eos_id() >= 0;
      if (bos) ids.insert(ids.begin(), spm_->bos_id());
      if (eos) ids.push_back(spm_->eos_id());
    }
    return std::vector<TokenId>(ids.begin(), ids.end());
  }

  absl::StatusOr<std::string> Decode(absl::Span<const TokenId> ids,
                                     bool skip_special_tokens) const override {
    std::vector<int> kept;
    kept.reserve(ids.size());
    for (TokenId id : ids) {
      if (id < 0 || id >= spm_->piece_size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Decode: token id ", id, " is out of range (vocab size ", spm_->piece_size(), ")"));
      }
      if (skip_special_tokens && IsSpecial(id)) continue;
      kept.push_back(id);
    }
    return spm_->Decode(kept, /*render_control=*/!skip_special_tokens);
  }

  int vocab_size() const override { return spm_->piece_size(); }
  std::string IdToToken(TokenId id) const override {
    if (id < 0 || id >= spm_->piece_size()) return "";
    return spm_->IdToPiece(id);
  }
  std::optional<TokenId> TokenToId(std::string_view token) const override {
    const int id = spm_->PieceToId(token);
    if (id == spm_->unk_id() && spm_->IdToPiece(id) != token) return std::nullopt;
    return id;
  }
  bool IsSpecial(TokenId id) const override {
    return id >= 0 && id < spm_->piece_size() && (spm_->IsControl(id) || spm_->IsUnknown(id));
  }
  std::optional<TokenId> bos_id() const override {
    if (spm_->bos_id() < 0) return std::nullopt;
    return spm_->bos_id();
  }
  std::optional<TokenId> eos_id() const override {
    if (spm_->eos_id() < 0) return std::nullopt;
    return spm_->eos_id();
  }

 private:
  std::unique_ptr<SpmBackend> spm_;
  AddedTokenMatcher specials_;
  bool add_bos_;
  bool add_eos_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(
    std::string_view model_proto, const SentencePieceOptions& options) {
  std::string error;
  auto spm = SpmBackend::Load(model_proto, &error);
  if (spm == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer.model: not a valid SentencePiece model: ", error));
  }
  bool add_bos = true;
  bool add_eos = false;
  if (options.tokenizer_config_json.has_value()) {
    const auto config = nlohmann::json::parse(*options.tokenizer_config_json, nullptr, false);
    if (config.is_object()) {
      if (auto it = config.find("add_bos_token"); it != config.end() && it->is_boolean()) {
        add_bos = it->get<bool>();
      }
      if (auto it = config.find("add_eos_token"); it != config.end() && it->is_boolean()) {
        add_eos = it->get<bool>();
      }
    }
  }
  return std::make_unique<SentencePieceTokenizer>(std::move(spm), add_bos, add_eos);
}

}  // namespace linspec::engine
