// config.json parsing for the linear_llama family (DESIGN.md §2).
#include "engine/model_config.h"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace linspec::engine {
namespace {

using nlohmann::json;

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("config.json: field '", field, "' ", what));
}

// Reads an integer field. Absent (or null): *out keeps its value unless required.
absl::Status ReadInt(const json& obj, const std::string& prefix, const char* name, bool required,
                     int* out) {
  const std::string field = prefix + name;
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (required) return FieldError(field, "is required");
    return absl::OkStatus();
  }
  if (!it->is_number_integer()) return FieldError(field, "must be an integer");
  const int64_t v = it->get<int64_t>();
  if (v < INT32_MIN || v > INT32_MAX) return FieldError(field, "is out of range");
  *out = static_cast<int>(v);
  return absl::OkStatus();
}

absl::Status ReadFloat(const json& obj, const char* name, float* out) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number()) return FieldError(name, "must be a number");
  *out = it->get<float>();
  return absl::OkStatus();
}

absl::Status ReadBool(const json& obj, const std::string& prefix, const char* name, bool* out) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) return FieldError(prefix + name, "must be true or false");
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadEos(const json& obj, std::vector<int>* out) {
  out->clear();
  auto it = obj.find("eos_token_id");
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (it->is_number_integer()) {
    out->push_back(it->get<int>());
    return absl::OkStatus();
  }
  if (!it->is_array()) return FieldError("eos_token_id", "must be an integer or a list");
  for (const json& e : *it) {
    if (!e.is_number_integer()) return FieldError("eos_token_id", "list must hold integers");
    out->push_back(e.get<int>());
  }
  return absl::OkStatus();
}

absl::StatusOr<FeatureMap> ParseFeatureMap(const std::string& s) {
  if (s == "l2norm") return FeatureMap::kL2Norm;
  if (s == "elu1") return FeatureMap::kElu1;
  if (s == "relu") return FeatureMap::kRelu;
  if (s == "identity") return FeatureMap::kIdentity;
  return FieldError(
      "linear_attention.feature_map",
      absl::StrCat("has unknown value '", s, "' (expected l2norm, elu1, relu or identity)"));
}

