#include "tools/make_model/random_model.h"

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/safetensors_writer.h"
#include "engine/weights.h"
#include "nlohmann/json.hpp"

namespace linspec::tools {
namespace {

using engine::DType;
using engine::LayerTensor;
using engine::ModelConfig;
using engine::ModelTensor;
using engine::ModelWeights;
using engine::TensorToWrite;

// splitmix64: a tiny, portable generator, so weights do not depend on the standard
// library's distribution implementations.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double Uniform() { return (static_cast<double>(Next() >> 11) + 0.5) * 0x1.0p-53; }
  double Normal() {  // Box-Muller
    const double u1 = Uniform(), u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  uint64_t state_;
};

uint64_t HashName(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ (seed * 0x9e3779b97f4a7c15ull);
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::vector<float> Normal(const std::string& name, uint64_t seed, int64_t n, double scale,
                          double offset = 0.0) {
  Rng rng(HashName(name, seed));
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(offset + scale * rng.Normal());
  return v;
}

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

TensorToWrite Tensor(const std::string& name, std::vector<int64_t> shape,
                     const std::vector<float>& values, DType dtype) {
  return TensorToWrite{name, dtype, std::move(shape), engine::EncodeFloats(values, dtype)};
}

// A layer tensor with its init scale: 1/sqrt(fan_in) for projections.
TensorToWrite LayerWeight(const ModelConfig& c, int layer, LayerTensor t,
                          const RandomModelOptions& o) {
  const std::string name = ModelWeights::LayerTensorName(layer, t);
  const std::vector<int64_t> shape = engine::LayerTensorShape(c, t);
  const int64_t n = Product(shape);
  switch (t) {
    case LayerTensor::kInputNorm:
    case LayerTensor::kPostAttnNorm:
      return Tensor(name, shape, Normal(name, o.seed, n, 0.1, 1.0), o.dtype);
    case LayerTensor::kGlobalFactor: {
      Rng rng(HashName(name, o.seed));
      return Tensor(name, shape, {static_cast<float>(0.5 + 0.5 * rng.Uniform())}, o.dtype);
    }
    case LayerTensor::kConv: {
      const int taps = c.linear_attention.conv_taps;
      std::vector<float> w = Normal(name, o.seed, n, 0.5 / std::sqrt(static_cast<double>(taps)));
      if (!o.dwconv_form) return Tensor(name, shape, w, o.dtype);
      // Published form: [kv, 1, 2C-1, 1]; taps C..2C-2 are masked (future) and get noise.
      const std::string dw = absl::StrCat("model.layers.", layer, ".self_attn.dwconv.weight");
      const int stored = 2 * taps - 1;
      std::vector<float> full = Normal(dw, o.seed, int64_t{c.num_key_value_heads} * stored, 1.0);
      for (int h = 0; h < c.num_key_value_heads; ++h) {
        for (int j = 0; j < taps; ++j) full[h * stored + j] = w[h * taps + j];
      }
      return Tensor(dw, {c.num_key_value_heads, 1, stored, 1}, full, o.dtype);
    }
    default:
      return Tensor(name, shape, Normal(name, o.seed, n, 1.0 / std::sqrt(double(shape[1]))),
                    o.dtype);
  }
}

std::vector<TensorToWrite> AllTensors(const ModelConfig& c, const RandomModelOptions& o) {
  std::vector<TensorToWrite> out;
  const std::string embed = ModelWeights::ModelTensorName(ModelTensor::kEmbed);
  const int64_t vh = int64_t{c.vocab_size} * c.hidden_size;
  out.push_back(Tensor(embed, {c.vocab_size, c.hidden_size},
                       Normal(embed, o.seed, vh, 1.0 / std::sqrt(double(c.hidden_size))), o.dtype));
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    for (int ti = 0; ti < engine::kNumLayerTensors; ++ti) {
      const auto t = static_cast<LayerTensor>(ti);
      if (engine::LayerTensorUsed(c, t)) out.push_back(LayerWeight(c, l, t, o));
    }
  }
  const std::string norm = ModelWeights::ModelTensorName(ModelTensor::kFinalNorm);
  out.push_back(
      Tensor(norm, {c.hidden_size}, Normal(norm, o.seed, c.hidden_size, 0.1, 1.0), o.dtype));
  if (!c.tie_word_embeddings) {
    const std::string head = ModelWeights::ModelTensorName(ModelTensor::kLmHead);
    out.push_back(Tensor(head, {c.vocab_size, c.hidden_size},
                         Normal(head, o.seed, vh, 1.0 / std::sqrt(double(c.hidden_size))),
                         o.dtype));
  }
  return out;
}

absl::Status WriteShards(const std::string& dir, std::vector<TensorToWrite> tensors,
                         int num_shards) {
  const std::map<std::string, std::string> meta = {{"format", "pt"}};
  if (num_shards <= 1) return engine::WriteSafetensors(dir + "/model.safetensors", tensors, meta);
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  int64_t total = 0;
  const size_t per = (tensors.size() + num_shards - 1) / num_shards;
  for (int s = 0; s < num_shards; ++s) {
    const std::string file = absl::StrFormat("model-%05d-of-%05d.safetensors", s + 1, num_shards);
    std::vector<TensorToWrite> part;
    for (size_t i = s * per; i < std::min(tensors.size(), (s + 1) * per); ++i) {
      weight_map[tensors[i].name] = file;
      total += static_cast<int64_t>(tensors[i].bytes.size());
      part.push_back(std::move(tensors[i]));
    }
    RETURN_IF_ERROR(engine::WriteSafetensors(dir + "/" + file, part, meta));
  }
  nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}},
                                  {"weight_map", weight_map}};
  return engine::WriteFileBytes(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
}

}  // namespace

