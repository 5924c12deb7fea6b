// Parity of every CUDA kernel with its CPU twin (kernels/reference.h): random inputs (never
// zeros), poisoned outputs (every element must be written), relative-error bounds per dtype.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/elementwise.h"
#include "kernels/linear_attention.h"
#include "kernels/linear_attention_chunked.h"
#include "kernels/qkv_epilogue.h"
#include "kernels/reference.h"
#include "kernels/skinny_gemm.h"
#include "tests/gpu/gpu_test_util.h"

namespace linspec::kernels {
namespace {

using testing::DeviceBuffer;
using testing::RandomVec;
using testing::RelErr;

std::vector<float> SumSplitsHost(const std::vector<float>& p, int splits, size_t n) {
  std::vector<float> r(n, 0.f);
  for (int s = 0; s < splits; ++s)
    for (size_t i = 0; i < n; ++i) r[i] += p[s * n + i];
  return r;
}

class KernelParity : public ::testing::Test {
 protected:
  void SetUp() override {
    LINSPEC_SKIP_WITHOUT_GPU();
    rng_.seed(testing::TestSeed());
  }
  void AddRmsNormCase(int dim, int splits);
  std::mt19937 rng_;
};

// Every kernel variant against the CPU twin; for the same split count all variants must agree
// bitwise with the classic kernel (same k order and mma sequence), and row 0 must not depend on
// how many rows ride along.
TEST_F(KernelParity, SkinnyGemmMatchesReference) {
  struct Shape {
    int m, n, k, splits;
  };
  const Shape shapes[] = {{1, 1, 32, 1},       {1, 300, 1024, 0},  {3, 129, 96, 2},
                          {8, 512, 2048, 0},   {13, 77, 4128, 5},  {33, 260, 512, 0},
                          {64, 1000, 2048, 0}, {64, 128, 5632, 0}, {17, 64, 64, 64},
                          {64, 300, 2048, 1},  {32, 200, 5632, 1},   // > 48 KB of smem
                          {5, 300, 64, 1},     {20, 520, 4096, 3},   // empty / uneven x groups
                          {64, 777, 2048, 2},  {1, 2100, 2048, 1}};  // partial 256-row tiles
  const int variants[] = {kSkinnyClassic,
                          kSkinnyPipelined4,
                          kSkinnyPipelined8,
                          kSkinnyPipelined4Deep,
                          kSkinnyPipelined4 | kSkinnyEvictFirst,
                          kSkinnyPipelined8 | kSkinnyEvictFirst,
                          kSkinnyTiled4,
                          kSkinnyTiled8,
                          kSkinnyTiled1,
                          kSkinnyTiled2};
  for (const DType dt : {DType::kBF16, DType::kF16}) {
    for (const Shape& s : shapes) {
      auto w = testing::RoundBf16(RandomVec(rng_, size_t(s.n) * s.k));
      auto x = testing::RoundBf16(RandomVec(rng_, size_t(s.m) * s.k));
      const int req = s.splits ? s.splits : SkinnyGemmDefaultSplits(s.m, s.n, s.k, 132);
      const int splits = SkinnyGemmEffectiveSplits(s.m, s.k, req);
      const int s1 = SkinnyGemmEffectiveSplits(1, s.k, req);
      DeviceBuffer<uint16_t> dw(w.size()), dx(x.size());
      if (dt == DType::kBF16) {
        auto wb = testing::ToBf16(w), xb = testing::ToBf16(x);
        cudaMemcpy(dw.get(), wb.data(), wb.size() * 2, cudaMemcpyHostToDevice);
        cudaMemcpy(dx.get(), xb.data(), xb.size() * 2, cudaMemcpyHostToDevice);
      } else {
        auto wb = testing::ToF16(w), xb = testing::ToF16(x);
        cudaMemcpy(dw.get(), wb.data(), wb.size() * 2, cudaMemcpyHostToDevice);
        cudaMemcpy(dx.get(), xb.data(), xb.size() * 2, cudaMemcpyHostToDevice);
      }
      std::vector<float> want(size_t(s.m) * s.n);
      ref::Gemm(w.data(), x.data(), want.data(), s.m, s.n, s.k);
      std::vector<float> classic_raw;
      for (const int variant : variants) {
        SCOPED_TRACE(::testing::Message()
                     << "m=" << s.m << " n=" << s.n << " k=" << s.k
                     << " dtype=" << static_cast<int>(dt) << " variant=" << variant);
        DeviceBuffer<float> out(size_t(splits) * s.m * s.n);
        out.Poison();
        CUDA_OK(
            SkinnyGemm(dw.get(), dx.get(), out.get(), s.m, s.n, s.k, req, dt, nullptr, variant));
        CUDA_OK(cudaDeviceSynchronize());
        const auto raw = out.Download();
        if (variant == kSkinnyClassic) {
          classic_raw = raw;
        } else {
          ASSERT_EQ(raw.size(), classic_raw.size());
          for (size_t i = 0; i < raw.size(); ++i) {
            // Bitwise (NaN poison would also fail here).
            ASSERT_EQ(0, std::memcmp(&raw[i], &classic_raw[i], 4)) << "element " << i;
          }
        }
        auto got = SumSplitsHost(raw, splits, size_t(s.m) * s.n);
        EXPECT_LT(RelErr(got, want), 2e-5);
        if (s.m > 1 && s1 == splits) {  // row 0 does not depend on how many rows ride along
          DeviceBuffer<float> one(size_t(s1) * s.n);
          one.Poison();
          CUDA_OK(
              SkinnyGemm(dw.get(), dx.get(), one.get(), 1, s.n, s.k, req, dt, nullptr, variant));
          CUDA_OK(cudaDeviceSynchronize());
          auto row0 = SumSplitsHost(one.Download(), s1, s.n);
          for (int c = 0; c < s.n; ++c) ASSERT_EQ(row0[c], got[c]) << "col " << c;
        }
      }
    }
  }
}

TEST_F(KernelParity, SkinnyGemmRejectsBadArguments) {
  DeviceBuffer<uint16_t> w(64 * 64), x(64);
  DeviceBuffer<float> out(64 * 64);
  EXPECT_EQ(cudaErrorInvalidValue, SkinnyGemm(w.get(), x.get(), out.get(), 1, 64, 64, 1,
                                              DType::kBF16, nullptr, kSkinnyVariants));
  EXPECT_EQ(cudaErrorInvalidValue, SkinnyGemm(w.get(), x.get(), out.get(), 65, 64, 64, 1,
                                              DType::kBF16, nullptr, kSkinnyPipelined4));
  EXPECT_EQ(cudaErrorInvalidValue, SkinnyGemm(w.get(), x.get(), out.get(), 1, 64, 48, 1,
                                              DType::kBF16, nullptr, kSkinnyPipelined8));
  cudaGetLastError();
}

// SwiGLU fused into the down projection's activation load == SwiGlu then SkinnyGemm, bitwise.
TEST_F(KernelParity, SkinnyGemmSwiGluMatchesUnfused) {
  for (int m : {1, 3, 8}) {
    const int n = 300, k = 1024, gu_splits = 3;
    auto gu = RandomVec(rng_, size_t(gu_splits) * m * 2 * k, -3, 3);
    auto w = testing::ToBf16(RandomVec(rng_, size_t(n) * k));
    DeviceBuffer<float> dgu(gu);
    DeviceBuffer<__nv_bfloat16> dw(w), h(size_t(m) * k);
    const int splits = SkinnyGemmEffectiveSplits(m, k, 4);
    DeviceBuffer<float> fused(size_t(splits) * m * n), plain(size_t(splits) * m * n);
    fused.Poison();
    plain.Poison();
    CUDA_OK(SkinnyGemmSwiGlu(dw.get(), dgu.get(), gu_splits, fused.get(), m, n, k, 4, DType::kBF16,
                             nullptr));
    CUDA_OK(SwiGlu(dgu.get(), gu_splits, h.get(), DType::kBF16, m, k, nullptr));
    CUDA_OK(SkinnyGemm(dw.get(), h.get(), plain.get(), m, n, k, 4, DType::kBF16, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    EXPECT_EQ(fused.Download(), plain.Download()) << "m=" << m;
  }
}

TEST_F(KernelParity, EmbeddingGather) {
  const int vocab = 1000, dim = 300, rows = 17;
  auto table = testing::RoundBf16(RandomVec(rng_, size_t(vocab) * dim));
  std::vector<int32_t> tokens(rows);
  for (auto& t : tokens) t = std::uniform_int_distribution<int>(0, vocab - 1)(rng_);
  DeviceBuffer<__nv_bfloat16> dt(testing::ToBf16(table));
  DeviceBuffer<int32_t> dtok(tokens);
  DeviceBuffer<float> x(size_t(rows) * dim);
  x.Poison();
  CUDA_OK(EmbeddingGather(dt.get(), DType::kBF16, dtok.get(), x.get(), rows, dim, nullptr));
  std::vector<float> want(size_t(rows) * dim);
  ref::EmbeddingGather(table.data(), tokens.data(), want.data(), rows, dim);
  EXPECT_EQ(x.Download(), want);
}

// dim 2048 / 4096 / 4100 take the float4 path (4096 with no partials, as layer 0; 4100: more
// chunks than threads), 2050 the scalar one.
TEST_F(KernelParity, AddRmsNormWithSplitsAndRowMap) {
  for (auto [dim, splits] :
       {std::pair{2048, 3}, std::pair{4096, 0}, std::pair{4100, 17}, std::pair{2050, 5}}) {
    SCOPED_TRACE(::testing::Message() << "dim " << dim << " splits " << splits);
    AddRmsNormCase(dim, splits);
  }
}

void KernelParity::AddRmsNormCase(int dim, int splits) {
  const int rows = 9;
  auto x = RandomVec(rng_, size_t(rows) * dim, -3, 3);
  auto partials = RandomVec(rng_, size_t(splits) * rows * dim);
  auto weight = RandomVec(rng_, dim, 0.5, 1.5);
  std::vector<int32_t> map(rows);
  for (int r = 0; r < rows; ++r) map[r] = r % 3 == 2 ? r / 3 : -1;
  DeviceBuffer<float> dx(x), dp(partials), dw(weight), out(3 * dim);
  DeviceBuffer<int32_t> dmap(map);
  out.Poison();
  CUDA_OK(AddRmsNorm(dx.get(), dp.get(), splits, dw.get(), DType::kF32, out.get(), DType::kF32,
                     dmap.get(), rows, dim, 1e-5f, nullptr));
  std::vector<float> want(3 * dim);
  ref::AddRmsNorm(x.data(), partials.data(), splits, weight.data(), want.data(), map.data(), rows,
                  dim, 1e-5f);
  EXPECT_LT(RelErr(out.Download(), want), 1e-6);
  EXPECT_LT(RelErr(dx.Download(), x), 1e-7);
  // bf16 output, identity map, no partials.
  DeviceBuffer<__nv_bfloat16> ob(size_t(rows) * dim);
  ob.Poison();
  CUDA_OK(AddRmsNorm(dx.get(), nullptr, 0, dw.get(), DType::kF32, ob.get(), DType::kBF16, nullptr,
                     rows, dim, 1e-5f, nullptr));
  std::vector<float> want2(size_t(rows) * dim);
  ref::AddRmsNorm(x.data(), nullptr, 0, weight.data(), want2.data(), nullptr, rows, dim, 1e-5f);
  EXPECT_LT(RelErr(testing::FromBf16(ob.Download()), want2), 5e-3);
}

TEST_F(KernelParity, SwiGluAndArgmax) {
  const int rows = 7, ffn = 5632, splits = 2, vocab = 32000;
  auto partials = RandomVec(rng_, size_t(splits) * rows * 2 * ffn, -4, 4);
  DeviceBuffer<float> dp(partials), out(size_t(rows) * ffn);
  out.Poison();
  CUDA_OK(SwiGlu(dp.get(), splits, out.get(), DType::kF32, rows, ffn, nullptr));
  std::vector<float> want(size_t(rows) * ffn);
  ref::SwiGlu(partials.data(), splits, want.data(), rows, ffn);
  EXPECT_LT(RelErr(out.Download(), want), 1e-6);
  {  // ffn % 4 != 0: the scalar path
    const int f = 1001;
    auto p2 = RandomVec(rng_, size_t(3) * rows * 2 * f, -4, 4);
    DeviceBuffer<float> dp2(p2), out2(size_t(rows) * f);
    out2.Poison();
    CUDA_OK(SwiGlu(dp2.get(), 3, out2.get(), DType::kF32, rows, f, nullptr));
    std::vector<float> want2(size_t(rows) * f);
    ref::SwiGlu(p2.data(), 3, want2.data(), rows, f);
    EXPECT_LT(RelErr(out2.Download(), want2), 1e-6);
  }

  auto lp = RandomVec(rng_, size_t(splits) * rows * vocab, -10, 10);
  lp[5] = lp[777] = 50.f;  // tie in row 0 across splits 0: lowest id wins
  lp[size_t(rows) * vocab + 5] = lp[size_t(rows) * vocab + 777] = 0.f;
  DeviceBuffer<float> dl(lp), logits(size_t(rows) * vocab);
  DeviceBuffer<int32_t> am(rows);
  logits.Poison();
  am.Poison();
  CUDA_OK(LogitsArgmax(dl.get(), splits, logits.get(), am.get(), rows, vocab, nullptr));
  std::vector<float> wl(size_t(rows) * vocab);
  std::vector<int32_t> wa(rows);
  ref::LogitsArgmax(lp.data(), splits, wl.data(), wa.data(), rows, vocab);
  EXPECT_EQ(am.Download(), wa);
  EXPECT_EQ(wa[0], 5);
  EXPECT_LT(RelErr(logits.Download(), wl), 1e-7);
}

TEST_F(KernelParity, QkvEpilogueAllFeatureMaps) {
  const int rows = 6, heads = 8, kvh = 2, d = 128, splits = 2;
  const int width = (heads + 2 * kvh) * d;
  auto partials = RandomVec(rng_, size_t(splits) * rows * width);
  std::vector<int32_t> pos(rows);
  for (auto& p : pos) p = std::uniform_int_distribution<int>(0, 5000)(rng_);
  auto inv = ref::RopeInvFreq(d, 10000.f);
  DeviceBuffer<float> dp(partials);
  DeviceBuffer<double> dinv(inv);
  DeviceBuffer<int32_t> dpos(pos);
  for (auto fm : {FeatureMapKind::kL2Norm, FeatureMapKind::kElu1, FeatureMapKind::kRelu,
                  FeatureMapKind::kIdentity}) {
    for (bool rope : {true, false}) {
      DeviceBuffer<float> q(size_t(rows) * heads * d), k(size_t(rows) * kvh * d),
          v(size_t(rows) * kvh * d);
      q.Poison();
      k.Poison();
      v.Poison();
      CUDA_OK(QkvEpilogue(dp.get(), splits, dpos.get(), rope ? dinv.get() : nullptr, fm, q.get(),
                          k.get(), v.get(), rows, heads, kvh, d, nullptr));
      std::vector<float> wq(q.size()), wk(k.size()), wv(v.size());
      ref::QkvEpilogue(partials.data(), splits, pos.data(), rope ? inv.data() : nullptr, fm,
                       wq.data(), wk.data(), wv.data(), rows, heads, kvh, d);
      EXPECT_LT(RelErr(q.Download(), wq), 1e-5) << static_cast<int>(fm) << rope;
      EXPECT_LT(RelErr(k.Download(), wk), 1e-5);
      EXPECT_EQ(v.Download(), wv);
    }
  }
}

// The step's RoPE table holds (cos, sin) of every row's angles as the epilogues compute them in
// place: in double, rounded to float (a host libm may round the double result differently by
// an ulp, so at most one float ulp apart and almost all entries identical).
TEST_F(KernelParity, RopeTableMatchesDoubleAngles) {
  for (int d : {16, 128}) {
    const int rows = 37;
    std::vector<int32_t> pos(rows);
    for (auto& p : pos) p = std::uniform_int_distribution<int>(0, 1 << 20)(rng_);
    pos[0] = 0;
    const auto inv = ref::RopeInvFreq(d, 10000.f);
    DeviceBuffer<double> dinv(inv);
    DeviceBuffer<int32_t> dpos(pos);
    DeviceBuffer<float> table(size_t(rows) * d);  // [rows][d / 2] float2
    table.Poison();
    CUDA_OK(RopeTable(dpos.get(), dinv.get(), rows, d, reinterpret_cast<float2*>(table.get()),
                      nullptr));
    const std::vector<float> got = table.Download();
    size_t exact = 0;
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < d / 2; ++i) {
        const double a = static_cast<double>(pos[r]) * inv[i];
        const float want[2] = {static_cast<float>(std::cos(a)), static_cast<float>(std::sin(a))};
        for (int c = 0; c < 2; ++c) {
          const float g = got[(size_t(r) * d / 2 + i) * 2 + c];
          EXPECT_LE(std::abs(g - want[c]), 6e-8f) << "row " << r << " pair " << i << " c " << c;
          exact += g == want[c];
        }
      }
    }
    EXPECT_GE(exact, size_t(rows) * d * 99 / 100) << "d=" << d;
  }
  EXPECT_EQ(RopeTable(nullptr, nullptr, 1, 16, nullptr, nullptr), cudaErrorInvalidValue);
}

struct AttnCase {
  int heads, kv_heads, d, group, conv;
  bool normalize;
  bool fused = false;       // q/k/v from projection partials through the fused epilogue
  bool rope_table = false;  // fused: RoPE from the step's table (RopeTable), not in place
};

// Random slots and a random batch of sequences (decode, verify, draft appends, prefill chunks);
// compares outputs, S, z and the ring with the token-by-token CPU twin. column_split > 1 keeps
// prefill chunks ColumnSplitSafe (as the engine does).
// chunked: every sequence is a long committed chunk, run through LinearAttentionChunked.
// decode: every sequence is a one-token step (DecodeFastPathOk; a third of the committed ones
// complete their group and fold), run through LinearAttentionDecode; column_split is then its
// S ring depth (decode_stages).
void RunAttentionCase(std::mt19937& rng, const AttnCase& c, int column_split, bool defer = false,
                      bool chunked = false, bool decode = false) {
  const int slots = 6, max_pending = 9;
  const int ring = RingSizeFor(c.group, c.conv, max_pending);
  const int nseq = 5;
  const bool positive = c.normalize;
  std::vector<LinearAttentionSeq> seqs(nseq);
  std::vector<int> slot_perm = {0, 1, 2, 3, 4, 5};
  std::shuffle(slot_perm.begin(), slot_perm.end(), rng);
  int tokens = 0;
  auto U = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int b = 0; b < nseq; ++b) {
    LinearAttentionSeq& s = seqs[b];
    s.slot = slot_perm[b];
    const int committed = U(0, 300);
    const int fg = FoldGroup(c.group);  // slots fold whole groups (plain: kPlainSegment)
    s.fold_pos = std::max(0, (committed - U(0, 8)) / fg * fg);
    if (committed - s.fold_pos >= fg + max_pending) s.fold_pos += fg;
    // 0 decode, 1 verify, 2 draft append, 3 prefill
    const int kind = chunked ? 3 : decode ? 2 * U(0, 1) : U(0, 3);
    const int old_pending = kind == 2 ? U(1, 4) : 0;
    s.start_pos = committed + old_pending;
    s.num_new = kind == 0 ? 1 : kind == 1 ? U(2, 9) : kind == 2 ? 1 : U(2, 150);
    if (kind == 3 && s.fold_pos < committed && !chunked) s.num_new = U(2, 40);
    if (chunked) s.num_new = U(1, 320);
    if (decode) {  // one new token that completes no committed group
      if (kind == 0 && U(0, 2) == 0) s.start_pos = s.fold_pos + fg - 1;  // completes the group
      s.commit_pos = kind == 0 ? s.start_pos + 1 : committed;
      if (!DecodeFastPathOk(s, c.group, c.heads, c.kv_heads)) {
        --b;  // draw this sequence again
        continue;
      }
    }
    if (column_split > 1 && !defer) {
      s.num_new = std::min(s.num_new, ring - (s.start_pos - s.fold_pos));
    }
    s.commit_pos = (kind == 0 || kind == 3) ? s.start_pos + s.num_new : committed;
    s.token_offset = tokens;
    tokens += s.num_new;
  }
  const size_t dd = size_t(c.d) * c.d;
  auto rv = [&](size_t n) { return positive ? RandomVec(rng, n, 0.01f, 1.f) : RandomVec(rng, n); };
  auto state = RandomVec(rng, slots * c.kv_heads * dd);
  auto z = rv(size_t(slots) * c.kv_heads * c.d);
  auto ring_k = rv(size_t(slots) * ring * c.kv_heads * c.d);
  auto ring_v = RandomVec(rng, size_t(slots) * ring * c.kv_heads * c.d);
  auto conv = RandomVec(rng, size_t(c.kv_heads) * std::max(c.conv, 1));
  auto q = rv(size_t(tokens) * c.heads * c.d);
  auto k = rv(size_t(tokens) * c.kv_heads * c.d);
  auto v = RandomVec(rng, size_t(tokens) * c.kv_heads * c.d);
  // Scale like l2-normalized features so relu^2 weights stay O(1).
  const float scale = positive ? 1.f : 1.f / std::sqrt(float(c.d));
  for (auto* vec : {&q, &k, &ring_k}) {
    for (auto& x : *vec) x *= scale;
  }
  const int qkv_splits = 3, width = (c.heads + 2 * c.kv_heads) * c.d;
  std::vector<float> partials;
  std::vector<double> inv = ref::RopeInvFreq(c.d, 10000.f);
  const FeatureMapKind fm = positive ? FeatureMapKind::kElu1 : FeatureMapKind::kL2Norm;
  std::vector<int32_t> positions(tokens);
  for (const auto& sq : seqs)
    for (int i = 0; i < sq.num_new; ++i) positions[sq.token_offset + i] = sq.start_pos + i;
  if (c.fused) {
    partials = RandomVec(rng, size_t(qkv_splits) * tokens * width);
    ref::QkvEpilogue(partials.data(), qkv_splits, positions.data(), inv.data(), fm, q.data(),
                     k.data(), v.data(), tokens, c.heads, c.kv_heads, c.d);
  }

