// On-device sampling and speculative acceptance (kernels/sampling.cu, CudaEngine with
// ForwardOptions::sampling) against the host twin built from the scheduler's sampler
// (tests/unit/scheduler/chunk_sampler_reference.h). Random logits (with exact ties), random
// temperature / top-k / top-p, drafts with and without proposal rows, greedy chunks, inactive
// chunks; then the same through the engine over random prefill / verify / commit rounds.
// Skips itself without a CUDA device.
#include "kernels/sampling.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "engine/cuda/cuda_engine.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/unit/engine/engine_test_util.h"
#include "tests/unit/scheduler/chunk_sampler_reference.h"

namespace linspec::testing {
namespace {

using engine::ChunkSampling;
using engine::ChunkTokens;
using engine::TokenId;

struct Case {
  int vocab = 0;
  std::vector<float> rows;  // [k + 1, vocab]
  std::vector<TokenId> drafts;
  std::vector<float> q;  // [k, vocab] or empty
  ChunkSampling s;
};

std::vector<float> RandomRows(std::mt19937& rng, int n, int vocab) {
  std::normal_distribution<float> g(0.f, 1.f);
  const float scales[] = {0.3f, 2.f, 6.f};
  const float scale = scales[rng() % 3];
  const bool ties = rng() % 3 == 0;  // integer logits: many exact ties
  std::vector<float> r(static_cast<size_t>(n) * vocab);
  for (float& x : r) x = ties ? std::round(g(rng) * 2.f) : g(rng) * scale;
  return r;
}

// A proposal distribution: softmax of other random logits, some entries exactly zero.
std::vector<float> RandomProbs(std::mt19937& rng, int n, int vocab) {
  std::vector<float> q = RandomRows(rng, n, vocab);
  for (int i = 0; i < n; ++i) {
    float* row = q.data() + static_cast<size_t>(i) * vocab;
    const float m = *std::max_element(row, row + vocab);
    double sum = 0;
    for (int v = 0; v < vocab; ++v) {
      row[v] = rng() % 4 == 0 ? 0.f : std::exp(row[v] - m);
      sum += row[v];
    }
    for (int v = 0; v < vocab; ++v) row[v] = sum > 0 ? static_cast<float>(row[v] / sum) : 0.f;
  }
  return q;
}

std::vector<TokenId> RandomIds(std::mt19937& rng, int n, int vocab) {
  std::vector<TokenId> t(n);
  for (TokenId& x : t) x = static_cast<TokenId>(rng() % vocab);
  return t;
}

int ArgmaxOf(const float* r, int vocab) {
  return static_cast<int>(std::max_element(r, r + vocab) - r);
}

Case RandomCase(std::mt19937& rng, int vocab) {
  Case c;
  c.vocab = vocab;
  const int k = rng() % 5;
  c.rows = RandomRows(rng, k + 1, vocab);
  for (int i = 0; i < k; ++i) {  // half of the drafts are the row's argmax (often accepted)
    const float* r = c.rows.data() + static_cast<size_t>(i) * vocab;
    c.drafts.push_back(rng() % 2 ? ArgmaxOf(r, vocab) : static_cast<TokenId>(rng() % vocab));
  }
  if (k > 0 && rng() % 2) c.q = RandomProbs(rng, k, vocab);
  const float temps[] = {0.f, 0.3f, 0.7f, 1.f, 1.5f};
  const int top_ks[] = {0, 0, 1, 2, 10, 50, vocab + 5};
  const float top_ps[] = {1.f, 1.f, 0.95f, 0.5f, 0.1f};
  c.s.active = rng() % 10 != 0;
  c.s.temperature = temps[rng() % 5];
  c.s.top_k = top_ks[rng() % 7];
  c.s.top_p = top_ps[rng() % 5];
  c.s.seed = (static_cast<uint64_t>(rng()) << 32) | rng();
  c.s.first_index = rng() % 1000;
  c.s.draft_probs = c.q;
  if (k == 0 && rng() % 2) {  // a draft model's lone draw: its own stream, q back
    c.s.stream = RandomStream::kDraft;
    c.s.want_probs = rng() % 2;
  }
  return c;
}

// Runs kernels::SampleChunks over a batch of cases; one chunk per case. *probs receives the
// rows of the cases with want_probs, in order.
std::vector<kernels::SampledChunk> RunKernel(const std::vector<Case>& cases, int vocab,
                                             std::vector<float>* probs = nullptr) {
  int probs_rows = 0;
  std::vector<float> logits;
  std::vector<int32_t> argmax, tokens;
  std::vector<float> q;
  std::vector<kernels::SampleChunk> chunks;
  for (const Case& c : cases) {
    kernels::SampleChunk sc;
    sc.active = c.s.active;
    sc.first_row = static_cast<int32_t>(logits.size() / vocab);
    sc.num_drafts = static_cast<int32_t>(c.drafts.size());
    tokens.push_back(7 % vocab);  // the chunk's last committed token, not a draft
    sc.draft_token = static_cast<int32_t>(tokens.size());
    tokens.insert(tokens.end(), c.drafts.begin(), c.drafts.end());
    sc.q_row = c.q.empty() ? -1 : static_cast<int32_t>(q.size() / vocab);
    q.insert(q.end(), c.q.begin(), c.q.end());
    sc.temperature = c.s.temperature;
    sc.top_k = c.s.top_k;
    sc.top_p = c.s.top_p;
    sc.seed = c.s.seed;
    sc.first_index = c.s.first_index;
    sc.stream = static_cast<uint32_t>(c.s.stream);
    if (c.s.active && c.s.want_probs) sc.probs_row = probs_rows++;
    for (size_t i = 0; i * vocab < c.rows.size(); ++i) {
      argmax.push_back(ArgmaxOf(c.rows.data() + i * vocab, vocab));
    }
    logits.insert(logits.end(), c.rows.begin(), c.rows.end());
    chunks.push_back(sc);
  }
  if (q.empty()) q.push_back(0.f);
  DeviceBuffer<float> d_logits(logits), d_q(q);
  DeviceBuffer<int32_t> d_argmax(argmax), d_tokens(tokens);
  DeviceBuffer<kernels::SampleChunk> d_chunks(chunks);
  const int max_rows = 5;  // RandomCase: k <= 4
  DeviceBuffer<kernels::SampledChunk> d_out(chunks.size());
  DeviceBuffer<int2> d_rows(chunks.size() * max_rows);
  DeviceBuffer<unsigned int> d_counters(chunks.size());
  DeviceBuffer<float> d_probs(chunks.size() * vocab);
  cudaMemset(d_counters.get(), 0, chunks.size() * sizeof(unsigned int));
  std::vector<kernels::SampledChunk> first;
  for (int launch = 0; launch < 2; ++launch) {  // the second launch reuses the scratch
    d_out.Poison();
    d_rows.Poison();
    EXPECT_EQ(
        cudaSuccess,
        kernels::SampleChunks(d_logits.get(), d_argmax.get(), vocab, d_chunks.get(),
                              static_cast<int>(chunks.size()), max_rows, d_tokens.get(), d_q.get(),
                              d_out.get(), d_probs.get(), d_rows.get(), d_counters.get(), nullptr));
    EXPECT_EQ(cudaSuccess, cudaDeviceSynchronize());
    for (unsigned int c : d_counters.Download()) EXPECT_EQ(c, 0u) << "counter not reset";
    std::vector<kernels::SampledChunk> got = d_out.Download();
    if (launch == 0) {
      first = got;
    } else {
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].num_accepted, first[i].num_accepted) << "chunk " << i;
        EXPECT_EQ(got[i].token, first[i].token) << "chunk " << i;
      }
    }
  }
  if (probs != nullptr) {
    *probs = d_probs.Download();
    probs->resize(static_cast<size_t>(probs_rows) * vocab);
  }
  return first;
}

