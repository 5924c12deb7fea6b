// GPT-2 byte-to-unicode mapping used by ByteLevel pre-tokenizers and decoders: every byte
// gets a printable code point ("Ġ" for 0x20). Tables are built once; thread-safe.
#ifndef LINSPEC_ENGINE_TOKENIZER_BYTE_LEVEL_H_
#define LINSPEC_ENGINE_TOKENIZER_BYTE_LEVEL_H_

#include <optional>
#include <string>
#include <string_view>

namespace linspec::engine::tokenizer {

// The code point that stands for `byte` in byte-level vocabularies.
char32_t ByteToUnicode(unsigned char byte);

// Maps a byte-level token string ("Ġthe") back to raw bytes (" the"). When any character is
// outside the mapping (added tokens such as "<|endoftext|>" map to themselves only if all
// their characters are in it) returns nullopt, and callers use the token's UTF-8 bytes, as
// Hugging Face's ByteLevel decoder does.
std::optional<std::string> ByteLevelToBytes(std::string_view token);

// Inverse of ByteLevelToBytes: raw bytes to the byte-level string.
std::string BytesToByteLevel(std::string_view bytes);

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_BYTE_LEVEL_H_
