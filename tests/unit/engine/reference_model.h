// A naive float64 implementation of the linear_llama forward pass, written straight from the
// formulas of DESIGN.md §2 (O(n²) sums over positions, no state, no chunking). The engine
// tests compare every backend against it.
#ifndef LINSPEC_TESTS_UNIT_ENGINE_REFERENCE_MODEL_H_
#define LINSPEC_TESTS_UNIT_ENGINE_REFERENCE_MODEL_H_

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/model_config.h"
#include "engine/weights.h"

namespace linspec::engine::testing {

using Mat = std::vector<std::vector<double>>;  // [rows][cols]

inline std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// y[r][o] = Σ_i x[r][i] w[o * in + i]
inline Mat RefLinear(const Mat& x, const std::vector<double>& w, int out) {
  Mat y(x.size(), std::vector<double>(out, 0.0));
  for (size_t r = 0; r < x.size(); ++r) {
    const int in = static_cast<int>(x[r].size());
    for (int o = 0; o < out; ++o) {
      double s = 0;
      for (int i = 0; i < in; ++i) s += x[r][i] * w[static_cast<size_t>(o) * in + i];
      y[r][o] = s;
    }
  }
  return y;
}

inline std::vector<double> RefRmsNorm(const std::vector<double>& x, const std::vector<double>& w,
                                      double eps) {
  double ms = 0;
  for (double v : x) ms += v * v;
  ms /= static_cast<double>(x.size());
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(ms + eps) * w[i];
  return y;
}

inline void RefRope(double* x, int d, long pos, double theta) {
  const int half = d / 2;
  for (int i = 0; i < half; ++i) {
    const double ang = static_cast<double>(pos) * std::pow(theta, -2.0 * i / d);
    const double a = x[i], b = x[i + half];
    x[i] = a * std::cos(ang) - b * std::sin(ang);
    x[i + half] = b * std::cos(ang) + a * std::sin(ang);
  }
}

inline void RefFeatureMap(FeatureMap f, double* x, int d) {
  if (f == FeatureMap::kL2Norm) {
    double n = 0;
    for (int i = 0; i < d; ++i) n += x[i] * x[i];
    n = std::max(std::sqrt(n), 1e-12);
    for (int i = 0; i < d; ++i) x[i] /= n;
  } else if (f == FeatureMap::kElu1) {
    for (int i = 0; i < d; ++i) x[i] = x[i] > 0 ? x[i] + 1 : std::exp(x[i]);
  } else if (f == FeatureMap::kRelu) {
    for (int i = 0; i < d; ++i) x[i] = std::max(x[i], 0.0);
  }
}

inline double RefDot(const double* a, const double* b, int d) {
  double s = 0;
  for (int i = 0; i < d; ++i) s += a[i] * b[i];
  return s;
}

// Attention output of one query head at position t. q: [n][heads*d] etc. (after RoPE/φ).
inline void RefHead(const ModelConfig& c, const Mat& q, const Mat& k, const Mat& v, int head, int t,
                    const std::vector<double>& conv, double gamma, double* out) {
  const int d = c.head_dim, kvh = head / (c.num_attention_heads / c.num_key_value_heads);
  const LinearAttentionConfig& la = c.linear_attention;
  const double* qt = &q[t][head * d];
  std::vector<double> o(d, 0.0);
  if (la.group_size > 0) {
    const int gs = t - t % la.group_size;
    for (int s = 0; s <= t; ++s) {
      const double a = RefDot(qt, &k[s][kvh * d], d);
      const double w = s >= gs ? std::pow(std::max(a, 0.0), 2) : gamma * a;
      for (int j = 0; j < d; ++j) o[j] += w * v[s][kvh * d + j];
    }
  } else {
    double den = 0;
    for (int s = 0; s <= t; ++s) {
      const double a = RefDot(qt, &k[s][kvh * d], d);
      den += a;
      for (int j = 0; j < d; ++j) o[j] += a * v[s][kvh * d + j];
    }
    for (int j = 0; j < d; ++j) {
      o[j] = gamma * (la.normalize ? o[j] / std::max(den, double{kNormalizeEps}) : o[j]);
    }
  }
  const int C = la.conv_taps;
  for (int jj = 0; jj < C; ++jj) {
    const int s = t - C + 1 + jj;
    if (s < 0) continue;
    for (int j = 0; j < d; ++j) o[j] += conv[kvh * C + jj] * v[s][kvh * d + j];
  }
  std::copy(o.begin(), o.end(), out);
}

// Logits [n][vocab] for every position of tokens.
inline Mat ReferenceLogits(const ModelWeights& w, const std::vector<int>& tokens) {
  const ModelConfig& c = w.config();
  const int n = static_cast<int>(tokens.size()), H = c.hidden_size, d = c.head_dim;
  const int heads = c.num_attention_heads, kv = c.num_key_value_heads;
  const std::vector<double> embed = ToDouble(w.ModelTensorF32(ModelTensor::kEmbed));
  Mat x(n, std::vector<double>(H));
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < H; ++i) x[t][i] = embed[static_cast<size_t>(tokens[t]) * H + i];
  }
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    auto W = [&](LayerTensor t) { return ToDouble(w.LayerTensorF32(l, t)); };
    const std::vector<double> in_norm = W(LayerTensor::kInputNorm);
    Mat h(n);
    for (int t = 0; t < n; ++t) h[t] = RefRmsNorm(x[t], in_norm, c.rms_norm_eps);
    Mat q = RefLinear(h, W(LayerTensor::kQProj), heads * d);
    Mat k = RefLinear(h, W(LayerTensor::kKProj), kv * d);
    Mat v = RefLinear(h, W(LayerTensor::kVProj), kv * d);
    for (int t = 0; t < n; ++t) {
      for (int hh = 0; hh < heads; ++hh) {
        if (c.linear_attention.rope) RefRope(&q[t][hh * d], d, t, c.rope_theta);
        RefFeatureMap(c.linear_attention.feature_map, &q[t][hh * d], d);
      }
      for (int hh = 0; hh < kv; ++hh) {
        if (c.linear_attention.rope) RefRope(&k[t][hh * d], d, t, c.rope_theta);
        RefFeatureMap(c.linear_attention.feature_map, &k[t][hh * d], d);
      }
    }
    const std::vector<double> conv =
        c.linear_attention.conv_taps > 0 ? W(LayerTensor::kConv) : std::vector<double>();
    const double gamma = c.linear_attention.global_factor ? W(LayerTensor::kGlobalFactor)[0] : 1.0;
    Mat attn(n, std::vector<double>(heads * d));
    for (int t = 0; t < n; ++t) {
      for (int hh = 0; hh < heads; ++hh) RefHead(c, q, k, v, hh, t, conv, gamma, &attn[t][hh * d]);
    }
    Mat o = RefLinear(attn, W(LayerTensor::kOProj), H);
    const std::vector<double> post = W(LayerTensor::kPostAttnNorm);
    for (int t = 0; t < n; ++t) {
      for (int i = 0; i < H; ++i) x[t][i] += o[t][i];
      h[t] = RefRmsNorm(x[t], post, c.rms_norm_eps);
    }
    const int I = c.intermediate_size;
    Mat g = RefLinear(h, W(LayerTensor::kGateProj), I);
    Mat u = RefLinear(h, W(LayerTensor::kUpProj), I);
    for (int t = 0; t < n; ++t) {
      for (int j = 0; j < I; ++j) g[t][j] = g[t][j] / (1.0 + std::exp(-g[t][j])) * u[t][j];
    }
    Mat down = RefLinear(g, W(LayerTensor::kDownProj), H);
    for (int t = 0; t < n; ++t) {
      for (int i = 0; i < H; ++i) x[t][i] += down[t][i];
    }
  }
  const std::vector<double> fnorm = ToDouble(w.ModelTensorF32(ModelTensor::kFinalNorm));
  for (int t = 0; t < n; ++t) x[t] = RefRmsNorm(x[t], fnorm, c.rms_norm_eps);
  return RefLinear(x, ToDouble(w.ModelTensorF32(ModelTensor::kLmHead)), c.vocab_size);
}

}  // namespace linspec::engine::testing

#endif  // LINSPEC_TESTS_UNIT_ENGINE_REFERENCE_MODEL_H_
