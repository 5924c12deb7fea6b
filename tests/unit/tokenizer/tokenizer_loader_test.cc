// LoadTokenizer / LoadHfTokenizerFromJson: the tokenizer.json shapes other parts of linspec
// write (tools/make_model, tools/train with Python `tokenizers`), BOS/EOS handling, and
// errors for malformed or unsupported files.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/hf_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/unit/tokenizer/test_util.h"

namespace linspec::engine {
namespace {

using nlohmann::json;

json ByteLevelComponent() {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", true},
          {"use_regex", true}};
}

json AddedToken(int id, const std::string& content, bool special = true) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", special}};
}

// What tools/make_model writes: 256 byte tokens, <|bos|>/<|eos|>, a few "a b" merges.
json MakeModelStyle() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) {
    vocab[tokenizer::BytesToByteLevel(std::string(1, static_cast<char>(b)))] = b;
  }
  vocab["<|bos|>"] = 256;
  vocab["<|eos|>"] = 257;
  vocab["\xC4\xA0t"] = 258;  // "Ġt"
  vocab["he"] = 259;
  return {{"version", "1.0"},
          {"added_tokens", {AddedToken(256, "<|bos|>"), AddedToken(257, "<|eos|>")}},
          {"normalizer", nullptr},
          {"pre_tokenizer", ByteLevelComponent()},
          {"post_processor", ByteLevelComponent()},
          {"decoder", ByteLevelComponent()},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"vocab", vocab},
            {"merges", {"\xC4\xA0 t", "h e"}}}}};
}

// What Python `tokenizers` (>= 0.20) writes for a ByteLevel BPE with a BOS template:
// specials first in the vocabulary, merges as [a, b] pairs, ignore_merges present.
json PythonTokenizersStyle() {
  json vocab = json::object();
  vocab["<|bos|>"] = 0;
  vocab["<|eos|>"] = 1;
  for (int b = 0; b < 256; ++b) {
    vocab[tokenizer::BytesToByteLevel(std::string(1, static_cast<char>(b)))] = b + 2;
  }
  vocab["\xC4\xA0t"] = 258;
  vocab["he"] = 259;
  vocab["\xC4\xA0the"] = 260;
  json tmpl = {{"type", "TemplateProcessing"},
               {"single",
                {{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
               {"pair", json::array()},
               {"special_tokens",
                {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {0}}, {"tokens", {"<|bos|>"}}}}}}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", {AddedToken(0, "<|bos|>"), AddedToken(1, "<|eos|>")}},
          {"normalizer", nullptr},
          {"pre_tokenizer", ByteLevelComponent()},
          {"post_processor", tmpl},
          {"decoder", ByteLevelComponent()},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", json::array({json::array({"\xC4\xA0", "t"}), json::array({"h", "e"}),
                                    json::array({"\xC4\xA0t", "he"})})}}}};
}

std::unique_ptr<Tokenizer> MustLoad(const json& j, HfTokenizerOptions options = {}) {
  auto tok = LoadHfTokenizerFromJson(j.dump(), options);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

TEST(LoaderTest, MakeModelStyleByteTokenizer) {
  auto tok = MustLoad(MakeModelStyle());
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 260);
  EXPECT_EQ(tok->bos_id(), 256);
  EXPECT_EQ(tok->eos_id(), 257);
  EXPECT_TRUE(tok->IsSpecial(256));
  EXPECT_FALSE(tok->IsSpecial(65));
  auto ids = tok->Encode("A the<|eos|>", EncodeOptions{});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<TokenId>{'A', 258, 259, 257}));
  EXPECT_EQ(*tok->Decode(*ids, false), "A the<|eos|>");
  EXPECT_EQ(*tok->Decode(*ids, true), "A the");
  EXPECT_EQ(tok->IdToToken(32), "\xC4\xA0");
  EXPECT_EQ(tok->TokenToId("<|bos|>"), 256);
  EXPECT_FALSE(tok->TokenToId("nope").has_value());
  EncodeOptions bos;
  bos.add_bos = true;
  bos.add_eos = true;
  EXPECT_EQ(*tok->Encode("he", bos), (std::vector<TokenId>{256, 259, 257}));
}

