// safetensors reader/writer, dtype conversion, ModelWeights validation and every
// malformed-file error.
#include "engine/weights.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/safetensors_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/test_util.h"
#include "tools/make_model/random_model.h"

namespace linspec::engine {
namespace {

using ::linspec::engine::testing::TempDir;
using ::linspec::engine::testing::TestSeed;
using ::linspec::tools::RandomModelOptions;
using ::linspec::tools::WriteRandomModel;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(DTypeTest, HalfConversionsRoundTrip) {
  std::mt19937_64 rng(TestSeed("DTypeTest"));
  std::normal_distribution<float> nd(0.0f, 10.0f);
  for (int i = 0; i < 20000; ++i) {
    const float x = i < 10000 ? nd(rng) : nd(rng) * 1e-5f;
    const float h = F16ToF32(F32ToF16(x));
    const float b = BF16ToF32(F32ToBF16(x));
    EXPECT_LE(std::fabs(h - x), std::max(std::fabs(x) * 4.9e-4f, 3.0e-8f)) << x;
    EXPECT_LE(std::fabs(b - x), std::fabs(x) * 3.9e-3f) << x;
    EXPECT_EQ(F32ToF16(h), F32ToF16(x));  // idempotent
  }
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {  // every half value survives f32
    const uint16_t h = static_cast<uint16_t>(bits);
    const float f = F16ToF32(h);
    if (std::isnan(f)) continue;
    EXPECT_EQ(F32ToF16(f), h) << bits;
  }
  EXPECT_EQ(F32ToF16(1e6f), 0x7c00);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bff);
  EXPECT_EQ(F16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(BF16ToF32(F32ToBF16(1.0f)), 1.0f);
  EXPECT_TRUE(std::isnan(BF16ToF32(F32ToBF16(NAN))));
}

TEST(SafetensorsTest, RoundTrip) {
  TempDir dir;
  std::vector<float> a = {1.0f, -2.5f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::vector<TensorToWrite> ts = {{"a", DType::kF32, {2, 3}, EncodeFloats(a, DType::kF32)},
                                   {"b", DType::kBF16, {3, 2}, EncodeFloats(a, DType::kBF16)},
                                   {"c", DType::kF16, {6}, EncodeFloats(a, DType::kF16)},
                                   {"empty", DType::kF32, {0, 4}, ""}};
  ASSERT_TRUE(WriteSafetensors(dir.File("x.safetensors"), ts, {{"format", "pt"}}).ok());
  auto f = SafetensorsFile::Open(dir.File("x.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  ASSERT_EQ((*f)->tensors().size(), 4u);
  for (const char* name : {"a", "b", "c"}) {
    const TensorInfo* t = (*f)->Find(name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->num_elements, 6);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(LoadAsF32(t->data, t->dtype, i), a[i]) << name;
  }
  EXPECT_EQ((*f)->Find("empty")->num_elements, 0);
}

// Each malformed file and the substring its error must contain.
struct Malformed {
  const char* name;
  std::string bytes;
  std::vector<const char*> expected;
};

std::vector<Malformed> MalformedFiles() {
  const std::string data(24, '\0');
  const std::string ok_a = R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";
  std::string good = RawSafetensorsBytes("{" + ok_a + "}", data);
  std::vector<Malformed> m;
  m.push_back({"tiny", "abc", {"too small"}});
  std::string huge = good;
  huge[0] = '\x7f';
  huge[5] = '\x01';
  m.push_back({"header_len", huge, {"header length", "exceeds the file size"}});
  m.push_back({"bad_json", RawSafetensorsBytes("{\"a\": [", data), {"not valid JSON"}});
  m.push_back({"not_object", RawSafetensorsBytes("[1]", data), {"not a JSON object"}});
  m.push_back({"truncated", good.substr(0, good.size() - 5), {"tensor 'a'", "truncated"}});
  m.push_back({"out_of_range",
               RawSafetensorsBytes(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,48]}})",
                                   std::string(48, '\0').substr(0, 24)),
               {"tensor 'a'", "exceed the data section"}});
  m.push_back(
      {"negative",
       RawSafetensorsBytes(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[-8,16]}})", data),
       {"tensor 'a'", "invalid data_offsets"}});
  m.push_back(
      {"reversed",
       RawSafetensorsBytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", data),
       {"tensor 'a'", "invalid data_offsets"}});
  m.push_back(
      {"size_mismatch",
       RawSafetensorsBytes(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,24]}})", data),
       {"tensor 'a'", "needs 16"}});
  m.push_back({"overlap",
               RawSafetensorsBytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                   R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                   data),
               {"tensor 'b'", "overlaps tensor 'a'"}});
  m.push_back({"duplicate",
               RawSafetensorsBytes("{" + ok_a + "," + ok_a + "}", data),
               {"tensor 'a'", "appears twice"}});
  m.push_back(
      {"dtype",
       RawSafetensorsBytes(R"({"a":{"dtype":"F8","shape":[24],"data_offsets":[0,24]}})", data),
       {"tensor 'a'", "unknown dtype"}});
  m.push_back(
      {"shape",
       RawSafetensorsBytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,24]}})", data),
       {"tensor 'a'", "invalid shape"}});
  m.push_back(
      {"shape_overflow",
       RawSafetensorsBytes(
           R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]}})", data),
       {"tensor 'a'", "too large"}});
  m.push_back({"no_offsets",
               RawSafetensorsBytes(R"({"a":{"dtype":"F32","shape":[6]}})", data),
               {"tensor 'a'", "data_offsets"}});
  return m;
}

