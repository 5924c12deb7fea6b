// The linear_llama model configuration (DESIGN.md §2): a Hugging Face LLaMA config.json
// with "model_type": "linear_llama" and a "linear_attention" object.
#ifndef LINSPEC_ENGINE_MODEL_CONFIG_H_
#define LINSPEC_ENGINE_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace linspec::engine {

enum class FeatureMap { kL2Norm, kElu1, kRelu, kIdentity };
enum class LocalWeight { kRelu2 };

// Numerical conventions every backend follows (engine/cpu is the reference; the PyTorch
// trainer tools/train/linear_llama.py uses the same):
//  * Order per layer and token: q,k = RoPE(proj) (HF LLaMA rotate_half; angles
//    pos * theta^(-2i/d) evaluated in double on the CPU), then q̂ = φ(q), k̂ = φ(k) per head
//    vector. l2norm: x / max(|x|_2, kL2NormMinNorm); elu1: x > 0 ? x + 1 : exp(x);
//    relu: max(x, 0); identity: x.
//  * Head h of the query uses KV head h / (num_attention_heads / num_key_value_heads).
//  * group_size > 0 (augmented): o = local + γ·global + conv (DESIGN.md §2); no 1/sqrt(d).
//    conv acts on v (no RoPE/φ) per KV head and is added to every query head of it.
//  * group_size == 0 (plain): o = q̂·S_t, divided by max(q̂·z_t, kNormalizeEps) when
//    normalize. The plain variant has no conv and no global factor: the parser sets
//    conv_taps = 0 and global_factor = false for it (trainer configs carry the defaults).
inline constexpr float kL2NormMinNorm = 1e-12f;
inline constexpr float kNormalizeEps = 1e-6f;

struct LinearAttentionConfig {
  FeatureMap feature_map = FeatureMap::kL2Norm;
  bool normalize = false;  // divide by phi(q).z (plain variant only)
  int group_size = 64;     // >0: local quadratic branch in fixed groups; 0: pure linear
  LocalWeight local_weight = LocalWeight::kRelu2;
  int conv_taps = 32;         // >0: causal depthwise conv on V, one filter per KV head (augmented)
  bool global_factor = true;  // learned per-layer scalar on the global branch (augmented)
  bool rope = true;
};

struct ModelConfig {
  std::string model_type = "linear_llama";
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;  // defaults to num_attention_heads
  int head_dim = 0;             // defaults to hidden_size / num_attention_heads
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  int vocab_size = 0;
  bool tie_word_embeddings = false;
  int bos_token_id = -1;            // -1: none
  std::vector<int> eos_token_ids;   // config's eos_token_id, int or list
  int max_position_embeddings = 0;  // informational; linear attention has no hard limit
  LinearAttentionConfig linear_attention;

  bool augmented() const { return linear_attention.group_size > 0; }
  // Elements of the recurrent state S per layer: kv_heads * head_dim * head_dim.
  int64_t state_elems_per_layer() const {
    return int64_t{num_key_value_heads} * head_dim * head_dim;
  }
};

// Parses config.json text. Unknown enum values, missing or inconsistent sizes give
// InvalidArgument naming the field.
absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text);
// Reads and parses <dir>/config.json; errors name the file.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);
// Serializes back to config.json text (used by linspec-make-model).
std::string ModelConfigToJson(const ModelConfig& config);

const char* FeatureMapName(FeatureMap f);

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_MODEL_CONFIG_H_
