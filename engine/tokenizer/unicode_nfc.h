// Unicode Normalization Form C (canonical decomposition, canonical ordering, canonical
// composition; Hangul handled algorithmically), for the tokenizer.json "NFC" normalizer
// (Qwen). Tables: unicode_nfc_data.cc. Pure function; thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_UNICODE_NFC_H_
#define LINSPEC_ENGINE_TOKENIZER_UNICODE_NFC_H_

#include <string>
#include <string_view>

namespace linspec::engine::tokenizer {

// NFC of valid UTF-8 `text` (invalid bytes are copied through unchanged). Text whose code
// points are all below U+0300 is returned as is without table lookups.
std::string ToNfc(std::string_view text);

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_UNICODE_NFC_H_
