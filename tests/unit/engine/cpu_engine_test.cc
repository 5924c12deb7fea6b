// CPU engine: float64 reference parity, verify == sequential steps, exact rollback, batch
// invariance, chunked prefill, slot release and API errors. All randomized (seeds printed).
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/weights.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/engine_test_util.h"
#include "tests/unit/engine/reference_model.h"

namespace linspec::engine::testing {
namespace {

class CpuEngineTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    seed_ = TestSeed(GetParam().name.c_str());
    rng_.seed(seed_);
    options_ = GetParam().options;
    options_.seed = seed_;
  }
  std::unique_ptr<Engine> Make(int slots, int max_draft) {
    return MakeEngine(dir_.path(), options_, slots, max_draft);
  }
  int G() const { return options_.group_size.value_or(0); }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  RandomModelOptions options_;
  TempDir dir_;
};

// Chunked prefill with all_logits against the float64 reference.
TEST_P(CpuEngineTest, MatchesFloat64Reference) {
  auto e = Make(1, 4);
  ASSERT_NE(e, nullptr);
  const int n = 23;
  std::vector<TokenId> toks = RandomTokens(rng_, n, e->config().vocab_size);
  auto w = ModelWeights::Open(dir_.path(), e->config());
  ASSERT_TRUE(w.ok()) << w.status();
  const Mat ref = ReferenceLogits(**w, std::vector<int>(toks.begin(), toks.end()));
  int done = 0;
  while (done < n) {
    const int len = std::min<int>(n - done, 1 + static_cast<int>(rng_() % 7));
    SeqChunk c{0, absl::MakeConstSpan(toks).subspan(done, len), false, true};
    ForwardResult r = Fwd(*e, {c});
    ASSERT_EQ(r.num_rows, len);
    for (int i = 0; i < len; ++i) {
      std::vector<float> want(ref[done + i].begin(), ref[done + i].end());
      EXPECT_TRUE(RowsClose(Row(r, i), want, 2e-4)) << "position " << done + i;
      EXPECT_EQ(r.argmax[i], Argmax(want)) << "position " << done + i;
    }
    done += len;
  }
  EXPECT_EQ(e->position(0), n);
}

// Verify(T) on slot 0 == T committed single-token steps on slot 1, for chunks inside a
// group, ending at a boundary and crossing one or two boundaries; then, after Commit(T),
// both slots continue identically. Pending tokens arrive in one call or one by one.
TEST_P(CpuEngineTest, VerifyEqualsSequentialSteps) {
  const int max_draft = 8;
  auto e = Make(2, max_draft);
  ASSERT_NE(e, nullptr);
  const int g = std::max(G(), 4);
  struct Case {
    int prefix, t;
  };
  std::vector<Case> cases = {{g + 1, 2},         {g + 1, g - 1},     {g + 2, g},
                             {2 * g - 1, g + 2}, {0, max_draft + 1}, {g, 1}};
  for (int i = 0; i < 6; ++i) {
    cases.push_back({static_cast<int>(rng_() % (3 * g)), 1 + static_cast<int>(rng_() % 9)});
  }
  const int vocab = e->config().vocab_size;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "prefix " << c.prefix << " T " << c.t);
    ASSERT_TRUE(e->Release(0).ok());
    ASSERT_TRUE(e->Release(1).ok());
    const std::vector<TokenId> prefix = RandomTokens(rng_, c.prefix, vocab);
    const std::vector<TokenId> draft = RandomTokens(rng_, c.t, vocab);
    if (c.prefix > 0) Fwd(*e, {{0, prefix, false, false}, {1, prefix, false, false}});
    std::vector<std::vector<float>> spec;
    if (rng_() % 2 == 0) {
      ForwardResult r = Fwd(*e, {{0, draft, true, true}});
      for (int i = 0; i < c.t; ++i) spec.push_back(Row(r, i));
    } else {
      for (int i = 0; i < c.t; ++i) {
        spec.push_back(
            Row(Fwd(*e, {{0, absl::MakeConstSpan(draft).subspan(i, 1), true, false}}), 0));
      }
    }
    EXPECT_EQ(e->pending(0), c.t);
    EXPECT_EQ(e->position(0), c.prefix);
    for (int i = 0; i < c.t; ++i) {
      ForwardResult r = Fwd(*e, {{1, absl::MakeConstSpan(draft).subspan(i, 1), false, false}});
      EXPECT_TRUE(RowsClose(spec[i], Row(r, 0), 1e-5)) << "token " << i;
      EXPECT_EQ(Argmax(spec[i]), r.argmax[0]) << "token " << i;
    }
    ASSERT_TRUE(e->Commit(0, c.t).ok());
    EXPECT_EQ(e->position(0), c.prefix + c.t);
    const std::vector<TokenId> next = RandomTokens(rng_, 1 + rng_() % 3, vocab);
    ForwardResult r = Fwd(*e, {{0, next, false, true}, {1, next, false, true}});
    for (size_t i = 0; i < next.size(); ++i) {
      EXPECT_TRUE(RowsClose(Row(r, i), Row(r, next.size() + i), 1e-5)) << "after commit " << i;
    }
  }
}

