// Writes a complete linear_llama model directory with deterministic random weights:
// config.json, model.safetensors (or N shards + model.safetensors.index.json),
// generation_config.json and, unless disabled, a byte-level BPE tokenizer.json (GPT-2 style
// ByteLevel pre-tokenizer/decoder: ids 0..255 are the bytes, 256 "<|bos|>", 257 "<|eos|>",
// then a few merges) with tokenizer_config.json.
//
// Weights depend only on (seed, tensor name, shape): the same seed gives the same model in
// any dtype or shard count (up to dtype rounding). Scales keep activations O(1):
// projections ~ N(0, 1/fan_in), norms ~ 1 + N(0, 0.01), conv taps ~ N(0, 0.25/C),
// global_factor in [0.5, 1].
//
// Used by tests and benchmarks of every module (no downloads at test time).
// Thread-safety: pure function of its arguments (writes only under dir).
#ifndef LINSPEC_TOOLS_MAKE_MODEL_RANDOM_MODEL_H_
#define LINSPEC_TOOLS_MAKE_MODEL_RANDOM_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/dtype.h"
#include "engine/model_config.h"

namespace linspec::tools {

enum class ModelVariant {
  kAugmented,  // group_size > 0: local relu2 branch + gamma * global + conv (DESIGN §2)
  kPlain,      // group_size = 0: pure linear attention
};

// Token ids of the byte-level tokenizer written next to the model.
inline constexpr int kRandomModelBosId = 256;
inline constexpr int kRandomModelEosId = 257;
// Tokenizer vocabulary size (256 bytes + 2 specials + merges); vocab_size must be >= this.
inline constexpr int kRandomTokenizerVocab = 263;

struct RandomModelOptions {
  int hidden_size = 64;
  int intermediate_size = 128;
  int num_layers = 2;
  int num_heads = 4;
  int num_kv_heads = 0;  // 0: num_heads
  int head_dim = 0;      // 0: hidden_size / num_heads
  int vocab_size = 512;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;

  ModelVariant variant = ModelVariant::kAugmented;
  engine::FeatureMap feature_map = engine::FeatureMap::kL2Norm;
  bool normalize = false;             // plain variant only
  std::optional<int> group_size;      // augmented: default 16 (must be > 0); plain: 0
  std::optional<int> conv_taps;       // default: augmented 4, plain 0
  std::optional<bool> global_factor;  // default: augmented true, plain false
  bool rope = true;

  engine::DType dtype = engine::DType::kF32;  // kF32, kF16 or kBF16
  uint64_t seed = 0;
  bool tie_word_embeddings = false;
  int num_shards = 1;        // > 1: model-0000i-of-0000N.safetensors + index
  bool dwconv_form = false;  // store the conv as the published [kv, 1, 2C-1, 1] dwconv
  bool write_tokenizer = true;
};

// The config WriteRandomModel would write. InvalidArgument for inconsistent options.
absl::StatusOr<engine::ModelConfig> RandomModelConfig(const RandomModelOptions& options);

// Creates dir (and parents) if needed and writes the model into it, overwriting files.
absl::Status WriteRandomModel(const std::string& dir, const RandomModelOptions& options);

// Writes only the byte-level tokenizer.json + tokenizer_config.json.
absl::Status WriteByteLevelTokenizer(const std::string& dir);

}  // namespace linspec::tools

#endif  // LINSPEC_TOOLS_MAKE_MODEL_RANDOM_MODEL_H_