TEST(SamplingKernel, MatchesHostTwin) {
  LINSPEC_SKIP_WITHOUT_GPU();
  std::mt19937 rng(TestSeed());
  int total = 0, mismatches = 0, accepted = 0, drafted = 0, probs_rows = 0;
  for (int vocab : {7, 300, 32000}) {
    const int n = vocab == 32000 ? 120 : 400;
    std::vector<Case> cases;
    for (int i = 0; i < n; ++i) cases.push_back(RandomCase(rng, vocab));
    std::vector<float> got_probs, want_probs;
    const std::vector<kernels::SampledChunk> got = RunKernel(cases, vocab, &got_probs);
    for (int i = 0; i < n; ++i) {
      const Case& c = cases[i];
      const ChunkTokens want = ReferenceChunkTokens(c.rows, vocab, c.drafts, c.s, &want_probs);
      probs_rows += c.s.active && c.s.want_probs;
      ++total;
      drafted += c.s.active ? static_cast<int>(c.drafts.size()) : 0;
      accepted += got[i].num_accepted;
      if (got[i].num_accepted != want.num_accepted || got[i].token != want.next) {
        ++mismatches;
        std::printf(
            "mismatch vocab %d case %d: k=%zu t=%.2f top_k=%d top_p=%.2f q=%d: device "
            "(%d, %d) host (%d, %d)\n",
            vocab, i, c.drafts.size(), c.s.temperature, c.s.top_k, c.s.top_p, !c.q.empty(),
            got[i].num_accepted, got[i].token, want.num_accepted, want.next);
      }
    }
    // The distributions returned for want_probs chunks equal the host transform.
    ASSERT_EQ(got_probs.size(), want_probs.size()) << "vocab " << vocab;
    double worst = 0;
    for (size_t j = 0; j < got_probs.size(); ++j) {
      worst = std::max(worst, std::fabs(double(got_probs[j]) - want_probs[j]));
    }
    EXPECT_LT(worst, 1e-5) << "vocab " << vocab;
  }
  EXPECT_GT(probs_rows, 0);
  std::printf("sampling kernel vs host twin: %d/%d chunks identical, %d of %d drafts accepted\n",
              total - mismatches, total, accepted, drafted);
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, drafted);
  // Only a uniform within float rounding of a token boundary may draw differently.
  EXPECT_LE(mismatches, total / 200);
}

