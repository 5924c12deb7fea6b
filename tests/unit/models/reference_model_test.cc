// The committed reference pair (models/default, models/draft) against the PyTorch model that
// trained it (tests/testdata/models/*_reference.json, written by tools/train/train.py):
//  * the C++ tokenizer gives the Hugging Face ids and decodes back to the text;
//  * CPU-engine logits are within 1e-3 relative (L2 over the stored vocabulary ids, per
//    position) of the fp32 PyTorch logits, whatever the prefill chunking (random, seeded);
//  * tools/eval perplexity (slots, chunks) equals the NLL of one plain forward;
//  * greedy speculative decoding with the trained draft emits exactly the target's greedy
//    tokens for every k (DESIGN.md §3 invariant on real weights).
// Seed: LINSPEC_SEED or std::random_device, printed.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/eval/perplexity.h"
#include "tools/eval/speculative.h"

namespace linspec::tools {
namespace {

using engine::TokenId;

std::string SourceDir() {
  const char* s = std::getenv("LINSPEC_SOURCE_DIR");
  return s != nullptr ? s : LINSPEC_TEST_SOURCE_DIR;
}

uint32_t Seed() {
  static const uint32_t seed = [] {
    const char* s = std::getenv("LINSPEC_SEED");
    const uint32_t v =
        s != nullptr ? static_cast<uint32_t>(std::strtoul(s, nullptr, 10)) : std::random_device{}();
    std::printf("LINSPEC_SEED=%u\n", v);
    return v;
  }();
  return seed;
}

nlohmann::json LoadReference(const std::string& name) {
  std::ifstream in(SourceDir() + "/tests/testdata/models/" + name + "_reference.json");
  EXPECT_TRUE(in) << "missing reference for " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::unique_ptr<engine::Engine> MakeEngine(const std::string& name, int slots) {
  engine::EngineOptions o;
  o.model_dir = SourceDir() + "/models/" + name;
  o.device = engine::Device::kCpu;
  o.num_slots = slots;
  o.max_draft_tokens = 8;
  o.num_threads = 1;  // the test machine is shared; one thread keeps wall time predictable
  auto e = engine::CreateEngine(o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

class ReferenceModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceModelTest, TokenizerMatchesHuggingFace) {
  const nlohmann::json ref = LoadReference(GetParam());
  auto tok = engine::LoadTokenizer(SourceDir() + "/models/" + GetParam());
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const nlohmann::json& t : ref["tokenization"]) {
    const std::string text = t["text"].get<std::string>();
    engine::EncodeOptions plain;
    plain.add_special_tokens = false;
    auto ids = (*tok)->Encode(text, plain);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, t["ids"].get<std::vector<TokenId>>()) << text;
    auto with_bos = (*tok)->Encode(text, engine::EncodeOptions{});
    ASSERT_TRUE(with_bos.ok());
    EXPECT_EQ(*with_bos, t["ids_with_special"].get<std::vector<TokenId>>()) << text;
    auto back = (*tok)->Decode(*ids, /*skip_special_tokens=*/true);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, text);
  }
}

TEST_P(ReferenceModelTest, LogitsMatchPyTorchUnderRandomChunking) {
  const nlohmann::json ref = LoadReference(GetParam());
  auto eng = MakeEngine(GetParam(), 1);
  ASSERT_NE(eng, nullptr);
  std::mt19937 rng(Seed());
  const auto ids = ref["vocab_ids"].get<std::vector<int>>();
  double worst = 0.0;
  for (const nlohmann::json& seq : ref["sequences"]) {
    const auto tokens = seq["tokens"].get<std::vector<TokenId>>();
    const auto want = seq["logits"].get<std::vector<std::vector<double>>>();
    const auto lse = seq["logsumexp"].get<std::vector<double>>();
    ASSERT_TRUE(eng->Release(0).ok());
    for (size_t pos = 0; pos < tokens.size();) {
      const size_t n = std::min<size_t>(tokens.size() - pos, 1 + rng() % 80);
      engine::SeqChunk c{0, absl::MakeConstSpan(tokens).subspan(pos, n), false, true};
      engine::ForwardResult r;
      ASSERT_TRUE(eng->Forward({c}, {}, &r).ok());
      for (size_t j = 0; j < n; ++j) {
        const float* row = &r.logits[j * r.vocab_size];
        double num = 0.0, den = 0.0;
        for (size_t i = 0; i < ids.size(); ++i) {
          num += std::pow(row[ids[i]] - want[pos + j][i], 2);
          den += std::pow(want[pos + j][i], 2);
        }
        const double rel = std::sqrt(num / den);
        worst = std::max(worst, rel);
        EXPECT_LT(rel, 1e-3) << GetParam() << " position " << pos + j;
        double mx = row[0], sum = 0.0;
        for (int v = 1; v < r.vocab_size; ++v) mx = std::max(mx, double{row[v]});
        for (int v = 0; v < r.vocab_size; ++v) sum += std::exp(row[v] - mx);
        EXPECT_NEAR(mx + std::log(sum), lse[pos + j], 1e-3 * std::fabs(lse[pos + j]));
      }
      pos += n;
    }
  }
  std::printf("%s: worst relative L2 error %.3g\n", GetParam().c_str(), worst);
}

TEST_P(ReferenceModelTest, EvalPerplexityEqualsOneShotNll) {
  const nlohmann::json ref = LoadReference(GetParam());
  const auto doc = ref["sequences"][0]["tokens"].get<std::vector<TokenId>>();
  // Three documents of different lengths (drop the leading BOS; ComputePerplexity adds it).
  std::vector<std::vector<TokenId>> docs = {{doc.begin() + 1, doc.end()},
                                            {doc.begin() + 1, doc.begin() + 70},
                                            {doc.begin() + 50, doc.begin() + 120}};
  auto one = MakeEngine(GetParam(), 1);
  ASSERT_NE(one, nullptr);
  double nll = 0.0;
  int64_t count = 0;
  for (const auto& d : docs) {
    std::vector<TokenId> seq = {one->config().bos_token_id};
    seq.insert(seq.end(), d.begin(), d.end());
    seq.push_back(one->config().eos_token_ids[0]);
    ASSERT_TRUE(one->Release(0).ok());
    engine::ForwardResult r;
    engine::SeqChunk c{0, absl::MakeConstSpan(seq).subspan(0, seq.size() - 1), false, true};
    ASSERT_TRUE(one->Forward({c}, {}, &r).ok());
    for (size_t t = 0; t + 1 < seq.size(); ++t) {
      nll += TokenNll(&r.logits[t * r.vocab_size], r.vocab_size, seq[t + 1]);
      ++count;
    }
  }
  auto multi = MakeEngine(GetParam(), 2);
  ASSERT_NE(multi, nullptr);
  PerplexityOptions po;
  po.chunk_tokens = 1 + static_cast<int>(Seed() % 63);
  po.batch_tokens = po.chunk_tokens + 17;
  auto res = ComputePerplexity(*multi, docs, po);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->num_docs, 3);
  EXPECT_EQ(res->num_tokens, count);
  EXPECT_NEAR(res->total_nll, nll, 1e-6 * nll) << "chunk " << po.chunk_tokens;
}

