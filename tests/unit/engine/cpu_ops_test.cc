// Each CPU op against a naive float64 reference (tests/unit/engine/reference_model.h), and
// the thread pool. Randomized, seeds printed.
#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "engine/cpu/ops.h"
#include "engine/cpu/thread_pool.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/reference_model.h"
#include "tests/unit/engine/test_util.h"

namespace linspec::engine::cpu {
namespace {

using ::linspec::engine::testing::TestSeed;

class CpuOpsTest : public ::testing::Test {
 protected:
  void SetUp() override { rng_.seed(TestSeed("CpuOpsTest")); }
  std::vector<float> Random(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = nd(rng_);
    return v;
  }
  int RandInt(int lo, int hi) { return lo + static_cast<int>(rng_() % (hi - lo + 1)); }
  std::mt19937_64 rng_;
};

// |got - want| <= tol * (1 + |want|)
void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << "index " << i;
  }
}

TEST_F(CpuOpsTest, Dot) {
  for (int iter = 0; iter < 50; ++iter) {
    const int n = RandInt(0, 70);
    auto a = Random(n), b = Random(n);
    double want = 0;
    for (int i = 0; i < n; ++i) want += double{a[i]} * b[i];
    EXPECT_NEAR(Dot(a.data(), b.data(), n), want, 1e-5 * (1 + n)) << n;
  }
}

TEST_F(CpuOpsTest, RmsNorm) {
  const int rows = RandInt(1, 5), n = RandInt(1, 90);
  auto x = Random(rows * n, 3.0f), w = Random(n);
  std::vector<float> out(rows * n);
  RmsNorm(x.data(), w.data(), rows, n, 1e-5f, out.data());
  std::vector<double> want;
  for (int r = 0; r < rows; ++r) {
    std::vector<double> xr(x.begin() + r * n, x.begin() + (r + 1) * n);
    for (double v : testing::RefRmsNorm(xr, testing::ToDouble(w), 1e-5)) want.push_back(v);
  }
  ExpectNear(out, want, 1e-5);
  RmsNorm(x.data(), w.data(), rows, n, 1e-5f, x.data());  // in place
  EXPECT_EQ(x, out);
}

TEST_F(CpuOpsTest, LinearMatchesNaive) {
  for (int iter = 0; iter < 10; ++iter) {
    const int rows = RandInt(1, 17), in = RandInt(1, 70), out = RandInt(1, 50);
    auto x = Random(rows * in), w = Random(out * in);
    std::vector<float> y(rows * out);
    Linear(x.data(), rows, in, w.data(), out, y.data());
    testing::Mat xm(rows);
    for (int r = 0; r < rows; ++r) xm[r].assign(x.begin() + r * in, x.begin() + (r + 1) * in);
    const testing::Mat want = testing::RefLinear(xm, testing::ToDouble(w), out);
    std::vector<double> flat;
    for (const auto& r : want) flat.insert(flat.end(), r.begin(), r.end());
    ExpectNear(y, flat, 1e-5 * in);
  }
}

TEST_F(CpuOpsTest, RopeHuggingFaceConvention) {
  for (int iter = 0; iter < 20; ++iter) {
    const int d = 2 * RandInt(1, 40);
    const int64_t pos = iter < 10 ? RandInt(0, 100) : RandInt(0, 1000000);
    const float theta = iter % 2 ? 10000.0f : 500000.0f;
    auto x = Random(d);
    std::vector<double> want(x.begin(), x.end());
    testing::RefRope(want.data(), d, static_cast<long>(pos), theta);
    std::vector<float> cs(d / 2), sn(d / 2);
    RopeCosSin(pos, d, theta, cs.data(), sn.data());
    ApplyRope(x.data(), d, cs.data(), sn.data());
    ExpectNear(x, want, 1e-6);
  }
  // Position 0 is the identity.
  auto x = Random(8);
  auto y = x;
  std::vector<float> cs(4), sn(4);
  RopeCosSin(0, 8, 10000.0f, cs.data(), sn.data());
  ApplyRope(y.data(), 8, cs.data(), sn.data());
  EXPECT_EQ(x, y);
}

TEST_F(CpuOpsTest, FeatureMaps) {
  for (FeatureMap f :
       {FeatureMap::kL2Norm, FeatureMap::kElu1, FeatureMap::kRelu, FeatureMap::kIdentity}) {
    const int d = RandInt(1, 70);
    auto x = Random(d, 2.0f);
    std::vector<double> want(x.begin(), x.end());
    testing::RefFeatureMap(f, want.data(), d);
    ApplyFeatureMap(f, x.data(), d);
    ExpectNear(x, want, 1e-6);
  }
  std::vector<float> zero(16, 0.0f);
  ApplyFeatureMap(FeatureMap::kL2Norm, zero.data(), 16);  // no NaN for a zero vector
  for (float v : zero) EXPECT_EQ(v, 0.0f);
}

TEST_F(CpuOpsTest, SwiGlu) {
  const int rows = RandInt(1, 4), inter = RandInt(1, 40);
  auto gu = Random(rows * 2 * inter, 3.0f);
  std::vector<float> out(rows * inter);
  SwiGlu(gu.data(), rows, inter, out.data());
  std::vector<double> want;
  for (int r = 0; r < rows; ++r) {
    for (int j = 0; j < inter; ++j) {
      const double g = gu[r * 2 * inter + j], u = gu[r * 2 * inter + inter + j];
      want.push_back(g / (1 + std::exp(-g)) * u);
    }
  }
  ExpectNear(out, want, 1e-6);
}

TEST_F(CpuOpsTest, OuterProductAndVecMat) {
  const int d = RandInt(1, 40);
  auto s = Random(d * d), k = Random(d), v = Random(d), q = Random(d);
  std::vector<double> ws(s.begin(), s.end());
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j < d; ++j) ws[i * d + j] += double{k[i]} * v[j];
  }
  AddOuter(s.data(), k.data(), v.data(), d);
  ExpectNear(s, ws, 1e-6);
  std::vector<float> out(d);
  VecMat(q.data(), s.data(), d, out.data());
  std::vector<double> want(d, 0.0);
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j < d; ++j) want[j] += double{q[i]} * s[i * d + j];
  }
  ExpectNear(out, want, 1e-5 * d);
}

TEST_F(CpuOpsTest, Argmax) {
  std::vector<float> x = {1, 3, 3, -1};
  EXPECT_EQ(Argmax(x.data(), 4), 1);  // lowest index on ties
  std::vector<float> n = {NAN, 2, NAN, 5};
  EXPECT_EQ(Argmax(n.data(), 4), 3);
  auto r = Random(1000);
  EXPECT_EQ(Argmax(r.data(), 1000), std::max_element(r.begin(), r.end()) - r.begin());
}

TEST(ThreadPoolTest, EveryIndexOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 7, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      pool.ParallelFor(n, [&](int64_t i) { hits[i].fetch_add(1); });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1);
    }
  }
}

}  // namespace
}  // namespace linspec::engine::cpu
