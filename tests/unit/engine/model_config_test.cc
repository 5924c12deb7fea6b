#include "engine/model_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace linspec::engine {
namespace {

using ::testing::HasSubstr;

nlohmann::json BaseConfig() {
  return nlohmann::json::parse(R"({
    "model_type": "linear_llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6, "rope_theta": 500000.0, "vocab_size": 300,
    "tie_word_embeddings": true, "bos_token_id": 256, "eos_token_id": [257, 258],
    "linear_attention": {"feature_map": "elu1", "normalize": false, "group_size": 16,
      "local_weight": "relu2", "conv_taps": 4, "global_factor": true, "rope": true}})");
}

absl::Status ParseError(const nlohmann::json& j) { return ParseModelConfig(j.dump()).status(); }

TEST(ModelConfigTest, ParsesAllFields) {
  auto c = ParseModelConfig(BaseConfig().dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c->rope_theta, 500000.0f);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->bos_token_id, 256);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int>{257, 258}));
  EXPECT_EQ(c->linear_attention.feature_map, FeatureMap::kElu1);
  EXPECT_EQ(c->linear_attention.group_size, 16);
  EXPECT_EQ(c->linear_attention.conv_taps, 4);
  EXPECT_TRUE(c->augmented());
  EXPECT_EQ(c->state_elems_per_layer(), 2 * 16 * 16);
}

TEST(ModelConfigTest, EosIntAndDefaults) {
  auto j = BaseConfig();
  j["eos_token_id"] = 257;
  j.erase("num_key_value_heads");
  j["head_dim"] = 32;
  auto c = ParseModelConfig(j.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->eos_token_ids, (std::vector<int>{257}));
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 32);
}

TEST(ModelConfigTest, RoundTrip) {
  auto c = ParseModelConfig(BaseConfig().dump());
  ASSERT_TRUE(c.ok());
  auto c2 = ParseModelConfig(ModelConfigToJson(*c));
  ASSERT_TRUE(c2.ok()) << c2.status();
  EXPECT_EQ(ModelConfigToJson(*c), ModelConfigToJson(*c2));
  EXPECT_EQ(c2->eos_token_ids, c->eos_token_ids);
  EXPECT_EQ(c2->linear_attention.feature_map, FeatureMap::kElu1);
}

TEST(ModelConfigTest, PlainVariantHasNoConvOrGlobalFactor) {
  auto j = BaseConfig();
  j["linear_attention"]["group_size"] = 0;
  j["linear_attention"]["normalize"] = true;
  auto c = ParseModelConfig(j.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->augmented());
  EXPECT_EQ(c->linear_attention.conv_taps, 0);
  EXPECT_FALSE(c->linear_attention.global_factor);
  EXPECT_TRUE(c->linear_attention.normalize);
}

struct BadCase {
  const char* name;
  const char* pointer;  // JSON pointer to change
  nlohmann::json value;
  const char* expected;  // substring of the error
};

TEST(ModelConfigTest, Errors) {
  const BadCase cases[] = {
      {"feature_map", "/linear_attention/feature_map", "softmax", "linear_attention.feature_map"},
      {"local_weight", "/linear_attention/local_weight", "exp", "linear_attention.local_weight"},
      {"group_size", "/linear_attention/group_size", -1, "linear_attention.group_size"},
      {"conv_taps", "/linear_attention/conv_taps", -2, "linear_attention.conv_taps"},
      {"normalize", "/linear_attention/normalize", true, "linear_attention.normalize"},
      {"normalize_type", "/linear_attention/normalize", 3, "linear_attention.normalize"},
      {"hidden", "/hidden_size", 66, "hidden_size"},
      {"hidden0", "/hidden_size", 0, "hidden_size"},
      {"hidden_str", "/hidden_size", "64", "hidden_size"},
      {"kv", "/num_key_value_heads", 3, "num_key_value_heads"},
      {"kv0", "/num_key_value_heads", 0, "num_key_value_heads"},
      {"vocab", "/vocab_size", -5, "vocab_size"},
      {"layers", "/num_hidden_layers", 0, "num_hidden_layers"},
      {"eos", "/eos_token_id", "x", "eos_token_id"},
      {"eos_range", "/eos_token_id", 300, "eos_token_id"},
      {"bos_range", "/bos_token_id", 1000, "bos_token_id"},
      {"eps", "/rms_norm_eps", -1.0, "rms_norm_eps"},
      {"theta", "/rope_theta", 0.0, "rope_theta"},
      {"tie", "/tie_word_embeddings", "yes", "tie_word_embeddings"},
      {"model_type", "/model_type", "llama", "model_type"},
      {"head_dim", "/head_dim", 15, "head_dim"},
  };
  for (const BadCase& bc : cases) {
    auto j = BaseConfig();
    j[nlohmann::json::json_pointer(bc.pointer)] = bc.value;
    absl::Status s = ParseError(j);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bc.name << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(bc.expected)) << bc.name;
  }
}

TEST(ModelConfigTest, MissingFieldsAndBadJson) {
  for (const char* f : {"hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "vocab_size", "linear_attention"}) {
    auto j = BaseConfig();
    j.erase(f);
    absl::Status s = ParseError(j);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << f;
    EXPECT_THAT(std::string(s.message()), HasSubstr(f));
  }
  EXPECT_THAT(std::string(ParseModelConfig("{not json").status().message()),
              HasSubstr("invalid JSON"));
  EXPECT_EQ(ParseModelConfig("[1,2]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadModelConfig("/nonexistent-dir").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace linspec::engine