absl::Status ParseLinearAttention(const json& root, LinearAttentionConfig* la) {
  auto it = root.find("linear_attention");
  if (it == root.end() || !it->is_object()) {
    return FieldError("linear_attention", "is required and must be an object");
  }
  const json& o = *it;
  const std::string p = "linear_attention.";
  if (auto f = o.find("feature_map"); f != o.end()) {
    if (!f->is_string()) return FieldError(p + "feature_map", "must be a string");
    auto fm = ParseFeatureMap(f->get<std::string>());
    if (!fm.ok()) return fm.status();
    la->feature_map = *fm;
  }
  if (auto f = o.find("local_weight"); f != o.end()) {
    if (!f->is_string() || f->get<std::string>() != "relu2") {
      return FieldError(p + "local_weight",
                        absl::StrCat("has unknown value ", f->dump(), " (expected \"relu2\")"));
    }
    la->local_weight = LocalWeight::kRelu2;
  }
  if (absl::Status s = ReadBool(o, p, "normalize", &la->normalize); !s.ok()) return s;
  if (absl::Status s = ReadInt(o, p, "group_size", false, &la->group_size); !s.ok()) return s;
  if (absl::Status s = ReadInt(o, p, "conv_taps", false, &la->conv_taps); !s.ok()) return s;
  if (absl::Status s = ReadBool(o, p, "global_factor", &la->global_factor); !s.ok()) return s;
  if (absl::Status s = ReadBool(o, p, "rope", &la->rope); !s.ok()) return s;
  if (la->group_size < 0) return FieldError(p + "group_size", "must be >= 0");
  if (la->conv_taps < 0) return FieldError(p + "conv_taps", "must be >= 0");
  if (la->normalize && la->group_size > 0) {
    return FieldError(p + "normalize", "is only supported with group_size 0 (plain variant)");
  }
  if (la->group_size == 0) {  // the plain variant has neither (model_config.h)
    la->conv_taps = 0;
    la->global_factor = false;
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(int v, const char* field) {
  if (v <= 0) return FieldError(field, "must be > 0");
  return absl::OkStatus();
}

absl::Status Validate(ModelConfig* c) {
  for (auto [v, name] : {std::pair{c->hidden_size, "hidden_size"},
                         {c->intermediate_size, "intermediate_size"},
                         {c->num_hidden_layers, "num_hidden_layers"},
                         {c->num_attention_heads, "num_attention_heads"},
                         {c->vocab_size, "vocab_size"}}) {
    if (absl::Status s = CheckPositive(v, name); !s.ok()) return s;
  }
  if (c->num_key_value_heads == 0) c->num_key_value_heads = c->num_attention_heads;
  if (c->num_key_value_heads < 0 || c->num_attention_heads % c->num_key_value_heads != 0) {
    return FieldError("num_key_value_heads", "must divide num_attention_heads");
  }
  if (c->head_dim == 0) {
    if (c->hidden_size % c->num_attention_heads != 0) {
      return FieldError("hidden_size", "must be divisible by num_attention_heads");
    }
    c->head_dim = c->hidden_size / c->num_attention_heads;
  }
  if (c->head_dim < 0) return FieldError("head_dim", "must be > 0");
  if (c->linear_attention.rope && c->head_dim % 2 != 0) {
    return FieldError("head_dim", "must be even when linear_attention.rope is true");
  }
  if (!(c->rms_norm_eps > 0.0f)) return FieldError("rms_norm_eps", "must be > 0");
  if (!(c->rope_theta > 0.0f)) return FieldError("rope_theta", "must be > 0");
  if (c->bos_token_id < -1 || c->bos_token_id >= c->vocab_size) {
    return FieldError("bos_token_id", "must be in [0, vocab_size)");
  }
  for (int e : c->eos_token_ids) {
    if (e < 0 || e >= c->vocab_size)
      return FieldError("eos_token_id", "must be in [0, vocab_size)");
  }
  return absl::OkStatus();
}

absl::Status ParseTopLevel(const json& root, ModelConfig* c) {
  auto mt = root.find("model_type");
  if (mt == root.end() || !mt->is_string() || mt->get<std::string>() != "linear_llama") {
    return FieldError("model_type", "must be \"linear_llama\"");
  }
  struct IntField {
    const char* name;
    int* out;
    bool required;
  };
  const IntField ints[] = {{"hidden_size", &c->hidden_size, true},
                           {"intermediate_size", &c->intermediate_size, true},
                           {"num_hidden_layers", &c->num_hidden_layers, true},
                           {"num_attention_heads", &c->num_attention_heads, true},
                           {"num_key_value_heads", &c->num_key_value_heads, false},
                           {"head_dim", &c->head_dim, false},
                           {"vocab_size", &c->vocab_size, true},
                           {"max_position_embeddings", &c->max_position_embeddings, false}};
  for (const IntField& f : ints) {
    if (absl::Status s = ReadInt(root, "", f.name, f.required, f.out); !s.ok()) return s;
  }
  if (auto it = root.find("head_dim"); it != root.end() && !it->is_null() && c->head_dim <= 0) {
    return FieldError("head_dim", "must be > 0");
  }
  if (auto it = root.find("num_key_value_heads");
      it != root.end() && !it->is_null() && c->num_key_value_heads <= 0) {
    return FieldError("num_key_value_heads", "must be > 0");
  }
  if (absl::Status s = ReadFloat(root, "rms_norm_eps", &c->rms_norm_eps); !s.ok()) return s;
  if (absl::Status s = ReadFloat(root, "rope_theta", &c->rope_theta); !s.ok()) return s;
  if (absl::Status s = ReadBool(root, "", "tie_word_embeddings", &c->tie_word_embeddings);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadInt(root, "", "bos_token_id", false, &c->bos_token_id); !s.ok()) {
    return s;
  }
  return ReadEos(root, &c->eos_token_ids);
}

// The shortest decimal that round-trips the float (1e-05, not 9.999999747378752e-06).
double ShortFloat(float f) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf) - 1, f);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: invalid JSON: ", e.what()));
  }
  if (!root.is_object()) return absl::InvalidArgumentError("config.json: not a JSON object");
  ModelConfig c;
  try {
    if (absl::Status s = ParseTopLevel(root, &c); !s.ok()) return s;
    if (absl::Status s = ParseLinearAttention(root, &c.linear_attention); !s.ok()) return s;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: ", e.what()));
  }
  if (absl::Status s = Validate(&c); !s.ok()) return s;
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<ModelConfig> c = ParseModelConfig(ss.str());
  if (!c.ok()) {
    return absl::Status(c.status().code(), absl::StrCat(path, ": ", c.status().message()));
  }
  return c;
}

std::string ModelConfigToJson(const ModelConfig& c) {
  json j;
  j["architectures"] = json::array({"LinearLlamaForCausalLM"});
  j["model_type"] = c.model_type;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  if (c.num_key_value_heads > 0) j["num_key_value_heads"] = c.num_key_value_heads;
  if (c.head_dim > 0) j["head_dim"] = c.head_dim;
  j["rms_norm_eps"] = ShortFloat(c.rms_norm_eps);
  j["rope_theta"] = ShortFloat(c.rope_theta);
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["hidden_act"] = "silu";
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else if (!c.eos_token_ids.empty()) {
    j["eos_token_id"] = c.eos_token_ids;
  }
  if (c.max_position_embeddings > 0) j["max_position_embeddings"] = c.max_position_embeddings;
  const LinearAttentionConfig& la = c.linear_attention;
  j["linear_attention"] = {{"feature_map", FeatureMapName(la.feature_map)},
                           {"normalize", la.normalize},
                           {"group_size", la.group_size},
                           {"local_weight", "relu2"},
                           {"conv_taps", la.conv_taps},
                           {"global_factor", la.global_factor},
                           {"rope", la.rope}};
  j["torch_dtype"] = "float32";
  return j.dump(2) + "\n";
}

const char* FeatureMapName(FeatureMap f) {
  switch (f) {
    case FeatureMap::kL2Norm:
      return "l2norm";
    case FeatureMap::kElu1:
      return "elu1";
    case FeatureMap::kRelu:
      return "relu";
    case FeatureMap::kIdentity:
      return "identity";
  }
  return "unknown";
}

}  // namespace linspec::engine
