// The byte-level tokenizer written by linspec_random_model loads with the project's
// tokenizer and agrees with config.json (bos/eos ids, vocabulary below vocab_size).
#include <random>
#include <string>

#include "engine/model_config.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/test_util.h"
#include "tools/make_model/random_model.h"

namespace linspec::engine {
namespace {

using ::linspec::engine::testing::TempDir;
using ::linspec::engine::testing::TestSeed;

TEST(RandomModelTokenizerTest, LoadsAndRoundTrips) {
  TempDir dir;
  tools::RandomModelOptions o;
  o.seed = TestSeed("RandomModelTokenizer");
  ASSERT_TRUE(tools::WriteRandomModel(dir.path(), o).ok());
  auto config = LoadModelConfig(dir.path());
  ASSERT_TRUE(config.ok()) << config.status();
  auto tok = LoadTokenizer(dir.path());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), tools::kRandomTokenizerVocab);
  EXPECT_LE((*tok)->vocab_size(), config->vocab_size);
  EXPECT_EQ((*tok)->bos_id(), std::optional<TokenId>(config->bos_token_id));
  EXPECT_EQ((*tok)->eos_id(), std::optional<TokenId>(config->eos_token_ids[0]));
  EXPECT_TRUE((*tok)->IsSpecial(tools::kRandomModelEosId));
  EXPECT_EQ((*tok)->TokenToId("Ġt"), std::optional<TokenId>(258));
  std::mt19937_64 rng(o.seed);
  for (int i = 0; i < 50; ++i) {
    std::string text = i == 0 ? "Hello there, the interesting water!\n\xc3\xa9t\xc3\xa9" : "";
    for (int n = rng() % 40; n > 0; --n) text.push_back(static_cast<char>(32 + rng() % 95));
    EncodeOptions plain;
    plain.add_special_tokens = false;
    auto ids = (*tok)->Encode(text, plain);
    ASSERT_TRUE(ids.ok()) << ids.status();
    for (TokenId id : *ids) EXPECT_LT(id, tools::kRandomTokenizerVocab);
    auto back = (*tok)->Decode(*ids, true);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, text);
  }
  EncodeOptions with_specials;
  with_specials.parse_special = true;
  with_specials.add_special_tokens = false;
  auto ids = (*tok)->Encode("a<|eos|>", with_specials);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<TokenId>{'a', tools::kRandomModelEosId}));
}

}  // namespace
}  // namespace linspec::engine
