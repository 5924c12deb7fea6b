// Unicode tables for NFC (generated into unicode_nfc_data.cc by
// tools/tokenizer_golden/gen_nfc_tables.py). All arrays are sorted by their first field.
#ifndef LINSPEC_ENGINE_TOKENIZER_UNICODE_NFC_DATA_H_
#define LINSPEC_ENGINE_TOKENIZER_UNICODE_NFC_DATA_H_

#include <cstddef>

namespace linspec::engine::tokenizer::nfc_data {

struct CccRange {
  char32_t first;
  char32_t last;
  unsigned char ccc;  // canonical combining class, non-zero
};
struct Decomposition {
  char32_t cp;
  char32_t first;
  char32_t second;  // 0 for a singleton decomposition
};
struct Composition {
  char32_t first;
  char32_t second;
  char32_t composite;  // primary composite (not excluded)
};

extern const CccRange kCccRanges[];
extern const size_t kNumCccRanges;
extern const Decomposition kDecompositions[];
extern const size_t kNumDecompositions;
extern const Composition kCompositions[];
extern const size_t kNumCompositions;

}  // namespace linspec::engine::tokenizer::nfc_data

#endif  // LINSPEC_ENGINE_TOKENIZER_UNICODE_NFC_DATA_H_