INSTANTIATE_TEST_SUITE_P(Models, ReferenceModelTest, ::testing::Values("default", "draft"));

TEST(ReferencePairTest, GreedySpeculationEmitsTargetGreedyTokens) {
  const nlohmann::json ref = LoadReference("default");
  const auto doc = ref["sequences"][0]["tokens"].get<std::vector<TokenId>>();
  std::mt19937 rng(Seed());
  std::vector<std::vector<TokenId>> prompts;
  for (int i = 0; i < 3; ++i) {
    const size_t start = 1 + rng() % 100, len = 1 + rng() % 40;
    std::vector<TokenId> p = {doc[0]};
    p.insert(p.end(), doc.begin() + start, doc.begin() + start + len);
    prompts.push_back(p);
  }
  auto target = MakeEngine("default", 3);
  auto draft = MakeEngine("draft", 3);
  ASSERT_NE(target, nullptr);
  ASSERT_NE(draft, nullptr);
  SpeculativeOptions o;
  o.max_new_tokens = 24;
  o.stop_at_eos = false;
  o.k = 0;
  auto base = RunSpeculative(*target, nullptr, prompts, o);
  ASSERT_TRUE(base.ok()) << base.status();
  for (int k : {1, 1 + static_cast<int>(rng() % 7), 8}) {
    o.k = k;
    auto spec = RunSpeculative(*target, draft.get(), prompts, o);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_EQ(spec->outputs, base->outputs) << "k=" << k;
    EXPECT_GT(spec->accepted, 0) << "a trained draft agrees with its target sometimes";
    EXPECT_LT(spec->steps, base->steps) << "k=" << k;
  }
}

}  // namespace
}  // namespace linspec::tools
