// Thin wrapper over libsentencepiece's SentencePieceProcessor. This header and
// spm_backend.cc use only std types: sentencepiece_processor.h defines absl::string_view as
// an alias of std::string_view, which clashes with Debian's Abseil, so no translation unit
// may include both. Immutable after Load; const methods are thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_SPM_BACKEND_H_
#define LINSPEC_ENGINE_TOKENIZER_SPM_BACKEND_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace linspec::engine::tokenizer {

class SpmBackend {
 public:
  // Parses a serialized ModelProto; nullptr with `error` set on failure.
  static std::unique_ptr<SpmBackend> Load(std::string_view serialized, std::string* error);
  virtual ~SpmBackend() = default;

  virtual bool Encode(std::string_view text, std::vector<int>* ids, std::string* error) const = 0;
  // Decodes ids (all in range); control pieces render as their piece text when
  // `render_control` is true (they are otherwise empty).
  virtual std::string Decode(const std::vector<int>& ids, bool render_control) const = 0;
  virtual int piece_size() const = 0;
  virtual std::string IdToPiece(int id) const = 0;
  virtual int PieceToId(std::string_view piece) const = 0;  // unk_id() when absent
  virtual bool IsControl(int id) const = 0;
  virtual bool IsUnknown(int id) const = 0;
  virtual int bos_id() const = 0;  // -1 when the model has none
  virtual int eos_id() const = 0;
  virtual int unk_id() const = 0;
};

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_SPM_BACKEND_H_
