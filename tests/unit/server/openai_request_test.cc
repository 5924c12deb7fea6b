#include "server/openai_request.h"

#include <string>

#include "gtest/gtest.h"

namespace linspec::server {
namespace {

RequestLimits Limits() {
  RequestLimits l;
  l.max_n = 8;
  l.max_tokens_limit = 1000;
  l.vocab_size = 300;
  return l;
}

TEST(OpenAiRequestTest, ParsesCompletionFields) {
  std::string param;
  auto r = ParseCompletionRequest(
      R"({"model":"m","prompt":"Hello","max_tokens":7,"temperature":0.5,"top_p":0.9,
          "top_k":20,"seed":42,"stop":["\n","END"],"n":2,"stream":true,
          "stream_options":{"include_usage":true},"ignore_eos":true})",
      /*chat=*/false, Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model, "m");
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_EQ(r->prompts[0].text, "Hello");
  EXPECT_EQ(r->sampling.max_tokens, 7);
  EXPECT_FLOAT_EQ(r->sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.9f);
  EXPECT_EQ(r->sampling.top_k, 20);
  EXPECT_EQ(r->sampling.seed, 42u);
  EXPECT_EQ(r->sampling.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_EQ(r->n, 2);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_TRUE(r->sampling.ignore_eos);
}

TEST(OpenAiRequestTest, PromptForms) {
  std::string param;
  auto a = ParseCompletionRequest(R"({"prompt":["a","b"]})", false, Limits(), &param);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->prompts.size(), 2u);
  auto b = ParseCompletionRequest(R"({"prompt":[1,2,3]})", false, Limits(), &param);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->prompts.size(), 1u);
  EXPECT_TRUE(b->prompts[0].is_tokens);
  EXPECT_EQ(b->prompts[0].token_ids, (std::vector<engine::TokenId>{1, 2, 3}));
  auto c = ParseCompletionRequest(R"({"prompt":[[1],[2,3]]})", false, Limits(), &param);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->prompts.size(), 2u);
  EXPECT_EQ(c->sampling.max_tokens, 16);  // OpenAI default for completions
}

TEST(OpenAiRequestTest, ChatMessagesAndMaxCompletionTokens) {
  std::string param;
  auto r = ParseCompletionRequest(
      R"({"messages":[{"role":"system","content":"s"},
                      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
          "max_tokens":5,"max_completion_tokens":9})",
      /*chat=*/true, Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[1].content, "ab");
  EXPECT_EQ(r->sampling.max_tokens, 9);
}

struct BadCase {
  const char* name;
  const char* body;
  bool chat;
  const char* param;
};

TEST(OpenAiRequestTest, BadInputsAreInvalidArgumentWithParam) {
  const BadCase cases[] = {
      {"malformed json", R"({"prompt": "x",)", false, ""},
      {"not an object", R"([1,2])", false, ""},
      {"missing prompt", R"({"max_tokens": 3})", false, "prompt"},
      {"empty prompt", R"({"prompt": ""})", false, "prompt"},
      {"empty prompt list", R"({"prompt": []})", false, "prompt"},
      {"prompt wrong type", R"({"prompt": 12})", false, "prompt"},
      {"prompt mixed list", R"({"prompt": ["a", 1]})", false, "prompt"},
      {"token out of vocab", R"({"prompt": [1, 999]})", false, "prompt"},
      {"negative token", R"({"prompt": [-1]})", false, "prompt"},
      {"max_tokens string", R"({"prompt": "x", "max_tokens": "5"})", false, "max_tokens"},
      {"max_tokens float", R"({"prompt": "x", "max_tokens": 5.5})", false, "max_tokens"},
      {"max_tokens zero", R"({"prompt": "x", "max_tokens": 0})", false, "max_tokens"},
      {"max_tokens huge", R"({"prompt": "x", "max_tokens": 100000000})", false, "max_tokens"},
      {"temperature string", R"({"prompt": "x", "temperature": "hot"})", false, "temperature"},
      {"temperature range", R"({"prompt": "x", "temperature": 3})", false, "temperature"},
      {"top_p zero", R"({"prompt": "x", "top_p": 0})", false, "top_p"},
      {"top_k float", R"({"prompt": "x", "top_k": 1.5})", false, "top_k"},
      {"n above bound", R"({"prompt": "x", "n": 9})", false, "n"},
      {"n zero", R"({"prompt": "x", "n": 0})", false, "n"},
      {"stream not bool", R"({"prompt": "x", "stream": "yes"})", false, "stream"},
      {"stop wrong type", R"({"prompt": "x", "stop": 5})", false, "stop"},
      {"stop empty string", R"({"prompt": "x", "stop": [""]})", false, "stop"},
      {"too many stops", R"({"prompt":"x","stop":["a","b","c","d","e","f","g","h","i"]})", false,
       "stop"},
      {"logprobs", R"({"prompt": "x", "logprobs": 2})", false, "logprobs"},
      {"echo", R"({"prompt": "x", "echo": true})", false, "echo"},
      {"penalty", R"({"prompt": "x", "presence_penalty": 0.5})", false, "presence_penalty"},
      {"best_of", R"({"prompt": "x", "best_of": 3})", false, "best_of"},
      {"model not string", R"({"prompt": "x", "model": 3})", false, "model"},
      {"stream_options type", R"({"prompt": "x", "stream_options": true})", false,
       "stream_options"},
      {"chat missing messages", R"({"prompt": "x"})", true, "messages"},
      {"chat empty messages", R"({"messages": []})", true, "messages"},
      {"chat bad role", R"({"messages": [{"role": "wizard", "content": "x"}]})", true, "messages"},
      {"chat content number", R"({"messages": [{"role": "user", "content": 5}]})", true,
       "messages"},
      {"chat image part",
       R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
       true, "messages"},
      {"chat logprobs", R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})",
       true, "logprobs"},
      {"chat tools",
       R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", true,
       "tools"},
  };
  for (const auto& c : cases) {
    std::string param = "unset";
    auto r = ParseCompletionRequest(c.body, c.chat, Limits(), &param);
    EXPECT_FALSE(r.ok()) << c.name;
    if (r.ok()) continue;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_FALSE(r.status().message().empty()) << c.name;
    if (c.param[0] != '\0') {
      EXPECT_EQ(param, c.param) << c.name;
    }
  }
}

TEST(OpenAiRequestTest, AcceptsNeutralUnsupportedFields) {
  std::string param;
  auto r = ParseCompletionRequest(
      R"({"prompt":"x","logprobs":null,"echo":false,"presence_penalty":0,"frequency_penalty":0,
          "logit_bias":{},"best_of":1,"user":"u","suffix":null})",
      false, Limits(), &param);
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST(OpenAiRequestTest, TokenizeAndDetokenize) {
  std::string param;
  auto t = ParseTokenizeRequest(R"({"prompt":"hi","add_special_tokens":false})", &param);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->text, "hi");
  EXPECT_FALSE(t->add_special_tokens);
  EXPECT_FALSE(ParseTokenizeRequest(R"({"prompt":5})", &param).ok());
  auto d = ParseDetokenizeRequest(R"({"tokens":[104,105]})", Limits(), &param);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->tokens.size(), 2u);
  EXPECT_FALSE(ParseDetokenizeRequest(R"({"tokens":"abc"})", Limits(), &param).ok());
  EXPECT_FALSE(ParseDetokenizeRequest(R"({"tokens":[100000]})", Limits(), &param).ok());
}

}  // namespace
}  // namespace linspec::server