// Random drafts and acceptance counts over hundreds of rounds: the speculative slot's
// logits equal plain sequential decoding of the committed tokens (greedy tokens identical).
TEST_P(CpuEngineTest, RollbackPropertyMatchesSequentialDecoding) {
  const int max_draft = 6;
  auto e = Make(2, max_draft);
  ASSERT_NE(e, nullptr);
  const int vocab = e->config().vocab_size;
  const std::vector<TokenId> prompt = RandomTokens(rng_, 1 + rng_() % 9, vocab);
  ForwardResult r = Fwd(*e, {{0, prompt, false, false}, {1, prompt, false, false}});
  TokenId last = r.argmax[0];
  ASSERT_EQ(last, r.argmax[1]);
  const int rounds = 150;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const int k = static_cast<int>(rng_() % (max_draft + 1));
    std::vector<TokenId> chunk = {last};
    for (TokenId t : RandomTokens(rng_, k, vocab)) chunk.push_back(t);
    // Verify [last, d1..dk]; sometimes the pending area is filled in two calls.
    std::vector<std::vector<float>> rows;
    const int split = rng_() % 3 == 0 ? static_cast<int>(rng_() % chunk.size()) : 0;
    for (auto part : {absl::MakeConstSpan(chunk).subspan(0, split),
                      absl::MakeConstSpan(chunk).subspan(split)}) {
      if (part.empty()) continue;
      ForwardResult v = Fwd(*e, {{0, part, true, true}});
      for (int i = 0; i < v.num_rows; ++i) rows.push_back(Row(v, i));
    }
    const int accepted = static_cast<int>(rng_() % (k + 1));
    ASSERT_TRUE(e->Commit(0, accepted + 1).ok());
    ASSERT_EQ(e->pending(0), 0);
    for (int i = 0; i <= accepted; ++i) {
      ForwardResult s = Fwd(*e, {{1, absl::MakeConstSpan(chunk).subspan(i, 1), false, false}});
      ASSERT_TRUE(RowsClose(rows[i], Row(s, 0), 1e-5)) << "row " << i;
      ASSERT_EQ(Argmax(rows[i]), s.argmax[0]) << "row " << i;
    }
    last = static_cast<TokenId>(Argmax(rows[accepted]));
    ASSERT_EQ(e->position(0), e->position(1));
  }
}

// A sequence's logits do not depend on the other sequences of the batch or on its slot.
TEST_P(CpuEngineTest, BatchInvariance) {
  auto e = Make(6, 5);
  ASSERT_NE(e, nullptr);
  const int vocab = e->config().vocab_size;
  const int nseq = 4;
  std::vector<std::vector<TokenId>> prompts, drafts;
  for (int s = 0; s < nseq; ++s) {
    prompts.push_back(RandomTokens(rng_, 1 + rng_() % 12, vocab));
    drafts.push_back(RandomTokens(rng_, 1 + rng_() % 6, vocab));
  }
  // Alone, in slot 5.
  std::vector<std::vector<float>> alone;
  for (int s = 0; s < nseq; ++s) {
    ASSERT_TRUE(e->Release(5).ok());
    Fwd(*e, {{5, prompts[s], false, false}});
    ForwardResult r = Fwd(*e, {{5, drafts[s], true, true}});
    for (int i = 0; i < r.num_rows; ++i) alone.push_back(Row(r, i));
  }
  // Together: prefill of some + verify of others in one batch, permuted slots.
  std::vector<int> slot_of = {3, 0, 4, 1};
  std::shuffle(slot_of.begin(), slot_of.end(), rng_);
  std::vector<SeqChunk> prefill;
  for (int s = 0; s < nseq; ++s) prefill.push_back({slot_of[s], prompts[s], false, false});
  Fwd(*e, {prefill[2], prefill[0]});
  ForwardResult mixed = Fwd(*e, {prefill[1],
                                 {slot_of[0], drafts[0], true, true},
                                 prefill[3],
                                 {slot_of[2], drafts[2], true, true}});
  ForwardResult rest =
      Fwd(*e, {{slot_of[3], drafts[3], true, true}, {slot_of[1], drafts[1], true, true}});
  size_t base = 0;
  std::vector<size_t> first(nseq);
  for (int s = 0; s < nseq; ++s) {
    first[s] = base;
    base += drafts[s].size();
  }
  auto check = [&](const ForwardResult& r, int chunk, int s) {
    for (size_t i = 0; i < drafts[s].size(); ++i) {
      EXPECT_TRUE(RowsClose(Row(r, r.row_offset[chunk] + i), alone[first[s] + i], 1e-5))
          << "seq " << s << " row " << i;
      EXPECT_EQ(r.argmax[r.row_offset[chunk] + i], Argmax(alone[first[s] + i]));
    }
  };
  check(mixed, 1, 0);
  check(mixed, 3, 2);
  check(rest, 0, 3);
  check(rest, 1, 1);
}

