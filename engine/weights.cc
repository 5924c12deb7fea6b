#include "engine/weights.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace linspec::engine {
namespace {

const char* LayerSuffix(LayerTensor t) {
  switch (t) {
    case LayerTensor::kQProj:
      return "self_attn.q_proj.weight";
    case LayerTensor::kKProj:
      return "self_attn.k_proj.weight";
    case LayerTensor::kVProj:
      return "self_attn.v_proj.weight";
    case LayerTensor::kOProj:
      return "self_attn.o_proj.weight";
    case LayerTensor::kInputNorm:
      return "input_layernorm.weight";
    case LayerTensor::kPostAttnNorm:
      return "post_attention_layernorm.weight";
    case LayerTensor::kGateProj:
      return "mlp.gate_proj.weight";
    case LayerTensor::kUpProj:
      return "mlp.up_proj.weight";
    case LayerTensor::kDownProj:
      return "mlp.down_proj.weight";
    case LayerTensor::kConv:
      return "self_attn.conv.weight";
    case LayerTensor::kGlobalFactor:
      return "self_attn.global_factor";
  }
  return "";
}

int64_t Elems(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

std::string ModelWeights::LayerTensorName(int layer, LayerTensor t) {
  return absl::StrCat("model.layers.", layer, ".", LayerSuffix(t));
}

std::string ModelWeights::ModelTensorName(ModelTensor t) {
  switch (t) {
    case ModelTensor::kEmbed:
      return "model.embed_tokens.weight";
    case ModelTensor::kFinalNorm:
      return "model.norm.weight";
    case ModelTensor::kLmHead:
      return "lm_head.weight";
  }
  return "";
}

bool LayerTensorUsed(const ModelConfig& c, LayerTensor t) {
  if (t == LayerTensor::kConv) return c.linear_attention.conv_taps > 0;
  if (t == LayerTensor::kGlobalFactor) return c.linear_attention.global_factor;
  return true;
}

std::vector<int64_t> LayerTensorShape(const ModelConfig& c, LayerTensor t) {
  const int64_t h = c.hidden_size, q = int64_t{c.num_attention_heads} * c.head_dim,
                kv = int64_t{c.num_key_value_heads} * c.head_dim, inter = c.intermediate_size;
  switch (t) {
    case LayerTensor::kQProj:
      return {q, h};
    case LayerTensor::kKProj:
    case LayerTensor::kVProj:
      return {kv, h};
    case LayerTensor::kOProj:
      return {h, q};
    case LayerTensor::kInputNorm:
    case LayerTensor::kPostAttnNorm:
      return {h};
    case LayerTensor::kGateProj:
    case LayerTensor::kUpProj:
      return {inter, h};
    case LayerTensor::kDownProj:
      return {h, inter};
    case LayerTensor::kConv:
      return {c.num_key_value_heads, c.linear_attention.conv_taps};
    case LayerTensor::kGlobalFactor:
      return {1};
  }
  return {};
}

std::vector<int64_t> ModelTensorShape(const ModelConfig& c, ModelTensor t) {
  if (t == ModelTensor::kFinalNorm) return {c.hidden_size};
  return {c.vocab_size, c.hidden_size};
}

int64_t ModelWeights::LayerTensorElems(LayerTensor t) const { return Elems(LayerTensorShape(t)); }
int64_t ModelWeights::ModelTensorElems(ModelTensor t) const { return Elems(ModelTensorShape(t)); }

DType ModelWeights::StoredDType(int layer, LayerTensor t) const {
  const Entry& e = layer_entries_[layer * kNumLayerTensors + static_cast<int>(t)];
  return e.info != nullptr ? e.info->dtype : DType::kF32;
}

absl::StatusOr<std::unique_ptr<ModelWeights>> ModelWeights::Open(const std::string& model_dir,
                                                                 const ModelConfig& config) {
  std::unique_ptr<ModelWeights> w(new ModelWeights());
  w->config_ = config;
  ASSIGN_OR_RETURN(w->files_, SafetensorsSet::OpenDir(model_dir));
  RETURN_IF_ERROR(w->Bind(model_dir));
  return w;
}

absl::Status ModelWeights::BindOne(const std::string& dir, const std::string& name,
                                   const std::vector<int64_t>& shape, Entry* out) const {
  const TensorInfo* info = files_->Find(name);
  if (info == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": missing tensor '", name, "' (needed by config.json)"));
  }
  if (!IsFloatWeightDType(info->dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(info->file, ": tensor '", name, "' has dtype ",
                                                   DTypeName(info->dtype),
                                                   "; expected F32, F16 or BF16"));
  }
  const bool scalar_ok = shape == std::vector<int64_t>{1} && info->shape.empty();
  if (info->shape != shape && !scalar_ok) {
    return absl::InvalidArgumentError(absl::StrCat(info->file, ": tensor '", name, "' has shape ",
                                                   ShapeToString(info->shape),
                                                   "; config.json implies ", ShapeToString(shape)));
  }
  out->info = info;
  out->dwconv = false;
  return absl::OkStatus();
}

absl::Status ModelWeights::BindConv(const std::string& dir, int layer, Entry* out) const {
  const std::string name = LayerTensorName(layer, LayerTensor::kConv);
  if (files_->Find(name) != nullptr) {
    return BindOne(dir, name, LayerTensorShape(LayerTensor::kConv), out);
  }
  const std::string dw = absl::StrCat("model.layers.", layer, ".self_attn.dwconv.weight");
  if (files_->Find(dw) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": missing tensor '", name, "' (or '", dw,
                                                   "'), needed for conv_taps > 0"));
  }
  const int64_t taps = config_.linear_attention.conv_taps;
  RETURN_IF_ERROR(BindOne(dir, dw, {config_.num_key_value_heads, 1, 2 * taps - 1, 1}, out));
  out->dwconv = true;
  return absl::OkStatus();
}