TEST(SafetensorsTest, MalformedFilesGiveSpecificErrors) {
  TempDir dir;
  for (const Malformed& m : MalformedFiles()) {
    const std::string path = dir.File(std::string(m.name) + ".safetensors");
    ASSERT_TRUE(WriteFileBytes(path, m.bytes).ok());
    auto f = SafetensorsFile::Open(path);
    ASSERT_FALSE(f.ok()) << m.name;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << m.name;
    EXPECT_THAT(Message(f.status()), HasSubstr(path)) << m.name;
    for (const char* e : m.expected) EXPECT_THAT(Message(f.status()), HasSubstr(e)) << m.name;
  }
  EXPECT_EQ(SafetensorsFile::Open(dir.File("missing")).status().code(),
            absl::StatusCode::kNotFound);
}

// Random byte corruption of a valid file never crashes: it opens or fails cleanly.
TEST(SafetensorsTest, RandomCorruptionNeverCrashes) {
  TempDir dir;
  std::vector<float> v(64, 1.0f);
  const std::string good =
      SerializeSafetensors({{"x", DType::kF32, {8, 8}, EncodeFloats(v, DType::kF32)},
                            {"y", DType::kBF16, {64}, EncodeFloats(v, DType::kBF16)}});
  std::mt19937_64 rng(TestSeed("RandomCorruption"));
  for (int i = 0; i < 300; ++i) {
    std::string bad = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) bad[rng() % 200 % bad.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) bad.resize(rng() % bad.size());
    const std::string path = dir.File("c.safetensors");
    ASSERT_TRUE(WriteFileBytes(path, bad).ok());
    auto f = SafetensorsFile::Open(path);
    if (!f.ok()) continue;
    for (const auto& [name, t] : (*f)->tensors()) {
      float sum = 0;
      for (int64_t k = 0; k < t.size_bytes; ++k) sum += t.data[k];  // ASan checks the range
      (void)sum;
    }
  }
}

RandomModelOptions SmallOptions(uint64_t seed) {
  RandomModelOptions o;
  o.hidden_size = 32;
  o.intermediate_size = 48;
  o.num_layers = 2;
  o.num_heads = 4;
  o.num_kv_heads = 2;
  o.vocab_size = 300;
  o.seed = seed;
  return o;
}

