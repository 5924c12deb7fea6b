#include "kernels/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace linspec::kernels::ref {
namespace {

float Sum(const float* partials, int splits, size_t stride, size_t idx) {
  float s = 0.f;
  for (int i = 0; i < splits; ++i) s += partials[i * stride + idx];
  return s;
}

float Feature(FeatureMapKind fm, float x) {
  switch (fm) {
    case FeatureMapKind::kElu1:
      return x > 0.f ? x + 1.f : std::exp(x);
    case FeatureMapKind::kRelu:
      return std::max(x, 0.f);
    default:
      return x;
  }
}

}  // namespace

void EmbeddingGather(const float* table, const int32_t* tokens, float* x, int rows, int dim) {
  for (int r = 0; r < rows; ++r) {
    std::memcpy(x + static_cast<size_t>(r) * dim, table + static_cast<size_t>(tokens[r]) * dim,
                sizeof(float) * dim);
  }
}

void AddRmsNorm(float* x, const float* partials, int splits, const float* weight, float* out,
                const int32_t* out_row_map, int rows, int dim, float eps) {
  const size_t stride = static_cast<size_t>(rows) * dim;
  for (int r = 0; r < rows; ++r) {
    float* xr = x + static_cast<size_t>(r) * dim;
    double ss = 0;
    for (int i = 0; i < dim; ++i) {
      if (splits > 0) xr[i] += Sum(partials, splits, stride, static_cast<size_t>(r) * dim + i);
      ss += static_cast<double>(xr[i]) * xr[i];
    }
    const int orow = out_row_map ? out_row_map[r] : r;
    if (orow < 0) continue;
    const float inv = 1.f / std::sqrt(static_cast<float>(ss / dim) + eps);
    for (int i = 0; i < dim; ++i)
      out[static_cast<size_t>(orow) * dim + i] = xr[i] * inv * weight[i];
  }
}

void SwiGlu(const float* partials, int splits, float* out, int rows, int ffn) {
  const size_t stride = static_cast<size_t>(rows) * 2 * ffn;
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < ffn; ++i) {
      const float g = Sum(partials, splits, stride, static_cast<size_t>(r) * 2 * ffn + i);
      const float u = Sum(partials, splits, stride, static_cast<size_t>(r) * 2 * ffn + ffn + i);
      out[static_cast<size_t>(r) * ffn + i] = g / (1.f + std::exp(-g)) * u;
    }
  }
}

void LogitsArgmax(const float* partials, int splits, float* logits_out, int32_t* argmax_out,
                  int rows, int vocab) {
  const size_t stride = static_cast<size_t>(rows) * vocab;
  for (int r = 0; r < rows; ++r) {
    float best = -std::numeric_limits<float>::infinity();
    int bi = 0;
    bool any = false;
    for (int i = 0; i < vocab; ++i) {
      const size_t idx = static_cast<size_t>(r) * vocab + i;
      const float v = Sum(partials, splits, stride, idx);
      if (logits_out) logits_out[idx] = v;
      if (!any || v > best) {
        if (v == v) {
          best = v;
          bi = i;
          any = true;
        }
      }
    }
    argmax_out[r] = bi;
  }
}

void Gemm(const float* w, const float* x, float* out, int m, int n, int k) {
  for (int r = 0; r < m; ++r) {
    for (int c = 0; c < n; ++c) {
      double acc = 0;
      for (int i = 0; i < k; ++i) {
        acc += static_cast<double>(x[static_cast<size_t>(r) * k + i]) *
               w[static_cast<size_t>(c) * k + i];
      }
      out[static_cast<size_t>(r) * n + c] = static_cast<float>(acc);
    }
  }
}

