// The weights of a linear_llama model directory, validated against its config.
//
// ModelWeights::Open maps the safetensors (single or sharded), then checks that every tensor
// the config needs exists with a float dtype (F32/F16/BF16) and the expected shape; any
// problem is InvalidArgument naming the file and tensor (NotFound when no weight file
// exists). Tensors are addressed by their canonical Hugging Face name; the conv filter is
// always presented as `model.layers.N.self_attn.conv.weight` [kv_heads, conv_taps] even when
// the file stores the published `self_attn.dwconv.weight` [kv_heads, 1, 2C-1, 1] (the first
// C taps are the causal ones). With tie_word_embeddings, lm_head reads the embedding and a
// stored lm_head.weight is ignored.
//
// Consumers: the CPU backend reads fp32 host copies (ReadF32); the CUDA backend copies each
// tensor into its own staging buffer as fp32, bf16 or fp16 (CopyTo) and uploads it.
// Ownership: ModelWeights owns the mappings; copies are independent. Thread-safety: const
// methods are safe to call concurrently.
#ifndef LINSPEC_ENGINE_WEIGHTS_H_
#define LINSPEC_ENGINE_WEIGHTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/dtype.h"
#include "engine/model_config.h"
#include "engine/safetensors.h"

namespace linspec::engine {

enum class LayerTensor {
  kQProj,         // [heads * head_dim, hidden]
  kKProj,         // [kv_heads * head_dim, hidden]
  kVProj,         // [kv_heads * head_dim, hidden]
  kOProj,         // [hidden, heads * head_dim]
  kInputNorm,     // [hidden]
  kPostAttnNorm,  // [hidden]
  kGateProj,      // [intermediate, hidden]
  kUpProj,        // [intermediate, hidden]
  kDownProj,      // [hidden, intermediate]
  kConv,          // [kv_heads, conv_taps]; only when conv_taps > 0
  kGlobalFactor,  // [1]; only when linear_attention.global_factor
};
inline constexpr int kNumLayerTensors = 11;

enum class ModelTensor {
  kEmbed,      // [vocab, hidden]
  kFinalNorm,  // [hidden]
  kLmHead,     // [vocab, hidden]; the embedding when tied
};

// Canonical shapes and use, from the config alone (also used by writers).
bool LayerTensorUsed(const ModelConfig& config, LayerTensor t);
std::vector<int64_t> LayerTensorShape(const ModelConfig& config, LayerTensor t);
std::vector<int64_t> ModelTensorShape(const ModelConfig& config, ModelTensor t);

class ModelWeights {
 public:
  static absl::StatusOr<std::unique_ptr<ModelWeights>> Open(const std::string& model_dir,
                                                            const ModelConfig& config);

  const ModelConfig& config() const { return config_; }

  static std::string LayerTensorName(int layer, LayerTensor t);
  static std::string ModelTensorName(ModelTensor t);

  // Whether the config uses the tensor (kConv needs conv_taps > 0, kGlobalFactor needs
  // global_factor); unused tensors have no entry.
  bool HasLayerTensor(LayerTensor t) const { return LayerTensorUsed(config_, t); }
  std::vector<int64_t> LayerTensorShape(LayerTensor t) const {
    return engine::LayerTensorShape(config_, t);
  }
  std::vector<int64_t> ModelTensorShape(ModelTensor t) const {
    return engine::ModelTensorShape(config_, t);
  }
  int64_t LayerTensorElems(LayerTensor t) const;
  int64_t ModelTensorElems(ModelTensor t) const;
  // The dtype stored in the file (e.g. to pick a native upload path).
  DType StoredDType(int layer, LayerTensor t) const;

  // Copies the canonical tensor into dst, converting to dtype (kF32, kF16 or kBF16).
  // dst_bytes must equal elems * DTypeSize(dtype) (InvalidArgument otherwise).
  absl::Status CopyLayerTensor(int layer, LayerTensor t, DType dtype, void* dst,
                               int64_t dst_bytes) const;
  absl::Status CopyModelTensor(ModelTensor t, DType dtype, void* dst, int64_t dst_bytes) const;

  std::vector<float> LayerTensorF32(int layer, LayerTensor t) const;
  std::vector<float> ModelTensorF32(ModelTensor t) const;

  // Sum over used tensors of elems * DTypeSize(dtype) (lm_head not counted when tied).
  int64_t TotalBytes(DType dtype) const;

 private:
  struct Entry {
    const TensorInfo* info = nullptr;
    bool dwconv = false;  // published [kv, 1, 2C-1, 1] form
  };
  ModelWeights() = default;
  absl::Status Bind(const std::string& dir);
  absl::Status BindOne(const std::string& dir, const std::string& name,
                       const std::vector<int64_t>& shape, Entry* out) const;
  absl::Status BindConv(const std::string& dir, int layer, Entry* out) const;
  absl::Status Copy(const Entry& e, int64_t elems, DType dtype, void* dst, int64_t dst_bytes) const;

  ModelConfig config_;
  std::unique_ptr<SafetensorsSet> files_;
  std::vector<Entry> layer_entries_;  // [layer * kNumLayerTensors + t]
  Entry embed_, final_norm_, lm_head_;
};

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_WEIGHTS_H_