TEST(LoaderTest, PythonTokenizersStyleWithTemplateAndConfig) {
  auto tok = MustLoad(PythonTokenizersStyle(),
                      {R"({"bos_token": "<|bos|>", "eos_token": {"content": "<|eos|>"}})"});
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(*tok->Encode(" the", EncodeOptions{}), (std::vector<TokenId>{0, 260}));
  EncodeOptions plain;
  plain.add_special_tokens = false;
  EXPECT_EQ(*tok->Encode(" the", plain), (std::vector<TokenId>{260}));
  EncodeOptions no_bos;
  no_bos.add_bos = false;
  EXPECT_EQ(*tok->Encode(" the", no_bos), (std::vector<TokenId>{260}));
  EncodeOptions literal;
  literal.parse_special = false;
  literal.add_special_tokens = false;
  auto ids = tok->Encode("<|bos|>", literal);
  ASSERT_TRUE(ids.ok());
  EXPECT_GT(ids->size(), 1u);  // spelled out as bytes
  EXPECT_EQ(*tok->Decode(*ids, true), "<|bos|>");
}

TEST(LoaderTest, LoadsFromDirectoryAndFile) {
  const std::string dir = testing::TestDataDir();
  for (const std::string name : {"gpt2", "llama2", "llama3", "spm"}) {
    auto tok = LoadTokenizer(dir + "/" + name);
    EXPECT_TRUE(tok.ok()) << name << ": " << tok.status();
  }
  EXPECT_TRUE(LoadTokenizer(dir + "/gpt2/tokenizer.json").ok());
  auto missing = LoadTokenizer(dir + "/does-not-exist");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(LoaderTest, BosEosFromTemplateAndNames) {
  auto llama2 = LoadTokenizer(testing::TestDataDir() + "/llama2");
  ASSERT_TRUE(llama2.ok());
  EXPECT_EQ((*llama2)->bos_id(), 1);
  EXPECT_EQ((*llama2)->eos_id(), 2);
  auto gpt2 = LoadTokenizer(testing::TestDataDir() + "/gpt2");
  ASSERT_TRUE(gpt2.ok());
  EXPECT_EQ((*gpt2)->eos_id(), 50256);
  auto llama3 = LoadTokenizer(testing::TestDataDir() + "/llama3");
  ASSERT_TRUE(llama3.ok());
  EXPECT_EQ((*llama3)->IdToToken(*(*llama3)->bos_id()), "<|begin_of_text|>");
  EXPECT_EQ((*llama3)->IdToToken(*(*llama3)->eos_id()), "<|end_of_text|>");
}

// The small hand-written tokenizer.json files of the fuzz seed corpus: Metaspace via the
// normalizer (Llama-2 style) and via the legacy Metaspace pre-tokenizer/decoder.
TEST(LoaderTest, MetaspaceStyles) {
  auto norm = LoadHfTokenizerFromJson(testing::ReadTestFile("fuzz/json/metaspace.json"));
  ASSERT_TRUE(norm.ok()) << norm.status();
  // ids: <s>=1, "▁hello"=268, "▁"=259, <0xNN> = 3 + byte.
  EXPECT_EQ(*(*norm)->Encode("hello hello", EncodeOptions{}), (std::vector<TokenId>{1, 268, 268}));
  EXPECT_EQ(*(*norm)->Encode("hello!", EncodeOptions{}),
            (std::vector<TokenId>{1, 268, 3 + '!'}));  // byte fallback
  EXPECT_EQ(*(*norm)->Decode(std::vector<TokenId>{1, 268, 268, 3 + '!'}, true), "hello hello!");
  EXPECT_EQ(*(*norm)->Decode(std::vector<TokenId>{1, 268, 3 + 0xC3, 3 + 0xA9}, false),
            "<s> hello\xC3\xA9");
  // An invalid byte run becomes one U+FFFD per byte (Rust ByteFallback semantics).
  EXPECT_EQ(*(*norm)->Decode(std::vector<TokenId>{268, 3 + 0xC3, 3 + 0xC3}, true),
            "hello\xEF\xBF\xBD\xEF\xBF\xBD");

  auto legacy =
      LoadHfTokenizerFromJson(testing::ReadTestFile("fuzz/json/metaspace_pretokenizer.json"));
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EncodeOptions plain;
  plain.add_special_tokens = false;
  EXPECT_EQ(*(*legacy)->Encode("hello hello", plain), (std::vector<TokenId>{268, 268}));
  // prepend_scheme "first": the section after <s> does not start the input, so no "▁".
  EXPECT_EQ(*(*legacy)->Encode("<s>hello", plain), (std::vector<TokenId>{1, 260, 265, 267}));
  EXPECT_EQ(*(*legacy)->Decode(std::vector<TokenId>{268, 268}, true), "hello hello");
}

TEST(LoaderTest, DigitsPreTokenizer) {
  json j = MakeModelStyle();
  j["model"]["vocab"]["23"] = 260;
  j["model"]["merges"].push_back("2 3");
  auto joined = MustLoad(j);
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(*joined->Encode("123", EncodeOptions{}), (std::vector<TokenId>{'1', 260}));
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Digits"}, {"individual_digits", true}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  auto split = MustLoad(j);
  ASSERT_NE(split, nullptr);
  EXPECT_EQ(*split->Encode("123", EncodeOptions{}), (std::vector<TokenId>{'1', '2', '3'}));
}

TEST(LoaderTest, DecodeRejectsOutOfRangeIds) {
  auto tok = MustLoad(MakeModelStyle());
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Decode(std::vector<TokenId>{1, 260}, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tok->Decode(std::vector<TokenId>{-1}, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tok->Encode("\xFF", EncodeOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

struct ErrorCase {
  std::string name;
  std::function<void(json&)> mutate;
  std::string expected_substring;
};

TEST(LoaderTest, MalformedOrUnsupportedFilesNameTheProblem) {
  const std::vector<ErrorCase> cases = {
      {"unigram", [](json& j) { j["model"]["type"] = "Unigram"; }, "Unigram"},
      {"wordpiece", [](json& j) { j["model"]["type"] = "WordPiece"; }, "WordPiece"},
      {"normalizer",
       [](json& j) {
         j["normalizer"] = {{"type", "NFKC"}};
       },
       "NFKC"},
      {"pretok",
       [](json& j) {
         j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
       },
       "BertPreTokenizer"},
      {"decoder",
       [](json& j) {
         j["decoder"] = {{"type", "WordPiece"}};
       },
       "WordPiece"},
      {"post",
       [](json& j) {
         j["post_processor"] = {{"type", "Fancy"}};
       },
       "Fancy"},
      {"merge_oov", [](json& j) { j["model"]["merges"].push_back("x yz"); }, "merge"},
      {"merge_shape", [](json& j) { j["model"]["merges"].push_back("abc"); }, "merge"},
      {"vocab_type", [](json& j) { j["model"]["vocab"] = json::array(); }, "vocab"},
      {"vocab_id", [](json& j) { j["model"]["vocab"]["zz"] = -4; }, "zz"},
      {"huge_id", [](json& j) { j["model"]["vocab"]["zz"] = 1LL << 40; }, "zz"},
      {"no_model", [](json& j) { j.erase("model"); }, "model"},
      {"added_shape", [](json& j) { j["added_tokens"] = json::array({1}); }, "added_tokens"},
      {"dropout", [](json& j) { j["model"]["dropout"] = 0.1; }, "dropout"},
      {"lookahead",
       [](json& j) {
         j["pre_tokenizer"] = {
             {"type", "Split"}, {"pattern", {{"Regex", "a(?=b)"}}}, {"behavior", "Isolated"}};
       },
       "lookaround"},
      {"bytelevel_first",
       [](json& j) {
         j["pre_tokenizer"] = {
             {"type", "Sequence"},
             {"pretokenizers",
              {ByteLevelComponent(),
               {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Isolated"}}}}};
       },
       "ByteLevel"},
      {"template_missing",
       [](json& j) {
         j["post_processor"] = {{"type", "TemplateProcessing"},
                                {"single", {{{"SpecialToken", {{"id", "<x>"}, {"type_id", 0}}}}}},
                                {"special_tokens", json::object()}};
       },
       "<x>"},
  };
  for (const ErrorCase& c : cases) {
    json j = MakeModelStyle();
    c.mutate(j);
    auto tok = LoadHfTokenizerFromJson(j.dump());
    ASSERT_FALSE(tok.ok()) << c.name;
    EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(tok.status().message().find(c.expected_substring), std::string::npos)
        << c.name << ": " << tok.status();
  }
  for (const std::string bad : {"", "{", "[]", "null", "{\"model\": 3}", "\xFF"}) {
    EXPECT_EQ(LoadHfTokenizerFromJson(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(LoaderTest, ErrorsNameTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / "linspec_tok_loader_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << "{\"model\": {\"type\": \"Unigram\"}}";
  auto tok = LoadTokenizer(dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("tokenizer.json"), std::string::npos);
  EXPECT_NE(tok.status().message().find("Unigram"), std::string::npos);
}

TEST(LoaderTest, InvalidSentencePieceModel) {
  const auto dir = std::filesystem::temp_directory_path() / "linspec_tok_spm_bad";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.model") << "not a protobuf";
  auto tok = LoadTokenizer(dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tok.status().message().find("SentencePiece"), std::string::npos);
}

}  // namespace
}  // namespace linspec::engine