void QkvEpilogue(const float* partials, int splits, const int32_t* positions,
                 const double* inv_freq, FeatureMapKind feature_map, float* q_out, float* k_out,
                 float* v_out, int rows, int heads, int kv_heads, int head_dim) {
  const int width = (heads + 2 * kv_heads) * head_dim, half = head_dim / 2;
  const size_t stride = static_cast<size_t>(rows) * width;
  std::vector<float> x(head_dim);
  for (int r = 0; r < rows; ++r) {
    for (int h = 0; h < heads + 2 * kv_heads; ++h) {
      for (int i = 0; i < head_dim; ++i) {
        x[i] = Sum(partials, splits, stride, static_cast<size_t>(r) * width + h * head_dim + i);
      }
      float* dst;
      if (h >= heads + kv_heads) {
        dst = v_out + (static_cast<size_t>(r) * kv_heads + h - heads - kv_heads) * head_dim;
        std::copy(x.begin(), x.end(), dst);
        continue;
      }
      dst = h < heads ? q_out + (static_cast<size_t>(r) * heads + h) * head_dim
                      : k_out + (static_cast<size_t>(r) * kv_heads + h - heads) * head_dim;
      if (inv_freq) {
        for (int i = 0; i < half; ++i) {
          const double angle = static_cast<double>(positions[r]) * inv_freq[i];
          const float c = static_cast<float>(std::cos(angle)),
                      s = static_cast<float>(std::sin(angle));
          const float a = x[i], b = x[i + half];
          x[i] = a * c - b * s;
          x[i + half] = b * c + a * s;
        }
      }
      if (feature_map == FeatureMapKind::kL2Norm) {
        double ss = 0;
        for (float v : x) ss += static_cast<double>(v) * v;
        const float inv = 1.f / std::max(static_cast<float>(std::sqrt(ss)), 1e-12f);
        for (float& v : x) v *= inv;
      } else {
        for (float& v : x) v = Feature(feature_map, v);
      }
      std::copy(x.begin(), x.end(), dst);
    }
  }
}

std::vector<double> RopeInvFreq(int head_dim, float theta) {
  std::vector<double> f(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) {
    f[i] = std::pow(static_cast<double>(theta), -2.0 * i / head_dim);
  }
  return f;
}