absl::Status ModelWeights::Bind(const std::string& dir) {
  const ModelConfig& c = config_;
  layer_entries_.assign(static_cast<size_t>(c.num_hidden_layers) * kNumLayerTensors, Entry{});
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    for (int ti = 0; ti < kNumLayerTensors; ++ti) {
      const auto t = static_cast<LayerTensor>(ti);
      if (!HasLayerTensor(t)) continue;
      Entry* e = &layer_entries_[l * kNumLayerTensors + ti];
      if (t == LayerTensor::kConv) {
        RETURN_IF_ERROR(BindConv(dir, l, e));
      } else {
        RETURN_IF_ERROR(BindOne(dir, LayerTensorName(l, t), LayerTensorShape(t), e));
      }
    }
  }
  RETURN_IF_ERROR(BindOne(dir, ModelTensorName(ModelTensor::kEmbed),
                          ModelTensorShape(ModelTensor::kEmbed), &embed_));
  RETURN_IF_ERROR(BindOne(dir, ModelTensorName(ModelTensor::kFinalNorm),
                          ModelTensorShape(ModelTensor::kFinalNorm), &final_norm_));
  if (c.tie_word_embeddings) {
    lm_head_ = embed_;
  } else {
    RETURN_IF_ERROR(BindOne(dir, ModelTensorName(ModelTensor::kLmHead),
                            ModelTensorShape(ModelTensor::kLmHead), &lm_head_));
  }
  return absl::OkStatus();
}

absl::Status ModelWeights::Copy(const Entry& e, int64_t elems, DType dtype, void* dst,
                                int64_t dst_bytes) const {
  if (!IsFloatWeightDType(dtype)) {
    return absl::InvalidArgumentError("weights can only be copied as F32, F16 or BF16");
  }
  if (e.info == nullptr) {
    return absl::InvalidArgumentError("tensor is not used by this model's config");
  }
  if (dst_bytes != elems * DTypeSize(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("destination of tensor '", e.info->name,
                                                   "' has ", dst_bytes, " bytes; needs ",
                                                   elems * DTypeSize(dtype)));
  }
  uint8_t* out = static_cast<uint8_t*>(dst);
  const DType src = e.info->dtype;
  if (!e.dwconv && src == dtype) {
    std::memcpy(out, e.info->data, static_cast<size_t>(dst_bytes));
    return absl::OkStatus();
  }
  if (!e.dwconv) {
    for (int64_t i = 0; i < elems; ++i)
      StoreFromF32(LoadAsF32(e.info->data, src, i), dtype, out, i);
    return absl::OkStatus();
  }
  const int64_t taps = config_.linear_attention.conv_taps, stored = 2 * taps - 1;
  for (int64_t h = 0; h < config_.num_key_value_heads; ++h) {
    for (int64_t j = 0; j < taps; ++j) {
      StoreFromF32(LoadAsF32(e.info->data, src, h * stored + j), dtype, out, h * taps + j);
    }
  }
  return absl::OkStatus();
}

absl::Status ModelWeights::CopyLayerTensor(int layer, LayerTensor t, DType dtype, void* dst,
                                           int64_t dst_bytes) const {
  if (layer < 0 || layer >= config_.num_hidden_layers) {
    return absl::InvalidArgumentError(absl::StrCat("layer ", layer, " out of range"));
  }
  return Copy(layer_entries_[layer * kNumLayerTensors + static_cast<int>(t)], LayerTensorElems(t),
              dtype, dst, dst_bytes);
}

absl::Status ModelWeights::CopyModelTensor(ModelTensor t, DType dtype, void* dst,
                                           int64_t dst_bytes) const {
  const Entry& e = t == ModelTensor::kEmbed       ? embed_
                   : t == ModelTensor::kFinalNorm ? final_norm_
                                                  : lm_head_;
  return Copy(e, ModelTensorElems(t), dtype, dst, dst_bytes);
}

std::vector<float> ModelWeights::LayerTensorF32(int layer, LayerTensor t) const {
  std::vector<float> v(static_cast<size_t>(LayerTensorElems(t)));
  if (!CopyLayerTensor(layer, t, DType::kF32, v.data(), static_cast<int64_t>(v.size()) * 4).ok()) {
    v.clear();
  }
  return v;
}

std::vector<float> ModelWeights::ModelTensorF32(ModelTensor t) const {
  std::vector<float> v(static_cast<size_t>(ModelTensorElems(t)));
  if (!CopyModelTensor(t, DType::kF32, v.data(), static_cast<int64_t>(v.size()) * 4).ok()) {
    v.clear();
  }
  return v;
}

int64_t ModelWeights::TotalBytes(DType dtype) const {
  int64_t elems = 0;
  for (int ti = 0; ti < kNumLayerTensors; ++ti) {
    const auto t = static_cast<LayerTensor>(ti);
    if (HasLayerTensor(t)) elems += LayerTensorElems(t) * config_.num_hidden_layers;
  }
  elems += ModelTensorElems(ModelTensor::kEmbed) + ModelTensorElems(ModelTensor::kFinalNorm);
  if (!config_.tie_word_embeddings) elems += ModelTensorElems(ModelTensor::kLmHead);
  return elems * DTypeSize(dtype);
}

}  // namespace linspec::engine
