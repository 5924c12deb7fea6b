// libFuzzer binary: see FuzzTokenizerJsonLoader.
#include "tests/fuzz/tokenizer_fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return linspec::fuzz::FuzzTokenizerJsonLoader(data, size);
}
