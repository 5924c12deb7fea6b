// linspec-make-model: writes a linear_llama model directory with deterministic random
// weights (see random_model.h). Example:
//   linspec-make-model --out /tmp/m --hidden-size 256 --layers 4 --heads 4 --seed 7
#include <cstdio>
#include <map>
#include <string>

#include "CLI/CLI.hpp"
#include "tools/make_model/random_model.h"

namespace {

using linspec::engine::DType;
using linspec::engine::FeatureMap;
using linspec::tools::ModelVariant;
using linspec::tools::RandomModelOptions;

struct Flags {
  std::string out;
  std::string variant = "augmented";
  std::string feature_map = "l2norm";
  std::string dtype = "f32";
  std::string conv_form = "conv";
  int group_size = -1, conv_taps = -1, global_factor = -1;
};

void AddFlags(CLI::App& app, Flags& f, RandomModelOptions& o) {
  app.add_option("--out,-o", f.out, "output model directory (created)")->required();
  app.add_option("--hidden-size", o.hidden_size, "hidden size")->capture_default_str();
  app.add_option("--intermediate-size", o.intermediate_size, "MLP size")->capture_default_str();
  app.add_option("--layers", o.num_layers, "decoder layers")->capture_default_str();
  app.add_option("--heads", o.num_heads, "attention heads")->capture_default_str();
  app.add_option("--kv-heads", o.num_kv_heads, "KV heads (0: = heads)")->capture_default_str();
  app.add_option("--head-dim", o.head_dim, "head dim (0: hidden/heads)")->capture_default_str();
  app.add_option("--vocab-size", o.vocab_size, "vocabulary (>= 263 with tokenizer)")
      ->capture_default_str();
  app.add_option("--rms-norm-eps", o.rms_norm_eps)->capture_default_str();
  app.add_option("--rope-theta", o.rope_theta)->capture_default_str();
  app.add_option("--variant", f.variant, "augmented | plain")
      ->check(CLI::IsMember({"augmented", "plain"}))
      ->capture_default_str();
  app.add_option("--feature-map", f.feature_map, "l2norm | elu1 | relu | identity")
      ->check(CLI::IsMember({"l2norm", "elu1", "relu", "identity"}))
      ->capture_default_str();
  app.add_option("--normalize", o.normalize, "divide by phi(q).z (plain only)");
  app.add_option("--group-size", f.group_size, "local group size (default 16 augmented, 0 plain)");
  app.add_option("--conv-taps", f.conv_taps, "conv taps (augmented only; default 4)");
  app.add_option("--global-factor", f.global_factor, "0|1 (augmented only; default 1)");
  app.add_option("--rope", o.rope, "apply RoPE")->capture_default_str();
  app.add_option("--dtype", f.dtype, "f32 | bf16 | f16")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "weight seed")->capture_default_str();
  app.add_flag("--tie-embeddings", o.tie_word_embeddings, "tie lm_head to the embedding");
  app.add_option("--shards", o.num_shards, "safetensors shards")->capture_default_str();
  app.add_option("--conv-form", f.conv_form, "conv | dwconv (published [kv,1,2C-1,1])")
      ->check(CLI::IsMember({"conv", "dwconv"}))
      ->capture_default_str();
  app.add_flag("!--no-tokenizer", o.write_tokenizer, "do not write tokenizer.json");
}

void ApplyFlags(const Flags& f, RandomModelOptions& o) {
  o.variant = f.variant == "plain" ? ModelVariant::kPlain : ModelVariant::kAugmented;
  const std::map<std::string, FeatureMap> maps = {{"l2norm", FeatureMap::kL2Norm},
                                                  {"elu1", FeatureMap::kElu1},
                                                  {"relu", FeatureMap::kRelu},
                                                  {"identity", FeatureMap::kIdentity}};
  o.feature_map = maps.at(f.feature_map);
  o.dtype = f.dtype == "bf16" ? DType::kBF16 : f.dtype == "f16" ? DType::kF16 : DType::kF32;
  if (f.group_size >= 0) o.group_size = f.group_size;
  if (f.conv_taps >= 0) o.conv_taps = f.conv_taps;
  if (f.global_factor >= 0) o.global_factor = f.global_factor != 0;
  o.dwconv_form = f.conv_form == "dwconv";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes a linear_llama model directory with deterministic random weights."};
  Flags flags;
  RandomModelOptions options;
  AddFlags(app, flags, options);
  CLI11_PARSE(app, argc, argv);
  ApplyFlags(flags, options);
  absl::Status s = linspec::tools::WriteRandomModel(flags.out, options);
  if (!s.ok()) {
    std::fprintf(stderr, "linspec-make-model: %s\n", std::string(s.ToString()).c_str());
    return 1;
  }
  std::printf("wrote %s\n", flags.out.c_str());
  return 0;
}