// The kernel's own distribution: many seeds over one row must follow the transformed
// softmax (top-k 3 of a row with ties resolves to the lowest ids).
TEST(SamplingKernel, TiesKeepLowestIds) {
  LINSPEC_SKIP_WITHOUT_GPU();
  const int vocab = 64;
  std::vector<Case> cases;
  for (int i = 0; i < 600; ++i) {
    Case c;
    c.vocab = vocab;
    c.rows.assign(vocab, 1.f);  // every token tied
    c.s.active = true;
    c.s.temperature = 1.f;
    c.s.top_k = 3;
    c.s.seed = 1234 + i;
    cases.push_back(c);
  }
  const auto got = RunKernel(cases, vocab);
  std::vector<int> counts(vocab, 0);
  for (const auto& g : got) ++counts[g.token];
  for (int v = 0; v < 3; ++v) EXPECT_GT(counts[v], 150) << "token " << v;
  EXPECT_EQ(counts[0] + counts[1] + counts[2], 600);
  // A flat 32000-token row with top_p 0.5: the boundary bin holds every token (too many to
  // compact), and the nucleus is exactly the 16000 lowest ids.
  std::vector<Case> flat;
  for (int i = 0; i < 200; ++i) {
    Case c;
    c.vocab = 32000;
    c.rows.assign(c.vocab, 0.5f);
    c.s.active = true;
    c.s.temperature = 0.7f;
    c.s.top_p = 0.5f;
    c.s.seed = 99 + i;
    flat.push_back(c);
  }
  int low = 0, high = 0;
  for (const auto& g : RunKernel(flat, 32000)) {
    EXPECT_LT(g.token, 16000);
    (g.token < 8000 ? low : high)++;
  }
  EXPECT_GT(low, 60);
  EXPECT_GT(high, 60);
}

