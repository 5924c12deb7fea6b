#include "engine/cpu/ops.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

namespace linspec::engine::cpu {

float Dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void RmsNorm(const float* x, const float* w, int64_t rows, int n, float eps, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    const float ms = Dot(xr, xr, n) / static_cast<float>(n);
    const float inv = 1.0f / std::sqrt(ms + eps);
    for (int i = 0; i < n; ++i) o[i] = xr[i] * inv * w[i];
  }
}

// sgemm packs the whole weight matrix on every call; for a few rows (decode of small
// batches) a matrix-vector product per row reads the weights without that copy and is
// 2-3x faster (bench/results/cpu_engine.json).
constexpr int64_t kGemvMaxRows = 4;

void Linear(const float* x, int64_t rows, int in, const float* w, int out, float* y) {
  if (rows == 0) return;
  if (rows <= kGemvMaxRows) {
    for (int64_t r = 0; r < rows; ++r) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x + r * in, 1, 0.0f,
                  y + r * out, 1);
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), out, in, 1.0f, x, in,
              w, in, 0.0f, y, out);
}

void RopeCosSin(int64_t pos, int d, float theta, float* cos_out, float* sin_out) {
  const int half = d / 2;
  for (int i = 0; i < half; ++i) {
    const double inv_freq = std::pow(static_cast<double>(theta), -2.0 * i / d);
    const double angle = static_cast<double>(pos) * inv_freq;
    cos_out[i] = static_cast<float>(std::cos(angle));
    sin_out[i] = static_cast<float>(std::sin(angle));
  }
}

void ApplyRope(float* x, int d, const float* cos_t, const float* sin_t) {
  const int half = d / 2;
  for (int i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cos_t[i] - b * sin_t[i];
    x[i + half] = b * cos_t[i] + a * sin_t[i];
  }
}

void ApplyFeatureMap(FeatureMap f, float* x, int d) {
  switch (f) {
    case FeatureMap::kL2Norm: {
      const float norm = std::max(std::sqrt(Dot(x, x, d)), kL2NormMinNorm);
      for (int i = 0; i < d; ++i) x[i] = x[i] / norm;
      break;
    }
    case FeatureMap::kElu1:
      for (int i = 0; i < d; ++i) x[i] = x[i] > 0.0f ? x[i] + 1.0f : std::exp(x[i]);
      break;
    case FeatureMap::kRelu:
      for (int i = 0; i < d; ++i) x[i] = std::max(x[i], 0.0f);
      break;
    case FeatureMap::kIdentity:
      break;
  }
}

void SwiGlu(const float* gu, int64_t rows, int inter, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gu + r * 2 * inter;
    const float* u = g + inter;
    float* o = out + r * inter;
    for (int j = 0; j < inter; ++j) o[j] = g[j] / (1.0f + std::exp(-g[j])) * u[j];
  }
}

void AddOuter(float* s, const float* k, const float* v, int d) {
  for (int i = 0; i < d; ++i) {
    float* row = s + static_cast<int64_t>(i) * d;
    const float ki = k[i];
    for (int j = 0; j < d; ++j) row[j] += ki * v[j];
  }
}

void VecMat(const float* q, const float* s, int d, float* out) {
  std::fill(out, out + d, 0.0f);
  for (int i = 0; i < d; ++i) {
    const float* row = s + static_cast<int64_t>(i) * d;
    const float qi = q[i];
    for (int j = 0; j < d; ++j) out[j] += qi * row[j];
  }
}

int Argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (x[i] > x[best] || (std::isnan(x[best]) && !std::isnan(x[i]))) best = i;
  }
  return best;
}

}  // namespace linspec::engine::cpu
