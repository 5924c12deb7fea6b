// The CPU engine against the fp32 PyTorch reference logits of the committed trained models
// (models/default, models/draft; tests/testdata/models/*_reference.json, written by
// tools/train/train.py). Pins the C++ conventions (RoPE, φ, groups, conv, γ, tied head) to
// the training code. Also checks that speculative verify reproduces the same logits.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace linspec::engine {
namespace {

std::string SourceDir() {
  const char* s = std::getenv("LINSPEC_SOURCE_DIR");
  return s != nullptr ? s : LINSPEC_TEST_SOURCE_DIR;
}

void CheckModel(const std::string& name) {
  const std::string ref_path = SourceDir() + "/tests/testdata/models/" + name + "_reference.json";
  std::ifstream in(ref_path);
  ASSERT_TRUE(in) << "missing " << ref_path;
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json ref = nlohmann::json::parse(ss.str());
  EngineOptions eo;
  eo.model_dir = SourceDir() + "/models/" + name;
  eo.device = Device::kCpu;
  eo.num_slots = 1;
  eo.max_draft_tokens = 4;
  auto engine = CreateEngine(eo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  Engine& e = **engine;
  const std::vector<int> ids = ref["vocab_ids"].get<std::vector<int>>();
  for (const nlohmann::json& seq : ref["sequences"]) {
    const std::vector<TokenId> tokens = seq["tokens"].get<std::vector<TokenId>>();
    const auto want = seq["logits"].get<std::vector<std::vector<double>>>();
    const auto want_argmax = seq["argmax"].get<std::vector<int>>();
    const auto want_lse = seq["logsumexp"].get<std::vector<double>>();
    ASSERT_TRUE(e.Release(0).ok());
    // Prefill all but the last 4 tokens, then verify those 4 speculatively.
    const size_t n = tokens.size(), pre = n > 4 ? n - 4 : 0;
    ForwardResult a, b;
    if (pre > 0) {
      ASSERT_TRUE(
          e.Forward({{0, absl::MakeConstSpan(tokens).subspan(0, pre), false, true}}, {}, &a).ok());
    }
    ASSERT_TRUE(
        e.Forward({{0, absl::MakeConstSpan(tokens).subspan(pre), true, true}}, {}, &b).ok());
    int argmax_mismatch = 0;
    for (size_t t = 0; t < n; ++t) {
      const ForwardResult& r = t < pre ? a : b;
      const float* row = &r.logits[(t < pre ? t : t - pre) * r.vocab_size];
      double mx = -1e30, sum = 0;
      for (int v = 0; v < r.vocab_size; ++v) mx = std::max(mx, double{row[v]});
      for (int v = 0; v < r.vocab_size; ++v) sum += std::exp(row[v] - mx);
      EXPECT_NEAR(mx + std::log(sum), want_lse[t], 5e-4) << name << " position " << t;
      for (size_t i = 0; i < ids.size(); ++i) {
        ASSERT_NEAR(row[ids[i]], want[t][i], 5e-4 * std::max(1.0, std::fabs(want[t][i])))
            << name << " position " << t << " id " << ids[i];
      }
      const int got = (t < pre ? a : b).argmax[t < pre ? t : t - pre];
      if (got != want_argmax[t]) {  // only a near-tie may flip
        ++argmax_mismatch;
        EXPECT_NEAR(row[got], row[want_argmax[t]], 1e-3) << name << " position " << t;
      }
    }
    EXPECT_LE(argmax_mismatch, 1);
  }
}

TEST(TrainedModelTest, DefaultMatchesPyTorch) { CheckModel("default"); }
TEST(TrainedModelTest, DraftMatchesPyTorch) { CheckModel("draft"); }

}  // namespace
}  // namespace linspec::engine
