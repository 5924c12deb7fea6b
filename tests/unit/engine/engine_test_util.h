// Helpers of the CPU engine tests: random model variants, engine creation, logits checks.
#ifndef LINSPEC_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_
#define LINSPEC_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/test_util.h"
#include "tools/make_model/random_model.h"

namespace linspec::engine::testing {

using tools::ModelVariant;
using tools::RandomModelOptions;

struct Variant {
  std::string name;
  RandomModelOptions options;
};

inline void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

inline RandomModelOptions TinyOptions() {
  RandomModelOptions o;
  o.hidden_size = 48;
  o.intermediate_size = 64;
  o.num_layers = 2;
  o.num_heads = 4;
  o.num_kv_heads = 2;
  o.vocab_size = 300;
  o.group_size = 4;
  o.conv_taps = 3;
  return o;
}

// Every variant and knob the engine supports, on tiny shapes (head_dim 12 exercises the
// non-multiple-of-8 tails).
inline std::vector<Variant> AllVariants() {
  std::vector<Variant> v;
  auto add = [&](std::string name, auto edit) {
    RandomModelOptions o = TinyOptions();
    edit(o);
    v.push_back({std::move(name), o});
  };
  add("augmented", [](RandomModelOptions&) {});
  add("augmented_mha_elu1", [](RandomModelOptions& o) {
    o.num_kv_heads = 4;
    o.feature_map = FeatureMap::kElu1;
  });
  add("augmented_gqa1_relu_tied", [](RandomModelOptions& o) {
    o.num_kv_heads = 1;
    o.feature_map = FeatureMap::kRelu;
    o.tie_word_embeddings = true;
  });
  add("augmented_identity_norope_g3_c1", [](RandomModelOptions& o) {
    o.feature_map = FeatureMap::kIdentity;
    o.rope = false;
    o.group_size = 3;
    o.conv_taps = 1;
    o.global_factor = false;
  });
  add("augmented_noconv_g5", [](RandomModelOptions& o) {
    o.conv_taps = 0;
    o.group_size = 5;
  });
  add("plain_l2norm", [](RandomModelOptions& o) {
    o.variant = ModelVariant::kPlain;
    o.group_size.reset();
    o.conv_taps.reset();
  });
  add("plain_elu1_normalize", [](RandomModelOptions& o) {
    o.variant = ModelVariant::kPlain;
    o.group_size.reset();
    o.conv_taps.reset();
    o.feature_map = FeatureMap::kElu1;
    o.normalize = true;
  });
  add("plain_relu_normalize_gqa1", [](RandomModelOptions& o) {
    o.variant = ModelVariant::kPlain;
    o.group_size.reset();
    o.conv_taps.reset();
    o.feature_map = FeatureMap::kRelu;
    o.normalize = true;
    o.num_kv_heads = 1;
  });
  add("plain_identity", [](RandomModelOptions& o) {
    o.variant = ModelVariant::kPlain;
    o.group_size.reset();
    o.conv_taps.reset();
    o.feature_map = FeatureMap::kIdentity;
  });
  return v;
}

inline std::unique_ptr<Engine> MakeEngine(const std::string& dir, const RandomModelOptions& o,
                                          int num_slots, int max_draft) {
  absl::Status s = tools::WriteRandomModel(dir, o);
  EXPECT_TRUE(s.ok()) << s;
  EngineOptions eo;
  eo.model_dir = dir;
  eo.device = Device::kCpu;
  eo.num_slots = num_slots;
  eo.max_draft_tokens = max_draft;
  eo.num_threads = 2;
  auto e = CreateEngine(eo);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

inline ForwardResult Fwd(Engine& e, const std::vector<SeqChunk>& chunks) {
  ForwardResult r;
  absl::Status s = e.Forward(chunks, ForwardOptions{}, &r);
  EXPECT_TRUE(s.ok()) << s;
  return r;
}

inline std::vector<float> Row(const ForwardResult& r, int row) {
  return std::vector<float>(r.logits.begin() + static_cast<int64_t>(row) * r.vocab_size,
                            r.logits.begin() + static_cast<int64_t>(row + 1) * r.vocab_size);
}

// |a - b| <= rel * max|b| for every element (the row's scale is its largest logit).
inline ::testing::AssertionResult RowsClose(const std::vector<float>& a,
                                            const std::vector<float>& b, double rel) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "size mismatch";
  double scale = 1e-30, worst = 0;
  size_t at = 0;
  for (float x : b) scale = std::max(scale, std::fabs(static_cast<double>(x)));
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(diff <= worst)) {
      worst = diff;
      at = i;
    }
  }
  if (worst <= rel * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max diff " << worst << " at " << at << " (" << a[at]
                                       << " vs " << b[at] << "), scale " << scale;
}

template <typename T>
int Argmax(const std::vector<T>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

inline std::vector<TokenId> RandomTokens(std::mt19937_64& rng, int n, int vocab) {
  std::vector<TokenId> t(n);
  for (TokenId& x : t) x = static_cast<TokenId>(rng() % vocab);
  return t;
}

}  // namespace linspec::engine::testing

#endif  // LINSPEC_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_
