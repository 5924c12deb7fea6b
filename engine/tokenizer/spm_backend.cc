// Must not include Abseil headers: see spm_backend.h.
#include "engine/tokenizer/spm_backend.h"

#include <sentencepiece_processor.h>

namespace linspec::engine::tokenizer {
namespace {

class SpmBackendImpl final : public SpmBackend {
 public:
  bool Init(std::string_view serialized, std::string* error) {
    const auto status = processor_.LoadFromSerializedProto(serialized);
    if (!status.ok()) {
      *error = status.ToString();
      return false;
    }
    return true;
  }

  bool Encode(std::string_view text, std::vector<int>* ids, std::string* error) const override {
    std::vector<int> out;
    const auto status = processor_.Encode(text, &out);
    if (!status.ok()) {
      *error = status.ToString();
      return false;
    }
    ids->insert(ids->end(), out.begin(), out.end());
    return true;
  }

  std::string Decode(const std::vector<int>& ids, bool render_control) const override {
    if (!render_control) {
      std::string text;
      processor_.Decode(ids, &text).IgnoreError();
      return text;
    }
    const auto spt = processor_.DecodeIdsAsImmutableProto(ids);
    std::string text;
    for (size_t i = 0; i < spt.pieces_size(); ++i) {
      const auto piece = spt.pieces(static_cast<int>(i));
      const int id = static_cast<int>(piece.id());
      text +=
          (processor_.IsControl(id) || processor_.IsUnknown(id)) ? piece.piece() : piece.surface();
    }
    return text;
  }

  int piece_size() const override { return processor_.GetPieceSize(); }
  std::string IdToPiece(int id) const override { return processor_.IdToPiece(id); }
  int PieceToId(std::string_view piece) const override { return processor_.PieceToId(piece); }
  bool IsControl(int id) const override { return processor_.IsControl(id); }
  bool IsUnknown(int id) const override { return processor_.IsUnknown(id); }
  int bos_id() const override { return processor_.bos_id(); }
  int eos_id() const override { return processor_.eos_id(); }
  int unk_id() const override { return processor_.unk_id(); }

 private:
  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace

std::unique_ptr<SpmBackend> SpmBackend::Load(std::string_view serialized, std::string* error) {
  auto backend = std::make_unique<SpmBackendImpl>();
  if (!backend->Init(serialized, error)) return nullptr;
  return backend;
}

}  // namespace linspec::engine::tokenizer
