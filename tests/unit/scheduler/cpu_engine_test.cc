// The scheduler over the real fp32 CPU engine with random-weight models: greedy speculative
// decoding (draft model, n-gram, random drafter) emits exactly the tokens of plain
// sequential decoding, and every slot is free afterwards.
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "scheduler/batch_scheduler.h"
#include "tests/unit/scheduler/test_util.h"
#include "tools/make_model/random_model.h"

namespace linspec::testing {
namespace {

constexpr int kVocab = 320;

class CpuEngineScheduler : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string((std::filesystem::temp_directory_path() /
                            ("linspec_sched_cpu_" + std::to_string(::getpid())))
                               .string());
    tools::RandomModelOptions t;
    t.vocab_size = kVocab;
    t.seed = 1;
    ASSERT_TRUE(tools::WriteRandomModel(*dir_ + "/target", t).ok());
    tools::RandomModelOptions d = t;
    d.hidden_size = 32;
    d.intermediate_size = 64;
    d.num_layers = 1;
    d.num_heads = 2;
    d.seed = 2;
    ASSERT_TRUE(tools::WriteRandomModel(*dir_ + "/draft", d).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  static std::unique_ptr<engine::Engine> MakeEngine(const std::string& name, int slots) {
    engine::EngineOptions o;
    o.model_dir = *dir_ + "/" + name;
    o.device = engine::Device::kCpu;
    o.num_slots = slots;
    o.max_draft_tokens = 8;
    o.num_threads = 1;
    auto e = engine::CreateEngine(o);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }

  // Plain sequential greedy decoding, one token per Forward, one sequence at a time.
  static std::vector<engine::TokenId> Plain(engine::Engine* e,
                                            const std::vector<engine::TokenId>& prompt,
                                            int max_tokens) {
    EXPECT_TRUE(e->Release(0).ok());
    engine::ForwardResult r;
    engine::SeqChunk c;
    c.slot = 0;
    c.tokens = prompt;
    engine::ForwardOptions fo;
    fo.want_logits = false;
    EXPECT_TRUE(e->Forward({&c, 1}, fo, &r).ok());
    std::vector<engine::TokenId> out = {r.argmax[0]};
    while (static_cast<int>(out.size()) < max_tokens) {
      c.tokens = absl::MakeConstSpan(&out.back(), 1);
      EXPECT_TRUE(e->Forward({&c, 1}, fo, &r).ok());
      out.push_back(r.argmax[0]);
    }
    EXPECT_TRUE(e->Release(0).ok());
    return out;
  }

  static std::string* dir_;
};
std::string* CpuEngineScheduler::dir_ = nullptr;

TEST_F(CpuEngineScheduler, GreedySpeculativeEqualsPlainDecoding) {
  std::mt19937_64 rng(TestSeed("cpu_engine"));
  auto reference_engine = MakeEngine("target", 1);
  ASSERT_NE(reference_engine, nullptr);
  auto tokenizer = engine::LoadTokenizer(*dir_ + "/target");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  for (int mode = 0; mode < 3; ++mode) {
    const int slots = 2 + rng() % 3;
    auto target = MakeEngine("target", slots);
    auto draft = MakeEngine("draft", slots);
    ASSERT_NE(target, nullptr);
    ASSERT_NE(draft, nullptr);
    scheduler::SchedulerOptions o;
    o.num_draft_tokens = 1 + rng() % 8;
    o.adaptive_draft = false;
    o.prefill_token_budget = 8 + rng() % 32;
    absl::StatusOr<std::unique_ptr<scheduler::Scheduler>> s;
    if (mode == 2) {
      s = scheduler::CreateSchedulerWithDrafter(o, target.get(), nullptr, tokenizer->get(), nullptr,
                                                std::make_unique<RandomDrafter>(kVocab, rng()));
    } else {
      o.drafter = mode == 0 ? scheduler::DrafterKind::kDraftModel : scheduler::DrafterKind::kNgram;
      s = scheduler::Scheduler::Create(o, target.get(), draft.get(), tokenizer->get(), nullptr);
    }
    ASSERT_TRUE(s.ok()) << s.status();
    const int n = 6;
    std::vector<scheduler::GenerateRequest> reqs(n);
    std::vector<std::shared_ptr<CollectSink>> sinks(n);
    for (int i = 0; i < n; ++i) {
      sinks[i] = std::make_shared<CollectSink>();
      std::uniform_int_distribution<int> tok(2, kVocab - 1);
      reqs[i].prompt.resize(1 + rng() % 40);
      for (auto& t : reqs[i].prompt) t = tok(rng);
      // Repeat the prompt's tail so that n-gram lookup proposes something.
      reqs[i].prompt.insert(reqs[i].prompt.end(), reqs[i].prompt.begin(),
                            reqs[i].prompt.begin() + std::min<size_t>(4, reqs[i].prompt.size()));
      reqs[i].sampling.temperature = 0;
      reqs[i].sampling.max_tokens = 4 + rng() % 20;
      reqs[i].sampling.ignore_eos = true;
      reqs[i].sink = sinks[i];
    }
    for (int i = 0; i < n; ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
      ASSERT_TRUE((*s)->Submit(reqs[i]).ok());
    }
    int drafted = 0;
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(sinks[i]->Wait(60));
      EXPECT_EQ(sinks[i]->tokens(),
                Plain(reference_engine.get(), reqs[i].prompt, reqs[i].sampling.max_tokens))
          << "mode " << mode << " request " << i;
      drafted += sinks[i]->result().usage.draft_tokens;
    }
    if (mode != 1) {
      EXPECT_GT(drafted, 0);
    }
    (*s)->Drain(10);
    EXPECT_EQ((*s)->Stats().slots_used, 0);
    for (int slot = 0; slot < slots; ++slot) {
      EXPECT_EQ(target->position(slot), 0);
      EXPECT_EQ(draft->position(slot), 0);
    }
  }
}

}  // namespace
}  // namespace linspec::testing
