// CUDA backend vs the fp32 CPU backend (the reference) on every model variant, and the
// speculative invariants on the GPU itself: Verify(T) == T sequential steps, exact rollback,
// batch invariance, graphs == eager. Skips itself without a CUDA device.
#include "engine/cuda/cuda_engine.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/unit/engine/engine_test_util.h"

namespace linspec::engine {
namespace {

using engine::testing::AllVariants;
using engine::testing::Argmax;
using engine::testing::Fwd;
using engine::testing::RandomTokens;
using engine::testing::Row;
using engine::testing::RowsClose;
using engine::testing::TempDir;
using engine::testing::Variant;

std::unique_ptr<cuda::CudaEngine> MakeCuda(const std::string& dir, int slots, int max_draft,
                                           const std::string& dtype) {
  EngineOptions eo;
  eo.model_dir = dir;
  eo.device = Device::kCuda;
  eo.num_slots = slots;
  eo.max_draft_tokens = max_draft;
  eo.max_batch_tokens = 512;
  eo.cuda_weight_dtype = dtype;
  auto e = cuda::CudaEngine::Create(eo);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

std::unique_ptr<Engine> MakeCpu(const std::string& dir, int slots, int max_draft) {
  EngineOptions eo;
  eo.model_dir = dir;
  eo.device = Device::kCpu;
  eo.num_slots = slots;
  eo.max_draft_tokens = max_draft;
  eo.num_threads = 2;
  auto e = CreateEngine(eo);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

// The argmax of `got` is the reference's argmax or within `rel` of it (a near tie).
::testing::AssertionResult SameGreedy(const std::vector<float>& got, const std::vector<float>& want,
                                      double rel) {
  const int a = Argmax(got), b = Argmax(want);
  if (a == b) return ::testing::AssertionSuccess();
  double scale = 1e-30;
  for (float x : want) scale = std::max(scale, std::fabs(double(x)));
  if (want[b] - want[a] <= rel * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "argmax " << a << " vs " << b << " (gap " << want[b] - want[a] << ")";
}

class CudaEngineTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    LINSPEC_SKIP_WITHOUT_GPU();
    rng_.seed(engine::testing::TestSeed(GetParam().name.c_str()));
    options_ = GetParam().options;
    options_.hidden_size = 64;  // head_dim 16: the CUDA kernels take 16/32/64/128
    options_.intermediate_size = 96;
    ASSERT_TRUE(tools::WriteRandomModel(dir_.path(), options_).ok());
  }
  int G() const { return options_.group_size.value_or(0); }

  TempDir dir_;
  tools::RandomModelOptions options_;
  std::mt19937_64 rng_;
};

// The same random schedule of prefill / decode / verify / commit on both backends.
TEST_P(CudaEngineTest, Fp32MatchesCpuBackend) {
  auto gpu = MakeCuda(dir_.path(), 3, 6, "fp32");
  auto cpu = MakeCpu(dir_.path(), 3, 6);
  ASSERT_TRUE(gpu && cpu);
  const int vocab = gpu->config().vocab_size;
  std::vector<TokenId> last(3, 1);
  for (int round = 0; round < 40; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    std::vector<std::vector<TokenId>> toks(3);
    std::vector<SeqChunk> chunks;
    for (int s = 0; s < 3; ++s) {
      const int kind = static_cast<int>(rng_() % 3);
      if (round == 0 || kind == 0) {
        toks[s] = RandomTokens(rng_, 1 + rng_() % (round == 0 ? 20 : 5), vocab);
        chunks.push_back({s, toks[s], false, rng_() % 2 == 0});
      } else {
        toks[s] = RandomTokens(rng_, 1 + rng_() % 6, vocab);
        chunks.push_back({s, toks[s], kind == 2, true});
      }
    }
    std::shuffle(chunks.begin(), chunks.end(), rng_);
    ForwardResult rg = Fwd(*gpu, chunks), rc = Fwd(*cpu, chunks);
    ASSERT_EQ(rg.num_rows, rc.num_rows);
    for (int i = 0; i < rg.num_rows; ++i) {
      EXPECT_TRUE(RowsClose(Row(rg, i), Row(rc, i), 1e-4)) << "row " << i;
      EXPECT_TRUE(SameGreedy(Row(rg, i), Row(rc, i), 1e-4)) << "row " << i;
    }
    for (const SeqChunk& c : chunks) {
      if (!c.pending) continue;
      const int n = static_cast<int>(rng_() % (c.tokens.size() + 1));
      ASSERT_TRUE(gpu->Commit(c.slot, n).ok());
      ASSERT_TRUE(cpu->Commit(c.slot, n).ok());
      EXPECT_EQ(gpu->position(c.slot), cpu->position(c.slot));
    }
  }
}

// Verify(T) on slot 0 == T committed single-token steps on slot 1 (inside a group, at and
// across boundaries), then both continue identically after Commit(T).
TEST_P(CudaEngineTest, VerifyEqualsSequentialSteps) {
  for (const char* dtype : {"fp32", "bf16"}) {
    SCOPED_TRACE(dtype);
    const double tol = std::string(dtype) == "fp32" ? 1e-4 : 2e-2;
    auto e = MakeCuda(dir_.path(), 2, 8, dtype);
    ASSERT_NE(e, nullptr);
    const int g = std::max(G(), 4), vocab = e->config().vocab_size;
    std::vector<std::pair<int, int>> cases = {{g + 1, 2},     {g + 1, g - 1}, {g + 2, g},
                                              {2 * g - 1, 9}, {0, 9},         {g, 1}};
    for (int i = 0; i < 6; ++i) cases.push_back({int(rng_() % (3 * g)), 1 + int(rng_() % 9)});
    for (auto [prefix_len, t] : cases) {
      t = std::min(t, 9);
      SCOPED_TRACE(::testing::Message() << "prefix " << prefix_len << " T " << t);
      ASSERT_TRUE(e->Release(0).ok() && e->Release(1).ok());
      const auto prefix = RandomTokens(rng_, prefix_len, vocab);
      const auto draft = RandomTokens(rng_, t, vocab);
      if (prefix_len > 0) Fwd(*e, {{0, prefix, false, false}, {1, prefix, false, false}});
      ForwardResult spec = Fwd(*e, {{0, draft, true, true}});
      for (int i = 0; i < t; ++i) {
        ForwardResult r = Fwd(*e, {{1, absl::MakeConstSpan(draft).subspan(i, 1), false, false}});
        EXPECT_TRUE(RowsClose(Row(spec, i), Row(r, 0), tol)) << "token " << i;
        EXPECT_TRUE(SameGreedy(Row(spec, i), Row(r, 0), tol)) << "token " << i;
      }
      ASSERT_TRUE(e->Commit(0, t).ok());
      const auto next = RandomTokens(rng_, 1 + rng_() % 3, vocab);
      ForwardResult r = Fwd(*e, {{0, next, false, true}, {1, next, false, true}});
      for (size_t i = 0; i < next.size(); ++i) {
        EXPECT_TRUE(RowsClose(Row(r, i), Row(r, next.size() + i), tol)) << "after commit " << i;
      }
    }
  }
}

// Random drafts and acceptance over many rounds: the speculative slot's logits equal plain
// sequential decoding of the committed tokens on the GPU.
TEST_P(CudaEngineTest, RollbackPropertyMatchesSequentialDecoding) {
  const int max_draft = 6;
  auto e = MakeCuda(dir_.path(), 2, max_draft, "fp32");
  ASSERT_NE(e, nullptr);
  const int vocab = e->config().vocab_size;
  const auto prompt = RandomTokens(rng_, 1 + rng_() % 9, vocab);
  ForwardResult r = Fwd(*e, {{0, prompt, false, false}, {1, prompt, false, false}});
  TokenId last = r.argmax[0];
  for (int round = 0; round < 80; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const int k = static_cast<int>(rng_() % (max_draft + 1));
    std::vector<TokenId> chunk = {last};
    for (TokenId t : RandomTokens(rng_, k, vocab)) chunk.push_back(t);
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
    for (int i = 0; i <= accepted; ++i) {
      ForwardResult s = Fwd(*e, {{1, absl::MakeConstSpan(chunk).subspan(i, 1), false, false}});
      ASSERT_TRUE(RowsClose(rows[i], Row(s, 0), 1e-4)) << "row " << i;
      ASSERT_TRUE(SameGreedy(rows[i], Row(s, 0), 1e-4)) << "row " << i;
    }
    last = static_cast<TokenId>(Argmax(rows[accepted]));
    ASSERT_EQ(e->position(0), e->position(1));
  }
}

// CUDA graphs replay exactly what eager launches compute (bitwise): slots 0/1 run with graphs,
// slots 2/3 the same chunks eagerly, on one engine (one set of tuned GEMM splits).
TEST_P(CudaEngineTest, GraphsMatchEager) {
  auto e = MakeCuda(dir_.path(), 4, 4, "bf16");
  ASSERT_TRUE(e);
  const int vocab = e->config().vocab_size;
  for (int round = 0; round < 12; ++round) {
    const auto t0 = RandomTokens(rng_, 1 + rng_() % 4, vocab);
    const auto t1 = RandomTokens(rng_, 1 + rng_() % 4, vocab);
    e->set_use_graphs(true);
    ForwardResult ra = Fwd(*e, {{0, t0, false, true}, {1, t1, true, true}});
    e->set_use_graphs(false);
    ForwardResult rb = Fwd(*e, {{2, t0, false, true}, {3, t1, true, true}});
    EXPECT_EQ(ra.logits, rb.logits);
    EXPECT_EQ(ra.argmax, rb.argmax);
    ASSERT_TRUE(e->Commit(1, 1).ok() && e->Commit(3, 1).ok());
  }
}

// The one-kernel decode step (kernels::DecodeMegakernel) against the layer-by-layer kernels
// (LINSPEC_CUDA_MEGA=0) in bf16: teacher-forced greedy tokens over batches of 1..8 one-token
// steps (with folds every 16 tokens); every few rounds a step with logits compares them, and a
// step sampled on the device (temperature, top-k, the same seeds) compares the drawn tokens.
// Models it cannot run (plain attention with a normalizer) never take it. blocks > 0: the
// megakernel's grid (LINSPEC_CUDA_MEGA_BLOCKS), so that blocks take several attention items.
void CheckMegakernel(const std::string& dir, bool eligible, std::mt19937_64& rng, int blocks = 0) {
  setenv("LINSPEC_CUDA_MEGA", "0", 1);
  auto layer = MakeCuda(dir, 8, 4, "bf16");
  setenv("LINSPEC_CUDA_MEGA", "8", 1);  // batches of 1..8
  if (blocks > 0) {                     // and one split-K sum slot in the tensor-core instance
    setenv("LINSPEC_CUDA_MEGA_BLOCKS", std::to_string(blocks).c_str(), 1);
    setenv("LINSPEC_CUDA_MEGA_RED", "1", 1);
  }
  auto mega = MakeCuda(dir, 8, 4, "bf16");
  unsetenv("LINSPEC_CUDA_MEGA");
  unsetenv("LINSPEC_CUDA_MEGA_BLOCKS");
  unsetenv("LINSPEC_CUDA_MEGA_RED");
  ASSERT_TRUE(layer && mega);
  const int vocab = mega->config().vocab_size;
  std::vector<TokenId> next(8);
  for (int s = 0; s < 8; ++s) {
    const auto prompt = RandomTokens(rng, 2 + rng() % 20, vocab);  // a prefill: layer path
    ForwardResult a = Fwd(*layer, {{s, prompt, false, false}});
    Fwd(*mega, {{s, prompt, false, false}});
    next[s] = a.argmax[0];
  }
  int same = 0, total = 0;
  for (int round = 0; round < 48; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const int batch = 1 + (round + round / 8) % 8;  // logits and sampled steps at every size
    const bool logits = round % 8 == 7, sampled = round % 8 == 3;
    std::vector<std::vector<TokenId>> toks(batch);
    std::vector<SeqChunk> chunks;
    std::vector<ChunkSampling> sampling(batch);
    for (int s = 0; s < batch; ++s) {
      toks[s] = {next[s]};
      chunks.push_back({s, toks[s], false, logits});
      sampling[s] = {true, 0.8f, 50, 1.f, 1000u + round, static_cast<uint64_t>(round)};
    }
    ForwardOptions opts;
    opts.want_logits = logits;
    if (sampled) opts.sampling = sampling;
    ForwardResult a, b;
    ASSERT_TRUE(layer->Forward(chunks, opts, &a).ok());
    ASSERT_TRUE(mega->Forward(chunks, opts, &b).ok());
    ASSERT_EQ(a.num_rows, batch);
    ASSERT_EQ(b.num_rows, batch);
    for (int s = 0; s < batch; ++s) {
      if (logits) {
        EXPECT_TRUE(RowsClose(Row(b, s), Row(a, s), 2e-2)) << "slot " << s;
        EXPECT_TRUE(SameGreedy(Row(b, s), Row(a, s), 2e-2)) << "slot " << s;
      } else if (sampled) {
        ASSERT_EQ(a.sampled.size(), size_t(batch));
        ASSERT_EQ(b.sampled.size(), size_t(batch));
        same += a.sampled[s].next == b.sampled[s].next;
        ++total;
      } else {
        same += a.argmax[s] == b.argmax[s];
        ++total;
      }
      next[s] = a.argmax[s];
    }
  }
  EXPECT_EQ(layer->mega_steps(), 0);
  if (!eligible) {
    EXPECT_EQ(mega->mega_steps(), 0);
    return;
  }
  EXPECT_EQ(mega->mega_steps(), 48);
  std::printf("megakernel vs layer kernels: %d/%d greedy or sampled tokens identical\n", same,
              total);
  EXPECT_GE(same, total * 9 / 10);

  // Verify steps: one or two sequences with pending chunks of 1..4 tokens (the next token and
  // random drafts), every row compared (the logits every few rounds); one token committed per
  // chunk, the drafts rejected, so plain chunks fold a segment every 16 rounds. Chunks that
  // MegaChunkOk refuses (augmented ones that would fold or cross a group) take the layer kernels.
  int vsame = 0, vtotal = 0;
  for (int round = 0; round < 32; ++round) {
    SCOPED_TRACE(::testing::Message() << "verify round " << round);
    const int batch = 1 + round % 2;
    std::vector<std::vector<TokenId>> toks(batch);
    std::vector<SeqChunk> chunks;
    for (int s = 0; s < batch; ++s) {
      toks[s] = RandomTokens(rng, 1 + (round / 2) % 4, vocab);
      toks[s][0] = next[s];
      chunks.push_back({s, toks[s], true, true});
    }
    ForwardOptions opts;
    opts.want_logits = round % 6 == 5;
    ForwardResult a, b;
    ASSERT_TRUE(layer->Forward(chunks, opts, &a).ok());
    ASSERT_TRUE(mega->Forward(chunks, opts, &b).ok());
    ASSERT_EQ(a.num_rows, b.num_rows);
    for (int r = 0; r < a.num_rows; ++r) {
      if (opts.want_logits) {
        EXPECT_TRUE(RowsClose(Row(b, r), Row(a, r), 2e-2)) << "row " << r;
      }
      vsame += a.argmax[r] == b.argmax[r];
      ++vtotal;
    }
    for (int s = 0, r0 = 0; s < batch; r0 += static_cast<int>(toks[s].size()), ++s) {
      ASSERT_TRUE(layer->Commit(s, 1).ok());
      ASSERT_TRUE(mega->Commit(s, 1).ok());
      next[s] = a.argmax[r0];
    }
  }
  std::printf("megakernel verify steps: %lld of 32, %d/%d greedy tokens identical\n",
              static_cast<long long>(mega->mega_steps() - 48), vsame, vtotal);
  EXPECT_GT(mega->mega_steps(), 48);
  EXPECT_GE(vsame, vtotal * 9 / 10);
}

TEST_P(CudaEngineTest, MegakernelMatchesLayerKernels) {
  const bool eligible = options_.variant != tools::ModelVariant::kPlain || !options_.normalize;
  CheckMegakernel(dir_.path(), eligible, rng_);
  if (eligible) {
    CheckMegakernel(dir_.path(), true, rng_, 3);  // 1..3 attention items per block, 1 sum slot
    // grouped queries: 2 query heads per kv head
    TempDir gqa;
    tools::RandomModelOptions o = options_;
    o.num_kv_heads = 2;
    ASSERT_TRUE(tools::WriteRandomModel(gqa.path(), o).ok());
    CheckMegakernel(gqa.path(), true, rng_);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, CudaEngineTest, ::testing::ValuesIn(AllVariants()),
                         [](const auto& info) { return info.param.name; });

// bf16 weights on the trained reference model: teacher-forced greedy tokens equal the fp32
// CPU backend's on >= 99% of positions, and free-running generation is reported.
TEST(CudaEngineTrainedModel, Bf16GreedyAgreesWithCpu) {
  LINSPEC_SKIP_WITHOUT_GPU();
  const char* src = std::getenv("LINSPEC_SOURCE_DIR");
  const std::string dir = std::string(src ? src : ".") + "/models/default";
  if (!std::filesystem::exists(dir + "/config.json")) GTEST_SKIP() << "no " << dir;
  auto gpu = MakeCuda(dir, 1, 4, "bf16");
  auto cpu = MakeCpu(dir, 1, 4);
  ASSERT_TRUE(gpu && cpu);
  std::vector<TokenId> prompt = {1, 450, 1034, 310, 278, 3186, 338};
  for (TokenId& t : prompt) t %= gpu->config().vocab_size;
  ForwardResult rc = Fwd(*cpu, {{0, prompt, false, false}});
  ForwardResult rg = Fwd(*gpu, {{0, prompt, false, false}});
  int same = 0, total = 0, free_run = -1;
  TokenId tok = rc.argmax[0];
  for (int i = 0; i < 400; ++i) {
    same += rg.argmax[0] == rc.argmax[0];
    ++total;
    if (free_run < 0 && rg.argmax[0] != rc.argmax[0]) free_run = i;
    tok = rc.argmax[0];  // teacher forcing with the CPU's token
    std::vector<TokenId> one = {tok};
    rc = Fwd(*cpu, {{0, one, false, false}});
    rg = Fwd(*gpu, {{0, one, false, false}});
  }
  std::printf(
      "bf16 GPU vs fp32 CPU: %d/%d teacher-forced greedy tokens identical; first "
      "difference at %d\n",
      same, total, free_run);
  EXPECT_GE(same, total * 99 / 100);
}

TEST(CudaEngineApi, FactoryErrorsAndAccounting) {
  LINSPEC_SKIP_WITHOUT_GPU();
  TempDir dir;
  tools::RandomModelOptions o = engine::testing::TinyOptions();
  o.hidden_size = 64;
  o.intermediate_size = 96;
  ASSERT_TRUE(tools::WriteRandomModel(dir.path(), o).ok());
  EXPECT_TRUE(CudaDeviceAvailable());
  EngineOptions eo;
  eo.model_dir = dir.path();
  eo.device = Device::kAuto;
  eo.num_slots = 2;
  auto e = CreateEngine(eo);
  ASSERT_TRUE(e.ok()) << e.status();
  Engine& en = **e;
  EXPECT_EQ(en.device(), Device::kCuda);
  EXPECT_GT(en.slot_size_bytes(), 0);
  EXPECT_GT(en.weight_bytes(), 0);
  ForwardResult r;
  std::vector<TokenId> bad = {999999};
  EXPECT_EQ(en.Forward({{0, bad, false, false}}, {}, &r).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<TokenId> ok = {1, 2};
  EXPECT_EQ(en.Forward({{5, ok, false, false}}, {}, &r).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(en.Forward({{0, ok, true, false}}, {}, &r).ok());
  EXPECT_EQ(en.Forward({{0, ok, false, false}}, {}, &r).code(), absl::StatusCode::kInvalidArgument);
  std::vector<TokenId> many(20, 3);
  EXPECT_EQ(en.Forward({{0, many, true, false}}, {}, &r).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(en.Commit(0, 3).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(en.Commit(0, 1).ok());
  EXPECT_EQ(en.position(0), 1);
  EXPECT_TRUE(en.healthy());
  eo.cuda_weight_dtype = "int4";
  EXPECT_EQ(CreateEngine(eo).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace linspec::engine
