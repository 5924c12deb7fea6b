// fp32 building blocks of the CPU backend. Each is the CPU twin of a CUDA op and is tested
// against a float64 reference. All loops run in a fixed order (no reassociation), so an op
// gives bit-identical results for the same inputs wherever it is called from; this is what
// makes verify == sequential exact on the CPU.
// Thread-safety: pure functions on caller-owned buffers.
#ifndef LINSPEC_ENGINE_CPU_OPS_H_
#define LINSPEC_ENGINE_CPU_OPS_H_

#include <cstdint>

#include "engine/model_config.h"

namespace linspec::engine::cpu {

// Dot product with 8 interleaved partial sums combined pairwise (fixed order).
float Dot(const float* a, const float* b, int n);

// out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w. x: [rows, n]; out may alias x.
void RmsNorm(const float* x, const float* w, int64_t rows, int n, float eps, float* out);

// y = x · wᵀ. x: [rows, in], w: [out, in] (Hugging Face layout), y: [rows, out]. OpenBLAS
// (sgemv per row for up to 4 rows, sgemm above).
void Linear(const float* x, int64_t rows, int in, const float* w, int out, float* y);

// RoPE tables of one position: cos/sin of pos * theta^(-2i/d), i < d/2, computed in double.
void RopeCosSin(int64_t pos, int d, float theta, float* cos_out, float* sin_out);
// Hugging Face rotate_half convention on one head vector x[d]:
// x'[i] = x[i] cos - x[i+d/2] sin, x'[i+d/2] = x[i+d/2] cos + x[i] sin.
void ApplyRope(float* x, int d, const float* cos_t, const float* sin_t);

// φ in place on one head vector (see model_config.h for the definitions).
void ApplyFeatureMap(FeatureMap f, float* x, int d);

// out[r, j] = silu(gu[r, j]) * gu[r, inter + j]. gu: [rows, 2*inter] (gate | up).
void SwiGlu(const float* gu, int64_t rows, int inter, float* out);

// Outer-product accumulate: s[i, j] += k[i] * v[j] (s: [d, d]).
void AddOuter(float* s, const float* k, const float* v, int d);

// out[j] = Σ_i q[i] * s[i, j], i ascending.
void VecMat(const float* q, const float* s, int d, float* out);

// Index of the largest value (lowest index on ties; NaN never wins).
int Argmax(const float* x, int n);

}  // namespace linspec::engine::cpu

#endif  // LINSPEC_ENGINE_CPU_OPS_H_