TEST_P(CpuEngineTest, ReleaseResetsSlot) {
  auto e = Make(2, 3);
  ASSERT_NE(e, nullptr);
  const std::vector<TokenId> a = RandomTokens(rng_, 11, e->config().vocab_size);
  const std::vector<TokenId> b = RandomTokens(rng_, 7, e->config().vocab_size);
  ForwardResult fresh = Fwd(*e, {{1, b, false, true}});
  Fwd(*e, {{0, a, false, false}});
  Fwd(*e, {{0, absl::MakeConstSpan(a).subspan(0, 3), true, false}});
  ASSERT_TRUE(e->Release(0).ok());
  EXPECT_EQ(e->position(0), 0);
  EXPECT_EQ(e->pending(0), 0);
  ForwardResult again = Fwd(*e, {{0, b, false, true}});
  for (int i = 0; i < again.num_rows; ++i) EXPECT_TRUE(RowsClose(Row(again, i), Row(fresh, i), 0));
}

INSTANTIATE_TEST_SUITE_P(Variants, CpuEngineTest, ::testing::ValuesIn(AllVariants()),
                         [](const auto& info) { return info.param.name; });

TEST(CpuEngineApiTest, ErrorsAndAccounting) {
  TempDir dir;
  RandomModelOptions o = TinyOptions();
  o.seed = TestSeed("ErrorsAndAccounting");
  auto e = MakeEngine(dir.path(), o, 3, 2);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->device(), Device::kCpu);
  EXPECT_EQ(e->num_slots(), 3);
  EXPECT_EQ(e->max_pending(), 3);
  // Per layer: S [2,12,12] + ring [2,2,12] + k/v buffers [2, (4-1)+3, 12] each.
  EXPECT_EQ(e->slot_size_bytes(), 2 * 4 * (2 * 144 + 2 * 2 * 12 + 2 * 2 * 6 * 12));
  EXPECT_GT(e->weight_bytes(), 300 * 48 * 4 * 2);
  const std::vector<TokenId> t = {1, 2, 3};
  const std::vector<TokenId> bad = {1, 300};
  ForwardResult r;
  auto code = [&](std::vector<SeqChunk> c) { return e->Forward(c, {}, &r).code(); };
  EXPECT_EQ(code({}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{3, t, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{-1, t, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{0, bad, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{0, {}, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{0, t, false, false}, {0, t, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->position(0), 0);  // nothing ran
  EXPECT_EQ(code({{0, t, true, false}}), absl::StatusCode::kOk);
  EXPECT_EQ(code({{0, t, false, false}}), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(code({{0, {t.data(), 1}, true, false}}), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(e->pending(0), 3);
  EXPECT_EQ(e->Commit(0, 4).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->Commit(0, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->Commit(5, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(e->Commit(0, 2).ok());
  EXPECT_EQ(e->position(0), 2);
  EXPECT_EQ(e->pending(0), 0);
  EXPECT_TRUE(e->DropPending(0).ok());
  EXPECT_EQ(e->Release(7).code(), absl::StatusCode::kInvalidArgument);
  // want_logits=false still returns argmax.
  ForwardResult nl;
  ASSERT_TRUE(e->Forward({{1, t, false, true}}, ForwardOptions{false}, &nl).ok());
  EXPECT_TRUE(nl.logits.empty());
  EXPECT_EQ(nl.argmax.size(), 3u);
  EXPECT_EQ(nl.row_offset, std::vector<int>{0});
}

TEST(CpuEngineApiTest, FactoryAndDevices) {
  EXPECT_STREQ(DeviceName(Device::kCpu), "cpu");
  EXPECT_STREQ(DeviceName(Device::kCuda), "cuda");
  EXPECT_STREQ(DeviceName(Device::kAuto), "auto");
  EngineOptions eo;
  eo.model_dir = "/nonexistent/model";
  eo.device = Device::kCpu;
  auto e = CreateEngine(eo);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(e.status().message()).find("/nonexistent/model"), std::string::npos);
}

}  // namespace
}  // namespace linspec::engine::testing
