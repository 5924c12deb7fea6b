#include "engine/cuda/gemm_runner.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "common/status_macros.h"
#include "kernels/skinny_gemm.h"

namespace linspec::engine::cuda {
namespace {

constexpr size_t kCublasWorkspaceBytes = 32u << 20;
constexpr int kMaxTunedSplits = 48;

cudaDataType_t CudaType(kernels::DType t) {
  switch (t) {
    case kernels::DType::kBF16:
      return CUDA_R_16BF;
    case kernels::DType::kF16:
      return CUDA_R_16F;
    default:
      return CUDA_R_32F;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<GemmRunner>> GemmRunner::Create(kernels::DType dtype,
                                                               cudaStream_t stream) {
  std::unique_ptr<GemmRunner> r(new GemmRunner());
  r->dtype_ = dtype;
  r->stream_ = stream;
  int dev = 0;
  LINSPEC_CUDA_RETURN(cudaGetDevice(&dev));
  LINSPEC_CUDA_RETURN(cudaDeviceGetAttribute(&r->num_sms_, cudaDevAttrMultiProcessorCount, dev));
  LINSPEC_CUBLAS_RETURN(cublasCreate(&r->cublas_));
  LINSPEC_CUBLAS_RETURN(cublasSetStream(r->cublas_, stream));
  RETURN_IF_ERROR(r->cublas_workspace_.Allocate(kCublasWorkspaceBytes, "cuBLAS workspace"));
  LINSPEC_CUBLAS_RETURN(
      cublasSetWorkspace(r->cublas_, r->cublas_workspace_.get(), kCublasWorkspaceBytes));
  LINSPEC_CUBLAS_RETURN(cublasSetMathMode(r->cublas_, CUBLAS_DEFAULT_MATH));
  return r;
}

GemmRunner::~GemmRunner() {
  if (cublas_) cublasDestroy(cublas_);
}

int GemmRunner::Bucket(int m) { return m <= 8 ? 8 : m <= 16 ? 16 : m <= 32 ? 32 : 64; }

bool GemmRunner::UsesSkinny(int m, int k) const {
  return dtype_ != kernels::DType::kF32 && m <= kernels::kSkinnyMaxRows && k % 32 == 0;
}

int GemmRunner::SplitsFor(int m, int n, int k) const {
  auto it = tuned_.find({n, k, Bucket(m)});
  const int req =
      it != tuned_.end() ? it->second : kernels::SkinnyGemmDefaultSplits(m, n, k, num_sms_);
  return kernels::SkinnyGemmEffectiveSplits(m, k, req);
}

size_t GemmRunner::PartialElems(int m, int n, int k) const {
  if (!UsesSkinny(m, k)) return static_cast<size_t>(m) * n;
  // Tuning tries at most kMaxTunedSplits.
  const int most =
      std::max(SplitsFor(m, n, k), kernels::SkinnyGemmEffectiveSplits(m, k, kMaxTunedSplits));
  return static_cast<size_t>(most) * m * n;
}

absl::Status GemmRunner::Run(const void* w, int n, int k, const void* x, int m, float* partials,
                             int* splits) const {
  if (m <= 0) {
    *splits = 0;
    return absl::OkStatus();
  }
  if (UsesSkinny(m, k)) {
    const int s = SplitsFor(m, n, k);
    LINSPEC_CUDA_RETURN(kernels::SkinnyGemm(w, x, partials, m, n, k, s, dtype_, stream_));
    *splits = s;
    return absl::OkStatus();
  }
  const float alpha = 1.f, beta = 0.f;
  const cudaDataType_t t = CudaType(dtype_);
  // Column-major view: out^T [n, m] = W [k, n]^T . X^T [k, m].
  LINSPEC_CUBLAS_RETURN(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, t, k, x,
                                     t, k, &beta, partials, CUDA_R_32F, n, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
  *splits = 1;
  return absl::OkStatus();
}

absl::Status GemmRunner::RunSwiGlu(const void* w, int n, int k, const float* gu_partials,
                                   int gu_splits, int m, float* partials, int* splits,
                                   bool* fused) const {
  // Off unless LINSPEC_CUDA_FUSE_SWIGLU=1: measured slower on the H100 at B=1..4 (the fused
  // activation load sits on the critical path after the dependency wait; see bench/cuda_notes.md).
  static const bool enabled = [] {
    const char* e = std::getenv("LINSPEC_CUDA_FUSE_SWIGLU");
    return e != nullptr && std::string(e) == "1";
  }();
  *fused = enabled && UsesSkinny(m, k) && m <= kernels::kSkinnySwiGluMaxRows;
  if (!*fused) return absl::OkStatus();
  const int s = SplitsFor(m, n, k);
  LINSPEC_CUDA_RETURN(
      kernels::SkinnyGemmSwiGlu(w, gu_partials, gu_splits, partials, m, n, k, s, dtype_, stream_));
  *splits = s;
  return absl::OkStatus();
}

absl::Status GemmRunner::Tune(int n, int k, const std::vector<const void*>& weights, const void* x,
                              float* scratch) {
  if (dtype_ == kernels::DType::kF32 || k % 32 != 0 || weights.empty()) return absl::OkStatus();
  cudaEvent_t start, stop;
  LINSPEC_CUDA_RETURN(cudaEventCreate(&start));
  LINSPEC_CUDA_RETURN(cudaEventCreate(&stop));
  absl::Status status;
  for (int bucket : {8, 16, 32, 64}) {
    float best_ms = std::numeric_limits<float>::max();
    int best = 1, last_eff = -1;
    for (int cand : {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, kMaxTunedSplits}) {
      if (cand > k / 32) break;
      const int eff = kernels::SkinnyGemmEffectiveSplits(bucket, k, cand);
      if (eff == last_eff) continue;
      last_eff = eff;
      auto run_all = [&]() -> cudaError_t {
        for (const void* w : weights) {
          cudaError_t e = kernels::SkinnyGemm(w, x, scratch, bucket, n, k, cand, dtype_, stream_);
          if (e != cudaSuccess) return e;
        }
        return cudaSuccess;
      };
      if (cudaError_t e = run_all(); e != cudaSuccess) {
        status = CudaStatus(e, "SkinnyGemm (tuning)");
        break;
      }
      cudaEventRecord(start, stream_);
      for (int rep = 0; rep < 3; ++rep) run_all();
      cudaEventRecord(stop, stream_);
      if (cudaError_t e = cudaEventSynchronize(stop); e != cudaSuccess) {
        status = CudaStatus(e, "cudaEventSynchronize (tuning)");
        break;
      }
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      if (ms < best_ms) {
        best_ms = ms;
        best = cand;
      }
    }
    if (!status.ok()) break;
    tuned_[{n, k, bucket}] = best;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return status;
}

}  // namespace linspec::engine::cuda