  DeviceBuffer<int32_t> dpositions(positions);
  DeviceBuffer<float> rope_table(size_t(tokens) * c.d);  // [tokens][d / 2] float2
  DeviceBuffer<LinearAttentionSeq> dseqs(seqs);
  DeviceBuffer<float> dpart(std::max<size_t>(partials.size(), 1));
  DeviceBuffer<double> dinv(inv);
  if (c.fused) dpart.Upload(partials);
  DeviceBuffer<float> dstate(state), dz(z), drk(ring_k), drv(ring_v), dconv(conv), dq(q), dk(k),
      dv(v), dout(size_t(tokens) * c.heads * c.d);
  dout.Poison();
  LinearAttentionParams p;
  p.num_seqs = nseq;
  p.heads = c.heads;
  p.kv_heads = c.kv_heads;
  p.head_dim = c.d;
  p.group_size = c.group;
  p.conv_taps = c.conv;
  p.ring_size = ring;
  p.normalize = c.normalize;
  p.global_scale = c.group > 0 ? 0.37f : 0.8f;
  p.out_dtype = DType::kF32;
  LinearAttentionParams hp = p;
  for (const auto& sq : seqs) ASSERT_TRUE(column_split == 1 || defer || ColumnSplitSafe(sq, ring));
  p.column_split = decode ? 1 : column_split;
  p.decode_stages = decode ? column_split : 0;  // decode: the S ring depth (0: default)
  p.defer_ring_write = defer;
  p.seqs = dseqs.get();
  p.state = dstate.get();
  p.z = c.normalize ? dz.get() : nullptr;
  p.ring_k = drk.get();
  p.ring_v = drv.get();
  p.conv_w = dconv.get();
  p.q = dq.get();
  p.k = dk.get();
  p.v = dv.get();
  p.out = dout.get();
  if (c.fused) {
    dq.Poison();
    dk.Poison();
    dv.Poison();
    p.qkv_partials = dpart.get();
    p.qkv_splits = qkv_splits;
    p.qkv_rows = tokens;
    p.inv_freq = dinv.get();
    p.feature_map = fm;
    if (c.rope_table) {
      rope_table.Poison();
      p.rope = reinterpret_cast<const float2*>(rope_table.get());
      CUDA_OK(RopeTable(dpositions.get(), p.inv_freq, tokens, c.d,
                        reinterpret_cast<float2*>(rope_table.get()), nullptr));
    }
  }
  if (chunked) {
    const int block = ChunkedBlockSize(c.group);
    std::vector<int32_t> block_seq, first_block;
    for (int b = 0; b < nseq; ++b) {
      first_block.push_back(static_cast<int32_t>(block_seq.size()));
      for (int j = 0; j < ChunkedNumBlocks(seqs[b], block); ++j) block_seq.push_back(b);
    }
    DeviceBuffer<int32_t> dbs(block_seq), dfb(first_block);
    DeviceBuffer<float> scratch(ChunkedScratchFloats(block_seq.size(), c.kv_heads, c.d));
    scratch.Poison();
    ChunkedAttention a;
    a.p = p;
    a.block_seq = dbs.get();
    a.seq_first_block = dfb.get();
    a.num_blocks = static_cast<int>(block_seq.size());
    a.scratch = scratch.get();
    CUDA_OK(LinearAttentionChunked(a, nullptr));
    CUDA_OK(LinearAttentionRingStore(p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
  } else if (decode) {
    CUDA_OK(LinearAttentionDecode(p, nullptr));
  } else {
    CUDA_OK(LinearAttentionStep(p, nullptr));
  }
  if (defer) {
    CUDA_OK(LinearAttentionRingStore(p, nullptr));
  }
  CUDA_OK(cudaDeviceSynchronize());

  std::vector<float> out(dout.size());
  hp.seqs = seqs.data();
  hp.state = state.data();
  hp.z = c.normalize ? z.data() : nullptr;
  hp.ring_k = ring_k.data();
  hp.ring_v = ring_v.data();
  hp.conv_w = conv.data();
  hp.q = q.data();
  hp.k = k.data();
  hp.v = v.data();
  hp.out = out.data();
  ref::LinearAttentionStep(hp);
  EXPECT_LT(RelErr(dout.Download(), out), 1e-5);
  EXPECT_LT(RelErr(dstate.Download(), state), 1e-6);
  if (c.normalize) {
    EXPECT_LT(RelErr(dz.Download(), z), 1e-6);
  }
  if (c.fused) {
    EXPECT_LT(RelErr(dq.Download(), q), 1e-5);
    EXPECT_LT(RelErr(dk.Download(), k), 1e-5);
    EXPECT_LT(RelErr(dv.Download(), v), 1e-6);
    EXPECT_LT(RelErr(drk.Download(), ring_k), 1e-5);
    EXPECT_LT(RelErr(drv.Download(), ring_v), 1e-6);
    return;
  }
  EXPECT_EQ(drk.Download(), ring_k);
  EXPECT_EQ(drv.Download(), ring_v);
}

TEST_F(KernelParity, LinearAttentionStepMatchesSequentialTwin) {
  const AttnCase cases[] = {
      {16, 16, 128, 0, 0, false},
      {4, 2, 64, 0, 0, true},
      {8, 8, 128, 64, 32, false},
      {8, 2, 128, 64, 16, false},
      {4, 4, 32, 4, 3, false},
      {6, 3, 16, 8, 0, false},
      {4, 1, 128, 0, 0, false},
      {2, 2, 64, 16, 5, false},
      {4, 2, 64, 0, 5, false},
      {8, 8, 128, 64, 32, false, true},
      {16, 16, 128, 0, 0, false, true},
      {4, 2, 64, 0, 0, true, true},
      {6, 3, 16, 8, 3, false, true},
      {16, 16, 128, 0, 0, false, true, true},
      {6, 3, 16, 8, 3, false, true, true},
  };
  for (int rep = 0; rep < 4; ++rep) {
    for (const AttnCase& c : cases) {
      const int split = std::min(1 << rep, c.d / 2);  // column blocks: 1, 2, 4, 8
      SCOPED_TRACE(::testing::Message()
                   << "H=" << c.heads << " KVH=" << c.kv_heads << " D=" << c.d << " G=" << c.group
                   << " C=" << c.conv << " norm=" << c.normalize << " fused=" << c.fused
                   << " table=" << c.rope_table << " rep=" << rep << " column_split=" << split);
      RunAttentionCase(rng_, c, split);
    }
  }
  // Long committed chunks through the chunk-parallel kernels (unfused cases: q/k/v given).
  for (int rep = 0; rep < 3; ++rep) {
    for (const AttnCase& c : cases) {
      if (c.fused || !ChunkedSupported(c.d, c.group)) continue;
      SCOPED_TRACE(::testing::Message() << "chunked H=" << c.heads << " KVH=" << c.kv_heads
                                        << " D=" << c.d << " G=" << c.group << " C=" << c.conv
                                        << " norm=" << c.normalize << " rep=" << rep);
      RunAttentionCase(rng_, c, 1, false, /*chunked=*/true);
    }
  }
  // One-token steps through the light decode kernel (fused cases: with its QKV epilogue), at
  // its default S ring depth and at 2, 3 and 4 stages.
  for (int rep = 0; rep < 4; ++rep) {
    for (const AttnCase& c : cases) {
      SCOPED_TRACE(::testing::Message()
                   << "decode H=" << c.heads << " KVH=" << c.kv_heads << " D=" << c.d << " G="
                   << c.group << " C=" << c.conv << " norm=" << c.normalize << " fused=" << c.fused
                   << " table=" << c.rope_table << " stages=" << (rep == 0 ? 0 : rep + 1));
      RunAttentionCase(rng_, c, rep == 0 ? 0 : rep + 1, false, false, /*decode=*/true);
    }
  }
  // Long prefill chunks split over column blocks with the ring written afterwards.
  for (int rep = 0; rep < 2; ++rep) {
    for (const AttnCase& c : cases) {
      const int split = std::min(rep == 0 ? 2 : 8, c.d / 2);
      SCOPED_TRACE(::testing::Message()
                   << "deferred ring write H=" << c.heads << " D=" << c.d << " G=" << c.group
                   << " C=" << c.conv << " fused=" << c.fused << " column_split=" << split);
      RunAttentionCase(rng_, c, split, /*defer=*/true);
    }
  }
}

}  // namespace
}  // namespace linspec::kernels
