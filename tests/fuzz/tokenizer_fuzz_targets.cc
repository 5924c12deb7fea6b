#include "tests/fuzz/tokenizer_fuzz_targets.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/hf_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace linspec::fuzz {
namespace {

using engine::EncodeOptions;
using engine::IncrementalDetokenizer;
using engine::TokenId;
using engine::Tokenizer;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
    std::abort();
  }
}

struct Loaded {
  std::unique_ptr<Tokenizer> tokenizer;
  bool byte_level;
};

const std::vector<Loaded>& Tokenizers() {
  static const auto* all = [] {
    auto* out = new std::vector<Loaded>();
    for (const auto& [name, byte_level] : std::vector<std::pair<std::string, bool>>{
             {"gpt2", true}, {"llama2", false}, {"spm", false}}) {
      auto tok = engine::LoadTokenizer(std::string(LINSPEC_TESTDATA_DIR) + "/" + name);
      Check(tok.ok(), "test tokenizer loads");
      out->push_back({*std::move(tok), byte_level});
    }
    return out;
  }();
  return *all;
}

void StreamAndCompare(const Tokenizer& tok, const std::vector<TokenId>& ids) {
  for (bool skip : {false, true}) {
    auto full = tok.Decode(ids, skip);
    Check(full.ok(), "Decode of in-range ids succeeds");
    Check(engine::tokenizer::IsValidUtf8(*full), "Decode output is valid UTF-8");
    IncrementalDetokenizer detok(tok, skip);
    std::string streamed;
    for (size_t i = 0; i < ids.size(); i += 3) {
      const std::string delta =
          detok.Push(absl::MakeConstSpan(ids).subspan(i, std::min<size_t>(3, ids.size() - i)));
      Check(engine::tokenizer::IsValidUtf8(delta), "delta is valid UTF-8");
      streamed += delta;
    }
    streamed += detok.Flush();
    Check(streamed == *full, "streamed text equals Decode");
  }
}

}  // namespace

int FuzzTokenizerEncodeDecode(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Loaded& t : Tokenizers()) {
    auto ids = t.tokenizer->Encode(text, EncodeOptions{});
    Check(ids.ok() == engine::tokenizer::IsValidUtf8(text), "Encode fails only on bad UTF-8");
    if (ids.ok()) {
      if (t.byte_level) {
        EncodeOptions literal;
        literal.parse_special = false;
        auto plain = t.tokenizer->Encode(text, literal);
        Check(plain.ok(), "Encode without special parsing");
        Check(*t.tokenizer->Decode(*plain, true) == text, "byte-level round trip");
      }
      StreamAndCompare(*t.tokenizer, *ids);
    }
    // The raw bytes as token ids (two bytes each, folded into the vocabulary).
    std::vector<TokenId> raw;
    for (size_t i = 0; i + 1 < size; i += 2) {
      raw.push_back(static_cast<TokenId>((data[i] << 8 | data[i + 1]) % t.tokenizer->vocab_size()));
    }
    StreamAndCompare(*t.tokenizer, raw);
  }
  return 0;
}

int FuzzTokenizerJsonLoader(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  auto tok = engine::LoadHfTokenizerFromJson(json);
  if (!tok.ok()) {
    Check(tok.status().code() == absl::StatusCode::kInvalidArgument, "errors are InvalidArgument");
    return 0;
  }
  for (std::string_view text : {"Hello world", " <s>\n\n  x\xC3\xA9\xF0\x9F\x98\x80 12345", ""}) {
    auto ids = (*tok)->Encode(text, EncodeOptions{});
    if (!ids.ok()) continue;
    std::vector<TokenId> valid;
    for (TokenId id : *ids) {
      Check(id >= 0 && id < (*tok)->vocab_size(), "encoded ids are in range");
      valid.push_back(id);
    }
    auto decoded = (*tok)->Decode(valid, false);
    if (decoded.ok()) Check(engine::tokenizer::IsValidUtf8(*decoded), "valid UTF-8");
  }
  return 0;
}

}  // namespace linspec::fuzz
