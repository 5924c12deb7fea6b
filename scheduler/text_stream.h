// Streaming detokenization for one request: token ids in, UTF-8 text deltas out, never
// splitting a character or a byte-fallback sequence. Same contract as
// engine::IncrementalDetokenizer (the concatenation of all deltas plus Flush equals
// Decode(all ids)), built on Tokenizer::Decode over a short window so it works with any
// Tokenizer implementation.
//
// Thread-safety: none; owned by one sequence.
#ifndef LINSPEC_SCHEDULER_TEXT_STREAM_H_
#define LINSPEC_SCHEDULER_TEXT_STREAM_H_

#include <string>
#include <vector>

#include "absl/types/span.h"
#include "engine/tokenizer/tokenizer.h"

namespace linspec::scheduler {

class TextStream {
 public:
  explicit TextStream(const engine::Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  // Prompt tokens that precede the output, so leading-space rules match a continuation.
  void SetPrefix(absl::Span<const engine::TokenId> prompt_tail);
  std::string Push(absl::Span<const engine::TokenId> ids);
  // Emits whatever is held back (an incomplete character becomes U+FFFD).
  std::string Flush();

 private:
  std::string Advance(bool force);
  std::string DecodeRange(size_t from, size_t to) const;

  const engine::Tokenizer& tokenizer_;
  std::vector<engine::TokenId> ids_;
  size_t prefix_offset_ = 0;  // start of the decoding window
  size_t read_offset_ = 0;    // ids before this have been emitted
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_TEXT_STREAM_H_