TEST(ModelWeightsTest, FormsAgree) {
  const uint64_t seed = TestSeed("FormsAgree");
  TempDir d1, d2, d3;
  RandomModelOptions o = SmallOptions(seed);
  ASSERT_TRUE(WriteRandomModel(d1.path(), o).ok());
  o.num_shards = 3;
  o.dwconv_form = true;
  ASSERT_TRUE(WriteRandomModel(d2.path(), o).ok());
  o.dtype = DType::kBF16;
  ASSERT_TRUE(WriteRandomModel(d3.path(), o).ok());
  auto cfg = LoadModelConfig(d1.path());
  ASSERT_TRUE(cfg.ok());
  auto w1 = ModelWeights::Open(d1.path(), *cfg);
  auto w2 = ModelWeights::Open(d2.path(), *cfg);
  auto w3 = ModelWeights::Open(d3.path(), *cfg);
  ASSERT_TRUE(w1.ok()) << w1.status();
  ASSERT_TRUE(w2.ok()) << w2.status();
  ASSERT_TRUE(w3.ok()) << w3.status();
  for (int l = 0; l < cfg->num_hidden_layers; ++l) {
    for (int ti = 0; ti < kNumLayerTensors; ++ti) {
      const auto t = static_cast<LayerTensor>(ti);
      const std::vector<float> a = (*w1)->LayerTensorF32(l, t);
      ASSERT_EQ(a, (*w2)->LayerTensorF32(l, t)) << ti;
      const std::vector<float> b = (*w3)->LayerTensorF32(l, t);
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(b[i], BF16ToF32(F32ToBF16(a[i])));
      // bf16 copy from an f32 file equals the bf16 file's bytes.
      std::vector<uint16_t> h(a.size());
      ASSERT_TRUE((*w1)->CopyLayerTensor(l, t, DType::kBF16, h.data(), 2 * h.size()).ok());
      for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(BF16ToF32(h[i]), b[i]);
    }
  }
  EXPECT_EQ((*w1)->LayerTensorShape(LayerTensor::kConv), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ((*w1)->ModelTensorF32(ModelTensor::kLmHead).size(), 300u * 32u);
  std::vector<float> small(3);
  EXPECT_EQ((*w1)->CopyModelTensor(ModelTensor::kFinalNorm, DType::kF32, small.data(), 12).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelWeightsTest, TiedEmbeddings) {
  TempDir d;
  RandomModelOptions o = SmallOptions(TestSeed("Tied"));
  o.tie_word_embeddings = true;
  ASSERT_TRUE(WriteRandomModel(d.path(), o).ok());
  auto cfg = LoadModelConfig(d.path());
  ASSERT_TRUE(cfg.ok());
  auto w = ModelWeights::Open(d.path(), *cfg);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->ModelTensorF32(ModelTensor::kLmHead), (*w)->ModelTensorF32(ModelTensor::kEmbed));
  auto s = SafetensorsFile::Open(d.File("model.safetensors"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Find("lm_head.weight"), nullptr);
}

// A model file with one tensor replaced/removed, and the error it must give.
TEST(ModelWeightsTest, ValidationErrors) {
  TempDir d;
  RandomModelOptions o = SmallOptions(TestSeed("ValidationErrors"));
  ASSERT_TRUE(WriteRandomModel(d.path(), o).ok());
  auto cfg = LoadModelConfig(d.path());
  ASSERT_TRUE(cfg.ok());
  auto src = SafetensorsFile::Open(d.File("model.safetensors"));
  ASSERT_TRUE(src.ok());
  std::vector<TensorToWrite> base;
  for (const auto& [name, t] : (*src)->tensors()) {
    base.push_back(
        {name, t.dtype, t.shape, std::string(reinterpret_cast<const char*>(t.data), t.size_bytes)});
  }
  src->reset();
  const std::string q = "model.layers.1.self_attn.q_proj.weight";
  struct Case {
    const char* name;
    std::function<void(std::vector<TensorToWrite>&)> edit;
    std::vector<std::string> expected;
  };
  auto find = [](std::vector<TensorToWrite>& v, const std::string& n) -> TensorToWrite& {
    for (auto& t : v) {
      if (t.name == n) return t;
    }
    return v[0];
  };
  const std::vector<Case> cases = {
      {"missing",
       [&](auto& v) { std::erase_if(v, [&](auto& t) { return t.name == q; }); },
       {"missing tensor '" + q + "'"}},
      {"shape",
       [&](auto& v) {
         find(v, q).shape = {16, 64};
       },
       {"tensor '" + q + "'", "has shape [16, 64]", "[32, 32]"}},
      {"dtype",
       [&](auto& v) { find(v, q).dtype = DType::kI32; },
       {"tensor '" + q + "'", "dtype I32"}},
      {"conv_missing",
       [&](auto& v) {
         std::erase_if(v, [](auto& t) { return t.name == "model.layers.0.self_attn.conv.weight"; });
       },
       {"missing tensor 'model.layers.0.self_attn.conv.weight'", "dwconv"}},
      {"dwconv_shape",
       [&](auto& v) {
         TensorToWrite& t = find(v, "model.layers.0.self_attn.conv.weight");
         t.name = "model.layers.0.self_attn.dwconv.weight";
         t.shape = {2, 1, 4, 1};  // taps 4 needs [2, 1, 7, 1]
         t.bytes = t.bytes.substr(0, 2 * 4 * 4);
       },
       {"tensor 'model.layers.0.self_attn.dwconv.weight'", "[2, 1, 4, 1]", "[2, 1, 7, 1]"}},
      {"lm_head",
       [&](auto& v) { std::erase_if(v, [](auto& t) { return t.name == "lm_head.weight"; }); },
       {"missing tensor 'lm_head.weight'"}},
  };
  for (const Case& c : cases) {
    std::vector<TensorToWrite> ts = base;
    c.edit(ts);
    ASSERT_TRUE(WriteSafetensors(d.File("model.safetensors"), ts).ok());
    auto w = ModelWeights::Open(d.path(), *cfg);
    ASSERT_FALSE(w.ok()) << c.name;
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    for (const std::string& e : c.expected)
      EXPECT_THAT(Message(w.status()), HasSubstr(e)) << c.name;
  }
}

TEST(ModelWeightsTest, ShardedIndexErrors) {
  TempDir d;
  RandomModelOptions o = SmallOptions(TestSeed("ShardedIndexErrors"));
  o.num_shards = 2;
  ASSERT_TRUE(WriteRandomModel(d.path(), o).ok());
  auto cfg = LoadModelConfig(d.path());
  ASSERT_TRUE(cfg.ok());
  ASSERT_TRUE(ModelWeights::Open(d.path(), *cfg).ok());
  const std::string idx = d.File("model.safetensors.index.json");
  ASSERT_TRUE(WriteFileBytes(idx, "{\"weight_map\": ").ok());
  EXPECT_THAT(Message(ModelWeights::Open(d.path(), *cfg).status()),
              AllOf(HasSubstr(idx), HasSubstr("not valid JSON")));
  ASSERT_TRUE(WriteFileBytes(idx, R"({"weight_map": {"model.norm.weight": "../x"}})").ok());
  EXPECT_THAT(Message(ModelWeights::Open(d.path(), *cfg).status()),
              HasSubstr("invalid shard name"));
  ASSERT_TRUE(
      WriteFileBytes(idx,
                     R"({"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors"}})")
          .ok());
  EXPECT_THAT(Message(ModelWeights::Open(d.path(), *cfg).status()),
              AllOf(HasSubstr("tensor 'model.norm.weight'"), HasSubstr("is not in its shard")));
  // Same tensor in two shards.
  ASSERT_TRUE(
      WriteFileBytes(idx, R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})")
          .ok());
  std::vector<float> v = {1, 2};
  ASSERT_TRUE(WriteSafetensors(d.File("s1.safetensors"),
                               {{"a", DType::kF32, {2}, EncodeFloats(v, DType::kF32)}})
                  .ok());
  ASSERT_TRUE(WriteSafetensors(d.File("s2.safetensors"),
                               {{"a", DType::kF32, {2}, EncodeFloats(v, DType::kF32)},
                                {"b", DType::kF32, {2}, EncodeFloats(v, DType::kF32)}})
                  .ok());
  EXPECT_THAT(Message(ModelWeights::Open(d.path(), *cfg).status()),
              AllOf(HasSubstr("tensor 'a'"), HasSubstr("duplicate")));
  std::filesystem::remove(idx);
  EXPECT_THAT(Message(ModelWeights::Open(d.path(), *cfg).status()),
              HasSubstr("no model.safetensors"));
}

}  // namespace
}  // namespace linspec::engine