// Through the engine: random prefill / verify chunks with sampling, compared with the host
// twin on the logits the same Forward returns; commits follow the sampled outcome.
TEST(SamplingEngine, ForwardSamplingMatchesHostTwin) {
  LINSPEC_SKIP_WITHOUT_GPU();
  std::mt19937 rng(TestSeed());
  engine::testing::TempDir dir;
  tools::RandomModelOptions o = engine::testing::TinyOptions();
  o.hidden_size = 64;
  o.intermediate_size = 96;
  ASSERT_TRUE(tools::WriteRandomModel(dir.path(), o).ok());
  engine::EngineOptions eo;
  eo.model_dir = dir.path();
  eo.device = engine::Device::kCuda;
  eo.num_slots = 6;
  eo.max_draft_tokens = 4;
  eo.max_batch_tokens = 256;
  eo.cuda_weight_dtype = "fp32";
  auto created = engine::cuda::CudaEngine::Create(eo);
  ASSERT_TRUE(created.ok()) << created.status();
  engine::cuda::CudaEngine& e = **created;
  ASSERT_TRUE(e.samples_on_device());
  const int vocab = e.config().vocab_size;
  std::vector<TokenId> last(eo.num_slots, 1);
  int total = 0, mismatches = 0;
  size_t probs_rows = 0;
  for (int round = 0; round < 40; ++round) {
    const int nseq = 1 + rng() % eo.num_slots;
    std::vector<std::vector<TokenId>> toks(nseq);
    std::vector<std::vector<float>> q(nseq);
    std::vector<engine::SeqChunk> chunks(nseq);
    std::vector<ChunkSampling> sampling(nseq);
    for (int s = 0; s < nseq; ++s) {
      engine::SeqChunk& c = chunks[s];
      c.slot = s;
      c.pending = e.position(s) > 0 && rng() % 3 != 0;
      if (c.pending) {  // [last, d1..dk]
        const int k = rng() % 5;
        toks[s] = {last[s]};
        for (TokenId t : RandomIds(rng, k, vocab)) toks[s].push_back(t);
        if (k > 0 && rng() % 2) q[s] = RandomProbs(rng, k, vocab);
      } else {
        toks[s] = RandomIds(rng, 1 + rng() % 6, vocab);
      }
      c.tokens = toks[s];
      c.all_logits = c.pending || rng() % 2;
      Case rc = RandomCase(rng, vocab);
      sampling[s] = rc.s;
      sampling[s].draft_probs = q[s];
      // A lone draw may use the draft's stream and return its distribution.
      const bool drafts = c.pending && toks[s].size() > 1;
      sampling[s].stream = drafts || rng() % 2 ? RandomStream::kTarget : RandomStream::kDraft;
      sampling[s].want_probs = !drafts && rng() % 2;
    }
    engine::ForwardOptions fo;
    fo.want_logits = true;
    fo.sampling = sampling;
    engine::ForwardResult r;
    const absl::Status st = e.Forward(chunks, fo, &r);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(r.sampled.size(), chunks.size());
    std::vector<float> want_probs;
    for (int s = 0; s < nseq; ++s) {
      const engine::SeqChunk& c = chunks[s];
      const size_t k = c.pending ? c.tokens.size() - 1 : 0;
      const size_t nrows = c.all_logits ? c.tokens.size() : 1;
      const size_t first = r.row_offset[s] + (k > 0 ? 0 : nrows - 1);
      const ChunkTokens want = ReferenceChunkTokens(
          absl::MakeConstSpan(r.logits).subspan(first * vocab, (k + 1) * vocab), vocab,
          absl::MakeConstSpan(toks[s]).subspan(1, k), sampling[s], &want_probs);
      ++total;
      if (r.sampled[s].num_accepted != want.num_accepted || r.sampled[s].next != want.next) {
        ++mismatches;
        std::printf("engine mismatch round %d seq %d: device (%d, %d) host (%d, %d)\n", round, s,
                    r.sampled[s].num_accepted, r.sampled[s].next, want.num_accepted, want.next);
      }
      if (c.pending) {
        const int n = sampling[s].active ? r.sampled[s].num_accepted + 1 : 1;
        ASSERT_TRUE(e.Commit(s, n).ok());
        last[s] = sampling[s].active ? r.sampled[s].next : toks[s].back();
      } else {
        last[s] = toks[s].back();
      }
    }
    ASSERT_EQ(r.probs.size(), want_probs.size());
    for (size_t j = 0; j < want_probs.size(); ++j) {
      ASSERT_NEAR(r.probs[j], want_probs[j], 1e-5) << "round " << round << " probs element " << j;
    }
    probs_rows += want_probs.size() / vocab;
  }
  EXPECT_GT(probs_rows, 0u);
  std::printf("engine sampling vs host twin: %d/%d chunks identical\n", total - mismatches, total);
  EXPECT_LE(mismatches, total / 100);
  // Bad sampling options are refused without touching the slots.
  std::vector<TokenId> one = {2};
  ChunkSampling bad;
  bad.active = true;
  bad.temperature = 1.f;
  bad.top_p = 0.f;
  engine::ForwardOptions fo;
  fo.sampling = absl::MakeConstSpan(&bad, 1);
  engine::ForwardResult r;
  const int64_t pos = e.position(0);
  EXPECT_EQ(e.Forward({{0, one, false, false}}, fo, &r).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.position(0), pos);
  EXPECT_TRUE(e.healthy());
}

}  // namespace
}  // namespace linspec::testing
