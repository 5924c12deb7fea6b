// Fuzz entry points for the tokenizer, shared by the libFuzzer binaries (clang,
// LINSPEC_FUZZ=ON) and by tokenizer_fuzz_replay_test, which replays the committed seed
// corpus through them with any compiler. Each returns 0; a crash, sanitizer report or
// failed invariant (abort) is the finding.
#ifndef LINSPEC_TESTS_FUZZ_TOKENIZER_FUZZ_TARGETS_H_
#define LINSPEC_TESTS_FUZZ_TOKENIZER_FUZZ_TARGETS_H_

#include <cstddef>
#include <cstdint>

namespace linspec::fuzz {

// Input = text: encode with each test tokenizer (byte-level, Metaspace, SentencePiece),
// check decode(encode) for byte-level, then stream the ids and the input bytes read as ids
// through Decode and IncrementalDetokenizer.
int FuzzTokenizerEncodeDecode(const uint8_t* data, size_t size);

// Input = a tokenizer.json document: load it; when it loads, encode and decode with it.
int FuzzTokenizerJsonLoader(const uint8_t* data, size_t size);

}  // namespace linspec::fuzz

#endif  // LINSPEC_TESTS_FUZZ_TOKENIZER_FUZZ_TARGETS_H_