absl::StatusOr<ModelConfig> RandomModelConfig(const RandomModelOptions& o) {
  ModelConfig c;
  c.hidden_size = o.hidden_size;
  c.intermediate_size = o.intermediate_size;
  c.num_hidden_layers = o.num_layers;
  c.num_attention_heads = o.num_heads;
  c.num_key_value_heads = o.num_kv_heads;
  c.head_dim = o.head_dim;
  c.vocab_size = o.vocab_size;
  c.rms_norm_eps = o.rms_norm_eps;
  c.rope_theta = o.rope_theta;
  c.tie_word_embeddings = o.tie_word_embeddings;
  c.max_position_embeddings = 1 << 20;
  const bool aug = o.variant == ModelVariant::kAugmented;
  engine::LinearAttentionConfig& la = c.linear_attention;
  la.feature_map = o.feature_map;
  la.normalize = o.normalize;
  la.group_size = o.group_size.value_or(aug ? 16 : 0);
  la.conv_taps = o.conv_taps.value_or(aug ? 4 : 0);
  la.global_factor = o.global_factor.value_or(aug);
  la.rope = o.rope;
  if (aug && la.group_size <= 0) {
    return absl::InvalidArgumentError("augmented variant needs group_size > 0");
  }
  if (!aug && la.group_size != 0) {
    return absl::InvalidArgumentError("plain variant needs group_size 0");
  }
  if (o.write_tokenizer) {
    if (o.vocab_size < kRandomTokenizerVocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vocab_size must be >= ", kRandomTokenizerVocab, " for the byte-level tokenizer"));
    }
    c.bos_token_id = kRandomModelBosId;
    c.eos_token_ids = {kRandomModelEosId};
  } else if (o.vocab_size > 0) {
    c.eos_token_ids = {o.vocab_size - 1};
  }
  if (o.dtype != DType::kF32 && o.dtype != DType::kF16 && o.dtype != DType::kBF16) {
    return absl::InvalidArgumentError("dtype must be f32, f16 or bf16");
  }
  if (o.num_shards < 1) return absl::InvalidArgumentError("num_shards must be >= 1");
  // Round-trip through the parser: the same validation as loading the written model.
  return engine::ParseModelConfig(engine::ModelConfigToJson(c));
}

absl::Status WriteRandomModel(const std::string& dir, const RandomModelOptions& o) {
  ASSIGN_OR_RETURN(ModelConfig c, RandomModelConfig(o));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  RETURN_IF_ERROR(engine::WriteFileBytes(dir + "/config.json", engine::ModelConfigToJson(c)));
  nlohmann::json gen = {{"eos_token_id", c.eos_token_ids.size() == 1
                                             ? nlohmann::json(c.eos_token_ids[0])
                                             : nlohmann::json(c.eos_token_ids)}};
  if (c.bos_token_id >= 0) gen["bos_token_id"] = c.bos_token_id;
  RETURN_IF_ERROR(engine::WriteFileBytes(dir + "/generation_config.json", gen.dump(2) + "\n"));
  // Remove weights of a previous write with another shard count.
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string fn = entry.path().filename().string();
    if (fn.rfind("model", 0) == 0 &&
        (fn.ends_with(".safetensors") || fn == "model.safetensors.index.json")) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  RETURN_IF_ERROR(WriteShards(dir, AllTensors(c, o), o.num_shards));
  if (o.write_tokenizer) RETURN_IF_ERROR(WriteByteLevelTokenizer(dir));
  return absl::OkStatus();
}

}  // namespace linspec::tools
