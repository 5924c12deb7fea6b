#include "scheduler/text_stream.h"

namespace linspec::scheduler {

namespace {
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

bool EndsWithReplacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, kReplacement) == 0;
}
}  // namespace

void TextStream::SetPrefix(absl::Span<const engine::TokenId> prompt_tail) {
  ids_.assign(prompt_tail.begin(), prompt_tail.end());
  prefix_offset_ = 0;
  read_offset_ = ids_.size();
  // A prompt ending inside a character would glue its bytes to the output's: no context.
  if (EndsWithReplacement(DecodeRange(0, ids_.size()))) {
    ids_.clear();
    read_offset_ = 0;
  }
}

std::string TextStream::DecodeRange(size_t from, size_t to) const {
  auto text = tokenizer_.Decode(absl::MakeConstSpan(ids_).subspan(from, to - from), true);
  return text.ok() ? *text : std::string();
}

std::string TextStream::Advance(bool force) {
  if (read_offset_ >= ids_.size()) return "";
  const std::string prefix = DecodeRange(prefix_offset_, read_offset_);
  const std::string full = DecodeRange(prefix_offset_, ids_.size());
  // A trailing U+FFFD may be half of a character whose other bytes are still to come.
  if (!force && EndsWithReplacement(full)) return "";
  // Normally the window's text extends the prefix's; if not, decode the new ids alone.
  std::string delta = full.compare(0, prefix.size(), prefix) == 0
                          ? full.substr(prefix.size())
                          : DecodeRange(read_offset_, ids_.size());
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return delta;
}

std::string TextStream::Push(absl::Span<const engine::TokenId> ids) {
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  return Advance(false);
}

std::string TextStream::Flush() { return Advance(true); }

}  // namespace linspec::scheduler
