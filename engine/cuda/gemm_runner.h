// Chooses and runs the GEMM of each projection: out = x[m, k] . w[n, k]^T as fp32 split-K
// partials [splits, m, n] (consumers sum the splits). Up to 64 rows with bf16/fp16 weights use
// kernels::SkinnyGemm with a kernel variant and split count tuned per (n, k, row bucket) at
// start-up (Tune);
// larger m and fp32 weights use cuBLAS (cublasGemmEx, fp32 accumulation, no TF32).
// Thread-compatible; one per engine, bound to its stream.
#ifndef LINSPEC_ENGINE_CUDA_GEMM_RUNNER_H_
#define LINSPEC_ENGINE_CUDA_GEMM_RUNNER_H_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/cuda/cuda_util.h"
#include "kernels/dtype.h"

namespace linspec::engine::cuda {

class GemmRunner {
 public:
  static absl::StatusOr<std::unique_ptr<GemmRunner>> Create(kernels::DType dtype,
                                                            cudaStream_t stream);
  ~GemmRunner();

  // Runs the GEMM; *splits receives the number of partial slices written.
  absl::Status Run(const void* w, int n, int k, const void* x, int m, float* partials,
                   int* splits) const;

  // The down projection of SwiGLU(gate/up partials [gu_splits, m, 2k]) when the fused kernel
  // applies (UsesFusedSwiGlu); else returns false in *fused and does nothing.
  absl::Status RunSwiGlu(const void* w, int n, int k, const float* gu_partials, int gu_splits,
                         int m, float* partials, int* splits, bool* fused) const;

  // Floats the partials of Run(m, n, k) occupy at most.
  size_t PartialElems(int m, int n, int k) const;

  // Times the candidate (variant, split count) pairs of the skinny kernel for one weight
  // shape (n, k) and keeps the cheapest per row bucket (time per call plus what the GEMM-only
  // timing misses: the consumers' re-reads of extra split-K slices, and the broken PDL chain
  // around a cuBLAS call; `row_consumer`: one block sums each row's partials, as RMSNorm and
  // argmax do, so extra slices cost that block's read time). `weights` are several [n, k] matrices
  // (e.g. every layer's) so the timing streams from memory, not L2; `x` holds >= 64 rows of k;
  // `scratch` holds PartialElems(64, n, k) floats. `variants` restricts the kernel variants
  // tried (kernels::kSkinny* or kCublas; empty = all of them, or the one
  // LINSPEC_CUDA_SKINNY_VARIANT names).
  // Calls are timed as CUDA graph replays where the stream can capture (as the engine runs
  // them), else eagerly.
  absl::Status Tune(int n, int k, const std::vector<const void*>& weights, const void* x,
                    float* scratch, bool row_consumer, const std::vector<int>& variants = {});

  // Tune's candidate that runs cuBLAS (one [m, n] slice) instead of the skinny kernel.
  static constexpr int kCublas = -1;

  // What Run uses for (m, n, k) when UsesSkinny: kernel variant (kernels::kSkinny*, possibly
  // with kSkinnyEvictFirst, or kCublas) and split count (1 for kCublas).
  struct SkinnyChoice {
    int variant = 0;
    int splits = 1;
  };
  SkinnyChoice ChoiceFor(int m, int n, int k) const;

  bool UsesSkinny(int m, int k) const;
  int num_sms() const { return num_sms_; }

 private:
  GemmRunner() = default;
  static int Bucket(int m);
  int DefaultVariant() const;
  absl::Status RunCublas(const void* w, int n, int k, const void* x, int m, float* out) const;

  kernels::DType dtype_ = kernels::DType::kBF16;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  DeviceMemory cublas_workspace_;
  int num_sms_ = 132;
  int evict_first_ = 0;                                      // kernels::kSkinnyEvictFirst or 0
  std::map<std::tuple<int, int, int>, SkinnyChoice> tuned_;  // (n, k, bucket) -> choice
};

}  // namespace linspec::engine::cuda

#endif  // LINSPEC_ENGINE_CUDA_GEMM_RUNNER_H_
