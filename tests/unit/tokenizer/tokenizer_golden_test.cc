// Golden tests: our tokenizer.json implementation against ids produced by the Hugging Face
// JS tokenizers (tools/tokenizer_golden/make_testdata.mjs) over the stress corpus.
#include <string>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode_nfc.h"
#include "engine/tokenizer/utf8.h"
#include "gtest/gtest.h"
#include "tests/unit/tokenizer/test_util.h"

namespace linspec::engine {
namespace {

using testing::LoadGolden;
using testing::TestDataDir;

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, EncodeMatchesReferenceExactly) {
  auto tok = LoadTokenizer(TestDataDir() + "/" + GetParam());
  ASSERT_TRUE(tok.ok()) << tok.status();
  const auto cases = LoadGolden(GetParam());
  ASSERT_GT(cases.size(), 50u);
  int mismatches = 0;
  for (const auto& c : cases) {
    auto ids = (*tok)->Encode(c.text, EncodeOptions{});
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c.ids) << "text: " << c.text;
    EncodeOptions no_special;
    no_special.add_special_tokens = false;
    auto ids2 = (*tok)->Encode(c.text, no_special);
    ASSERT_TRUE(ids2.ok());
    EXPECT_EQ(*ids2, c.ids_no_special) << "text: " << c.text;
    mismatches += (*ids != c.ids) + (*ids2 != c.ids_no_special);
  }
  EXPECT_EQ(mismatches, 0);
}

TEST_P(GoldenTest, DecodeIsValidUtf8) {
  auto tok = LoadTokenizer(TestDataDir() + "/" + GetParam());
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const auto& c : LoadGolden(GetParam())) {
    for (bool skip : {false, true}) {
      auto text = (*tok)->Decode(c.ids, skip);
      ASSERT_TRUE(text.ok());
      EXPECT_TRUE(tokenizer::IsValidUtf8(*text));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, GoldenTest,
                         ::testing::Values("gpt2", "llama2", "llama3", "qwen3"));

class ByteLevelRoundTripTest : public ::testing::TestWithParam<std::string> {};

// decode(encode(x)) == x for byte-level BPE (NFC(x) for Qwen, whose normalizer is NFC), and
// equals the reference's decode.
TEST_P(ByteLevelRoundTripTest, DecodeEncodeIsIdentity) {
  auto tok = LoadTokenizer(TestDataDir() + "/" + GetParam());
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const auto& c : LoadGolden(GetParam())) {
    auto ids = (*tok)->Encode(c.text, EncodeOptions{});
    ASSERT_TRUE(ids.ok());
    auto text = (*tok)->Decode(*ids, /*skip_special_tokens=*/false);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, GetParam() == "qwen3" ? tokenizer::ToNfc(c.text) : c.text);
    EXPECT_EQ(*text, c.decoded);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, ByteLevelRoundTripTest,
                         ::testing::Values("gpt2", "llama3", "qwen3"));

// Metaspace: the normalizer prepends one "▁" and the decoder strips one leading space, so
// decoding restores the text (lines with special tokens get a "▁" per section, by design).
TEST(Llama2RoundTripTest, DecodeRestoresText) {
  auto tok = LoadTokenizer(TestDataDir() + "/llama2");
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const auto& c : LoadGolden("llama2")) {
    auto text = (*tok)->Decode(c.ids, /*skip_special_tokens=*/true);
    ASSERT_TRUE(text.ok());
    if (c.text.find("<s>") != std::string::npos || c.text.find("</s>") != std::string::npos) {
      continue;  // special tokens in the text are skipped by design
    }
    EXPECT_EQ(*text, c.text);
  }
}

}  // namespace
}  // namespace linspec::engine
