#include "server/sse.h"

#include "gtest/gtest.h"
#include "server/auth.h"
#include "server/chat_template.h"

namespace linspec::server {
namespace {

TEST(SseTest, DataEventFraming) {
  EXPECT_EQ(SseData(R"({"a":1})"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(SseData("x\ny"), "data: x\ndata: y\n\n");
  EXPECT_EQ(SseDone(), "data: [DONE]\n\n");
  EXPECT_EQ(SseComment("keep-alive"), ": keep-alive\n\n");
}

TEST(SseTest, ChunkedFraming) {
  EXPECT_EQ(HttpChunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(HttpChunk(std::string(26, 'x')), "1a\r\n" + std::string(26, 'x') + "\r\n");
  EXPECT_EQ(HttpChunk(""), "");
  EXPECT_EQ(HttpLastChunk(), "0\r\n\r\n");
}

TEST(AuthTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(AuthTest, BearerCheck) {
  ApiKeyAuth off("", {});
  EXPECT_TRUE(off.Check(""));
  ApiKeyAuth auth("sk-1", {"/health"});
  EXPECT_TRUE(auth.Check("Bearer sk-1"));
  EXPECT_TRUE(auth.Check("bearer sk-1"));
  EXPECT_FALSE(auth.Check("Bearer sk-2"));
  EXPECT_FALSE(auth.Check("sk-1"));
  EXPECT_FALSE(auth.Check(""));
  EXPECT_TRUE(auth.IsExempt("/health"));
  EXPECT_FALSE(auth.IsExempt("/metrics"));
}

TEST(ChatTemplateTest, RecognisesKnownForms) {
  EXPECT_EQ(ChatTemplate::FromTokenizerConfig("").kind(), ChatTemplateKind::kPlain);
  EXPECT_EQ(ChatTemplate::FromTokenizerConfig("{not json").kind(), ChatTemplateKind::kPlain);
  EXPECT_EQ(ChatTemplate::FromTokenizerConfig(
                R"({"chat_template":"{% for m in messages %}<|im_start|>{{m.role}}..."})")
                .kind(),
            ChatTemplateKind::kChatMl);
  EXPECT_EQ(ChatTemplate::FromTokenizerConfig(
                R"({"chat_template":"<|start_header_id|>{{ role }}<|end_header_id|>"})")
                .kind(),
            ChatTemplateKind::kLlama3);
  EXPECT_EQ(ChatTemplate::FromTokenizerConfig(R"({"chat_template":"[INST] {{x}} [/INST]"})").kind(),
            ChatTemplateKind::kLlama2);
  EXPECT_EQ(ChatTemplate::FromTokenizerConfig(R"({"chat_template":"{{ weird }}"})").kind(),
            ChatTemplateKind::kPlain);
}

TEST(ChatTemplateTest, RendersPlainAndChatMl) {
  std::vector<ChatMessage> m = {{"system", "Be brief."}, {"user", "Hi"}};
  EXPECT_EQ(ChatTemplate().Render(m), "System: Be brief.\n\nUser: Hi\n\nAssistant:");
  EXPECT_EQ(ChatTemplate(ChatTemplateKind::kChatMl).Render(m),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(ChatTemplate(ChatTemplateKind::kChatMl).end_of_turn_tokens(),
            std::vector<std::string>{"<|im_end|>"});
}

}  // namespace
}  // namespace linspec::server