namespace {

// One (sequence, kv head) of LinearAttentionStep, token by token.
void AttentionHead(const LinearAttentionParams& p, const LinearAttentionSeq& sq, int h) {
  const int d = p.head_dim, qpk = p.heads / p.kv_heads, r = p.ring_size;
  const size_t dd = static_cast<size_t>(d) * d;
  auto kv = [&](const float* ring, const float* fresh, int pos) {
    if (pos < sq.start_pos) {
      return ring + ((static_cast<size_t>(sq.slot) * r + pos % r) * p.kv_heads + h) * d;
    }
    return fresh + (static_cast<size_t>(sq.token_offset + pos - sq.start_pos) * p.kv_heads + h) * d;
  };
  float* state = p.state + (static_cast<size_t>(sq.slot) * p.kv_heads + h) * dd;
  float* zst = p.z ? p.z + (static_cast<size_t>(sq.slot) * p.kv_heads + h) * d : nullptr;
  std::vector<float> s(state, state + dd), z(d, 0.f);
  if (zst) z.assign(zst, zst + d);
  std::vector<float> s_store = s, z_store = z;
  const int end = sq.start_pos + sq.num_new;
  const int64_t fold_after = FoldPosAfter(sq.fold_pos, sq.commit_pos, p.group_size);
  float* out = static_cast<float*>(p.out);
  auto add_outer = [&](std::vector<float>& m, const float* k, const float* v) {
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) m[static_cast<size_t>(i) * d + j] += k[i] * v[j];
  };
  for (int pos = sq.fold_pos; pos < end; ++pos) {
    const float* k = kv(p.ring_k, p.k, pos);
    const float* v = kv(p.ring_v, p.v, pos);
    if (p.group_size > 0) {
      if (pos % p.group_size == 0 && pos > sq.fold_pos) {  // the previous group completes
        for (int src = pos - p.group_size; src < pos; ++src) {
          add_outer(s, kv(p.ring_k, p.k, src), kv(p.ring_v, p.v, src));
        }
        if (pos <= sq.commit_pos) s_store = s;
      }
    } else {
      add_outer(s, k, v);
      for (int i = 0; i < d; ++i) z[i] += k[i];
      if (pos < fold_after) {  // plain folds whole committed groups of kPlainSegment
        s_store = s;
        z_store = z;
      }
    }
    if (pos < sq.start_pos) continue;
    for (int qq = 0; qq < qpk; ++qq) {
      const int hq = h * qpk + qq;
      const float* q =
          p.q + (static_cast<size_t>(sq.token_offset + pos - sq.start_pos) * p.heads + hq) * d;
      float* o =
          out + (static_cast<size_t>(sq.token_offset + pos - sq.start_pos) * p.heads + hq) * d;
      std::vector<double> acc(d, 0.0);
      for (int i = 0; i < d; ++i)
        for (int j = 0; j < d; ++j)
          acc[j] += static_cast<double>(q[i]) * s[static_cast<size_t>(i) * d + j];
      if (p.group_size > 0) {
        for (int j = 0; j < d; ++j) acc[j] *= p.global_scale;
        for (int src = pos / p.group_size * p.group_size; src <= pos; ++src) {
          const float* ks = kv(p.ring_k, p.k, src);
          const float* vs = kv(p.ring_v, p.v, src);
          double dot = 0;
          for (int i = 0; i < d; ++i) dot += static_cast<double>(q[i]) * ks[i];
          const double w = dot > 0 ? dot * dot : 0.0;
          for (int j = 0; j < d; ++j) acc[j] += w * vs[j];
        }
      } else {
        for (int j = 0; j < d; ++j) acc[j] *= p.global_scale;
        if (p.normalize) {
          double den = 0;
          for (int i = 0; i < d; ++i) den += static_cast<double>(q[i]) * z[i];
          den = std::max(den, 1e-6);
          for (int j = 0; j < d; ++j) acc[j] /= den;
        }
      }
      for (int c = 0; c < p.conv_taps; ++c) {
        const int src = pos - p.conv_taps + 1 + c;
        if (src < 0) continue;
        const float* vs = kv(p.ring_v, p.v, src);
        for (int j = 0; j < d; ++j) {
          acc[j] += static_cast<double>(p.conv_w[h * p.conv_taps + c]) * vs[j];
        }
      }
      for (int j = 0; j < d; ++j) o[j] = static_cast<float>(acc[j]);
    }
  }
  // Augmented: a group that ends exactly at `end` completes only when position `end` arrives;
  // the kernel folds it now if it is committed, which is the same state.
  if (p.group_size > 0 && end % p.group_size == 0 && end > sq.fold_pos && end <= sq.commit_pos) {
    for (int src = end - p.group_size; src < end; ++src) {
      add_outer(s, kv(p.ring_k, p.k, src), kv(p.ring_v, p.v, src));
    }
    s_store = s;
  }
  std::copy(s_store.begin(), s_store.end(), state);
  if (zst) std::copy(z_store.begin(), z_store.end(), zst);
}

}  // namespace

void LinearAttentionStep(const LinearAttentionParams& p) {
  for (int b = 0; b < p.num_seqs; ++b) {
    for (int h = 0; h < p.kv_heads; ++h) AttentionHead(p, p.seqs[b], h);
  }
  // Ring writes after every read (the kernel orders them the same way).
  const int d = p.head_dim;
  for (int b = 0; b < p.num_seqs; ++b) {
    const LinearAttentionSeq& sq = p.seqs[b];
    const int end = sq.start_pos + sq.num_new;
    for (int pos = std::max(sq.start_pos, end - p.ring_size); pos < end; ++pos) {
      for (int h = 0; h < p.kv_heads; ++h) {
        const size_t src =
            (static_cast<size_t>(sq.token_offset + pos - sq.start_pos) * p.kv_heads + h) * d;
        const size_t dst =
            ((static_cast<size_t>(sq.slot) * p.ring_size + pos % p.ring_size) * p.kv_heads + h) * d;
        std::copy(p.k + src, p.k + src + d, p.ring_k + dst);
        std::copy(p.v + src, p.v + src + d, p.ring_v + dst);
      }
    }
  }
}

}  // namespace linspec::kernels::ref
