// IncrementalDetokenizer property tests: for random token streams (uniform ids including
// special and <0xNN> byte tokens, real encodings, and byte runs that split multi-byte
// characters) pushed in random chunks, the deltas are valid UTF-8 and their concatenation
// equals the full Decode; with SetPrefix it equals the continuation of the prompt.
#include "engine/tokenizer/tokenizer.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/utf8.h"
#include "gtest/gtest.h"
#include "tests/unit/tokenizer/test_util.h"

namespace linspec::engine {
namespace {

// Ids of the tokens that spell single bytes (byte-level alphabet or <0xNN>), if any.
std::vector<TokenId> ByteTokenIds(const Tokenizer& tok) {
  std::vector<TokenId> out(256, -1);
  for (int b = 0; b < 256; ++b) {
    auto id = tok.TokenToId(absl::StrFormat("<0x%02X>", b));
    if (!id) id = tok.TokenToId(tokenizer::BytesToByteLevel(std::string(1, static_cast<char>(b))));
    if (id) out[b] = *id;
  }
  return out;
}

class DetokenizerPropertyTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto tok = LoadTokenizer(testing::TestDataDir() + "/" + GetParam());
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = *std::move(tok);
    byte_ids_ = ByteTokenIds(*tok_);
    corpus_ = testing::LoadCorpus();
  }

  std::vector<TokenId> RandomSequence(std::mt19937_64& rng) {
    std::vector<TokenId> ids;
    const int len = std::uniform_int_distribution<int>(0, 40)(rng);
    const int mode = std::uniform_int_distribution<int>(0, 2)(rng);
    while (static_cast<int>(ids.size()) < len) {
      const int kind = mode == 0 ? 0 : std::uniform_int_distribution<int>(0, 3)(rng);
      if (kind == 0) {  // uniform over the vocabulary
        const auto id = std::uniform_int_distribution<TokenId>(0, tok_->vocab_size() - 1)(rng);
        if (!tok_->IdToToken(id).empty()) ids.push_back(id);
      } else if (kind == 1) {  // bytes of a multi-byte character, possibly truncated
        static const std::vector<std::string> chars = {"\xE4\xB8\xAD", "\xF0\x9F\x98\x80",
                                                       "\xC3\xA9", "\xD8\xB3"};
        const std::string& c = chars[rng() % chars.size()];
        const size_t n = 1 + rng() % c.size();
        for (size_t i = 0; i < n; ++i) {
          const TokenId b = byte_ids_[static_cast<unsigned char>(c[i])];
          if (b >= 0) ids.push_back(b);
        }
      } else {  // a real encoding of a corpus line
        auto enc = tok_->Encode(corpus_[rng() % corpus_.size()], EncodeOptions{});
        if (enc.ok())
          ids.insert(ids.end(), enc->begin(), enc->begin() + std::min<size_t>(enc->size(), 12));
      }
    }
    return ids;
  }

  // Streams `ids` after `prefix` in random chunks; returns the concatenated deltas.
  std::string Stream(const std::vector<TokenId>& prefix, const std::vector<TokenId>& ids, bool skip,
                     std::mt19937_64& rng) {
    IncrementalDetokenizer detok(*tok_, skip);
    if (!prefix.empty()) detok.SetPrefix(prefix);
    std::string out;
    size_t pos = 0;
    while (pos < ids.size()) {
      const size_t n = std::min(ids.size() - pos, 1 + rng() % 4);
      const std::string delta = detok.Push(absl::MakeConstSpan(ids).subspan(pos, n));
      EXPECT_TRUE(tokenizer::IsValidUtf8(delta));
      out += delta;
      pos += n;
    }
    const std::string tail = detok.Flush();
    EXPECT_TRUE(tokenizer::IsValidUtf8(tail));
    return out + tail;
  }

  std::unique_ptr<Tokenizer> tok_;
  std::vector<TokenId> byte_ids_;
  std::vector<std::string> corpus_;
};

TEST_P(DetokenizerPropertyTest, ConcatenatedDeltasEqualFullDecode) {
  std::mt19937_64 rng(testing::TestSeed("ConcatenatedDeltasEqualFullDecode"));
  for (int iter = 0; iter < 300; ++iter) {
    const std::vector<TokenId> ids = RandomSequence(rng);
    for (bool skip : {true, false}) {
      auto full = tok_->Decode(ids, skip);
      ASSERT_TRUE(full.ok());
      ASSERT_EQ(Stream({}, ids, skip, rng), *full) << "iteration " << iter << " skip " << skip;
    }
  }
}

TEST_P(DetokenizerPropertyTest, PrefixGivesContinuationText) {
  std::mt19937_64 rng(testing::TestSeed("PrefixGivesContinuationText"));
  int checked = 0;
  for (int iter = 0; iter < 200; ++iter) {
    auto prompt = tok_->Encode(corpus_[rng() % corpus_.size()], EncodeOptions{});
    ASSERT_TRUE(prompt.ok());
    if (prompt->empty()) continue;
    const std::vector<TokenId> ids = RandomSequence(rng);
    std::vector<TokenId> all = *prompt;
    all.insert(all.end(), ids.begin(), ids.end());
    const std::string before = *tok_->Decode(*prompt, true);
    const std::string after = *tok_->Decode(all, true);
    // Only when the prompt's text is final (no dangling partial character).
    if (after.compare(0, before.size(), before) != 0 || prompt->size() > 32) continue;
    ASSERT_EQ(Stream(*prompt, ids, true, rng), after.substr(before.size())) << "iteration " << iter;
    ++checked;
  }
  EXPECT_GT(checked, 50);
}

TEST_P(DetokenizerPropertyTest, NeverEmitsPartialCharacter) {
  // A character split over byte tokens appears only once complete.
  std::vector<TokenId> ids;
  for (unsigned char c : std::string("\xF0\x9F\x98\x80")) ids.push_back(byte_ids_[c]);
  if (ids[0] < 0) GTEST_SKIP() << "no byte tokens";
  IncrementalDetokenizer detok(*tok_);
  for (size_t i = 0; i + 1 < ids.size(); ++i) {
    EXPECT_EQ(detok.Push(absl::MakeConstSpan(&ids[i], 1)), "") << i;
  }
  std::string last = detok.Push(absl::MakeConstSpan(&ids.back(), 1));
  last += detok.Flush();
  EXPECT_NE(last.find("\xF0\x9F\x98\x80"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, DetokenizerPropertyTest,
                         ::testing::Values("gpt2", "llama2", "llama3", "qwen3", "spm"));

// Metaspace leading-space rule: the first word has no space, later ones do.
TEST(DetokenizerTest, MetaspaceLeadingSpace) {
  auto tok = LoadTokenizer(testing::TestDataDir() + "/llama2");
  ASSERT_TRUE(tok.ok());
  auto ids = (*tok)->Encode("Hello big world", EncodeOptions{});
  ASSERT_TRUE(ids.ok());
  IncrementalDetokenizer detok(**tok);
  std::vector<std::string> deltas;
  for (TokenId id : *ids) deltas.push_back(detok.Push(absl::MakeConstSpan(&id, 1)));
  deltas.push_back(detok.Flush());
  EXPECT_EQ(deltas, (std::vector<std::string>{"", "Hello", " big", " world", ""}));
}

}  // namespace
}  // namespace linspec::engine
