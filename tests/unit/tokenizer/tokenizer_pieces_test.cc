// Tests of the tokenizer's building blocks: UTF-8 helpers, split regex, added tokens, BPE.
#include <string>
#include <vector>

#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/split_regex.h"
#include "engine/tokenizer/unicode_nfc.h"
#include "engine/tokenizer/utf8.h"
#include "gtest/gtest.h"

namespace linspec::engine::tokenizer {
namespace {

std::string Lossy(std::string_view bytes) {
  std::string out;
  AppendUtf8Lossy(bytes, &out);
  return out;
}

TEST(Utf8Test, LossyReplacesMaximalSubparts) {
  EXPECT_EQ(Lossy("abc"), "abc");
  EXPECT_EQ(Lossy("\xE4\xB8\xAD"), "\xE4\xB8\xAD");
  EXPECT_EQ(Lossy("\xE4\xB8"), "\xEF\xBF\xBD");  // truncated: one U+FFFD
  EXPECT_EQ(Lossy("\xE4\xB8"
                  "a"),
            "\xEF\xBF\xBD"
            "a");                                                            // interrupted
  EXPECT_EQ(Lossy("\xFF\xFE"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // two invalid bytes
  EXPECT_EQ(Lossy("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  EXPECT_EQ(Lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(Lossy("\xF0\x9F\x98"), "\xEF\xBF\xBD");
  EXPECT_EQ(Lossy("\xF4\x90\x80\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // > U+10FFFF
}

TEST(Utf8Test, Validity) {
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));
}

TEST(ByteLevelTest, MappingRoundTrips) {
  EXPECT_EQ(BytesToByteLevel(" the"), "\xC4\xA0the");  // "Ġthe"
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(ByteLevelToBytes(BytesToByteLevel(all)), all);
  EXPECT_FALSE(ByteLevelToBytes("a b").has_value());  // ' ' is not in the alphabet
}

// Expected values from Python's unicodedata.normalize("NFC", ...); the implementation was
// also checked against it on every decomposable code point and 20000 random mark sequences.
TEST(NfcTest, ComposesReordersAndKeepsExclusions) {
  EXPECT_EQ(ToNfc("plain ascii"), "plain ascii");
  EXPECT_EQ(ToNfc("e\u0301"), "\u00e9");
  EXPECT_EQ(ToNfc("A\u030a"), "\u00c5");
  EXPECT_EQ(ToNfc("\u212b"), "\u00c5");                // singleton (Angstrom sign)
  EXPECT_EQ(ToNfc("s\u0307\u0323"), "\u1e69");         // reordered, then composed
  EXPECT_EQ(ToNfc("q\u0307\u0323"), "q\u0323\u0307");  // reordered only
  EXPECT_EQ(ToNfc("\u0958"), "\u0915\u093c");          // composition exclusion
  EXPECT_EQ(ToNfc("\u1100\u1161\u11a8"), "\uac01");    // Hangul L V T
  EXPECT_EQ(ToNfc("\u0301e"), "\u0301e");              // leading mark stays
  EXPECT_EQ(ToNfc("a\xff"
                  "e\u0301"),
            "a\xff\u00e9");  // invalid byte copied through
}

std::vector<std::string> SplitAll(const SplitRegex& re, std::string_view text) {
  std::vector<std::string_view> parts;
  re.Split(text, false, &parts);
  return {parts.begin(), parts.end()};
}

TEST(SplitRegexTest, Gpt2WhitespaceLookaheadEmulation) {
  auto re = SplitRegex::Create(kGpt2SplitPattern);
  ASSERT_TRUE(re.ok()) << re.status();
  using V = std::vector<std::string>;
  EXPECT_EQ(SplitAll(**re, "Hello world"), (V{"Hello", " world"}));
  // `\s+(?!\S)` leaves the last space to the next word.
  EXPECT_EQ(SplitAll(**re, "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(SplitAll(**re, "a   "), (V{"a", "   "}));
  EXPECT_EQ(SplitAll(**re, "a\n\nb"), (V{"a", "\n", "\n", "b"}));
  EXPECT_EQ(SplitAll(**re, "I'm 123!!"), (V{"I", "'m", " 123", "!!"}));
  // Unicode whitespace (RE2's \s is ASCII only).
  EXPECT_EQ(SplitAll(**re, "x\u3000\u3000y"), (V{"x", "\u3000", "\u3000", "y"}));
}

TEST(SplitRegexTest, Llama3PatternKeepsEarlierAlternatives) {
  auto re = SplitRegex::Create(
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  ASSERT_TRUE(re.ok()) << re.status();
  using V = std::vector<std::string>;
  EXPECT_EQ(SplitAll(**re, "12345 HE'S"), (V{"123", "45", " HE", "'S"}));
  // `\s*[\r\n]+` matched before the lookahead alternative: not shortened.
  EXPECT_EQ(SplitAll(**re, "a  \n\nb"), (V{"a", "  \n\n", "b"}));
  EXPECT_EQ(SplitAll(**re, "a   b"), (V{"a", "  ", " b"}));
}

TEST(SplitRegexTest, RejectsUnsupportedLookaround) {
  auto re = SplitRegex::Create(R"(a(?=b)|\s+)");
  ASSERT_FALSE(re.ok());
  EXPECT_EQ(re.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(re.status().message().find("lookaround"), std::string::npos);
  EXPECT_FALSE(SplitRegex::Create(R"((?<=a)b)").ok());
  EXPECT_FALSE(SplitRegex::Create(R"([\S])").ok());
  EXPECT_FALSE(SplitRegex::Create(R"(()").ok());
}

TEST(AddedTokensTest, LeftmostLongestWithStripAndSpecialFilter) {
  std::vector<AddedToken> tokens = {
      {10, "<s>", true}, {11, "<s>x", true}, {12, "[U]", false, true, true}, {13, "tok", false}};
  tokens[3].single_word = true;
  AddedTokenMatcher m(tokens);
  std::vector<TextSection> s;
  m.Split("a<s>xb <s>c  [U]  d", true, &s);
  ASSERT_EQ(s.size(), 7u);
  EXPECT_EQ(s[0].text, "a");
  EXPECT_EQ(s[1].token->id, 11);
  EXPECT_EQ(s[2].text, "b ");
  EXPECT_EQ(s[3].token->id, 10);
  EXPECT_EQ(s[4].text, "c");
  EXPECT_EQ(s[5].text, "  [U]  ");  // lstrip + rstrip absorb the spaces
  EXPECT_EQ(s[5].token->id, 12);
  EXPECT_EQ(s[6].text, "d");
  s.clear();
  m.Split("a<s>b", false, &s);  // special tokens not parsed
  ASSERT_EQ(s.size(), 1u);
  s.clear();
  m.Split("atok tok", true, &s);  // single_word: only the free-standing one
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].text, "atok ");
  EXPECT_EQ(s[1].token->id, 13);
}

}  // namespace
}  // namespace linspec::engine::tokenizer
