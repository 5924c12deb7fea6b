// libFuzzer binary: see FuzzTokenizerEncodeDecode.
#include "tests/fuzz/tokenizer_fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return linspec::fuzz::FuzzTokenizerEncodeDecode(data, size);
}
