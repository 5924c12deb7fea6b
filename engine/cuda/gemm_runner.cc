#include "engine/cuda/gemm_runner.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>

#include "common/status_macros.h"
#include "kernels/skinny_gemm.h"

namespace linspec::engine::cuda {
namespace {

constexpr size_t kCublasWorkspaceBytes = 32u << 20;
constexpr int kMaxTunedSplits = 48;

constexpr int kNotPinned = -100;

// LINSPEC_CUDA_SKINNY_VARIANT=<-1..7> pins the variant of rows <= 64 (A/B runs: 0 = the classic
// skinny kernel, -1 = cuBLAS, else a kernels::kSkinny* value); unset = tuned.
int PinnedVariant() {
  static const int v = [] {
    const char* e = std::getenv("LINSPEC_CUDA_SKINNY_VARIANT");
    if (e == nullptr || *e == '\0') return kNotPinned;
    const int x = std::atoi(e);
    return x >= GemmRunner::kCublas && x < kernels::kSkinnyVariants ? x : kNotPinned;
  }();
  return v;
}

// Times `reps` rounds of `calls` on `stream`: one CUDA graph replay where the stream can
// capture (the engine replays graphs, so this times launches as they run there), else eager.
cudaError_t TimeCalls(cudaStream_t stream, int reps, const std::function<cudaError_t()>& calls,
                      cudaEvent_t start, cudaEvent_t stop, float* ms) {
  cudaGraphExec_t exec = nullptr;
  if (stream != nullptr &&
      cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
    cudaError_t e = cudaSuccess;
    for (int r = 0; r < reps && e == cudaSuccess; ++r) e = calls();
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    if (e == cudaSuccess && end == cudaSuccess) {
      e = cudaGraphInstantiate(&exec, graph, 0);
    }
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (e != cudaSuccess || end != cudaSuccess) {
      if (exec != nullptr) cudaGraphExecDestroy(exec);
      return e != cudaSuccess ? e : end;
    }
  }
  auto run = [&]() -> cudaError_t {
    if (exec != nullptr) return cudaGraphLaunch(exec, stream);
    cudaError_t e = cudaSuccess;
    for (int r = 0; r < reps && e == cudaSuccess; ++r) e = calls();
    return e;
  };
  cudaError_t e = run();  // warm-up
  if (e == cudaSuccess) e = cudaEventRecord(start, stream);
  if (e == cudaSuccess) e = run();
  if (e == cudaSuccess) e = cudaEventRecord(stop, stream);
  if (e == cudaSuccess) e = cudaEventSynchronize(stop);
  if (e == cudaSuccess) e = cudaEventElapsedTime(ms, start, stop);
  if (exec != nullptr) cudaGraphExecDestroy(exec);
  return e;
}

// What the GEMM-only timing of Tune misses, in ms per call (bench/cuda_notes.md, "GEMM
// microbenchmark"): in the 1..8-row bucket a cuBLAS call breaks the programmatic-dependent-
// launch chain of a latency-bound step (measured: +4.5 us per call in a 1.3B B=1 step for a
// 0.5 us slower GEMM; override with LINSPEC_CUDA_CUBLAS_PENALTY_US); larger buckets pay no such
// cost (1.3B B=64 step 2.85 -> 2.67 ms without it), and the consumer re-reads every extra
// split-K slice: taken at 1.5 TB/s over the device (the 1.3B B=64 step measured ~2x the
// bandwidth-ideal cost; rows = 2 for the 1..8 bucket, whose common case is one row, else the
// bucket's top), and, for a row consumer (one block sums a row's slices: RMSNorm, argmax), at
// what one multiprocessor reads (LINSPEC_CUDA_ROW_CONSUMER_GBPS, default 100; 0 = ignore), which
// rows do in parallel on their own multiprocessors.
float ChoicePenaltyMs(int variant, int splits, int bucket, int n, bool row_consumer) {
  static const float cublas_ms = [] {
    const char* e = std::getenv("LINSPEC_CUDA_CUBLAS_PENALTY_US");
    return (e != nullptr && *e != '\0' ? static_cast<float>(std::atof(e)) : 4.f) * 1e-3f;
  }();
  static const float row_gbps = [] {
    const char* e = std::getenv("LINSPEC_CUDA_ROW_CONSUMER_GBPS");
    return e != nullptr && *e != '\0' ? static_cast<float>(std::atof(e)) : 100.f;
  }();
  if (variant == GemmRunner::kCublas) return bucket <= 8 ? cublas_ms : 0.f;
  const int rows = bucket <= 8 ? 2 : bucket;
  const float extra_bytes = static_cast<float>(splits - 1) * n * 4.f;
  const float device_ms = extra_bytes * rows / 1.5e12f * 1e3f;
  const float row_ms = row_consumer && row_gbps > 0 ? extra_bytes / (row_gbps * 1e9f) * 1e3f : 0.f;
  return std::max(device_ms, row_ms);
}

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
  // LINSPEC_CUDA_SKINNY_EVICT_FIRST=1 streams weights with an L2 evict-first policy.
  const char* ef = std::getenv("LINSPEC_CUDA_SKINNY_EVICT_FIRST");
  r->evict_first_ = ef != nullptr && std::string(ef) == "1" ? kernels::kSkinnyEvictFirst : 0;
  return r;
}

GemmRunner::~GemmRunner() {
  if (cublas_) cublasDestroy(cublas_);
}

int GemmRunner::Bucket(int m) { return m <= 8 ? 8 : m <= 16 ? 16 : m <= 32 ? 32 : 64; }

bool GemmRunner::UsesSkinny(int m, int k) const {
  return dtype_ != kernels::DType::kF32 && m <= kernels::kSkinnyMaxRows && k % 32 == 0;
}

int GemmRunner::DefaultVariant() const {
  const int pinned = PinnedVariant();
  if (pinned == kCublas) return kCublas;
  return (pinned >= 0 ? pinned : kernels::kSkinnyClassic) | evict_first_;
}

GemmRunner::SkinnyChoice GemmRunner::ChoiceFor(int m, int n, int k) const {
  SkinnyChoice c;
  auto it = tuned_.find({n, k, Bucket(m)});
  if (it != tuned_.end()) {
    c = it->second;
  } else {
    c.variant = DefaultVariant();
    c.splits = kernels::SkinnyGemmDefaultSplits(m, n, k, num_sms_);
  }
  c.splits = c.variant == kCublas ? 1 : kernels::SkinnyGemmEffectiveSplits(m, k, c.splits);
  return c;
}

size_t GemmRunner::PartialElems(int m, int n, int k) const {
  if (!UsesSkinny(m, k)) return static_cast<size_t>(m) * n;
  // Tuning tries at most kMaxTunedSplits.
  const int most = std::max(ChoiceFor(m, n, k).splits,
                            kernels::SkinnyGemmEffectiveSplits(m, k, kMaxTunedSplits));
  return static_cast<size_t>(most) * m * n;
}

absl::Status GemmRunner::Run(const void* w, int n, int k, const void* x, int m, float* partials,
                             int* splits) const {
  if (m <= 0) {
    *splits = 0;
    return absl::OkStatus();
  }
  if (UsesSkinny(m, k)) {
    const SkinnyChoice c = ChoiceFor(m, n, k);
    if (c.variant != kCublas) {
      LINSPEC_CUDA_RETURN(
          kernels::SkinnyGemm(w, x, partials, m, n, k, c.splits, dtype_, stream_, c.variant));
      *splits = c.splits;
      return absl::OkStatus();
    }
  }
  RETURN_IF_ERROR(RunCublas(w, n, k, x, m, partials));
  *splits = 1;
  return absl::OkStatus();
}

absl::Status GemmRunner::RunCublas(const void* w, int n, int k, const void* x, int m,
                                   float* out) const {
  const float alpha = 1.f, beta = 0.f;
  const cudaDataType_t t = CudaType(dtype_);
  // Column-major view: out^T [n, m] = W [k, n]^T . X^T [k, m].
  LINSPEC_CUBLAS_RETURN(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, t, k, x,
                                     t, k, &beta, out, CUDA_R_32F, n, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
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
  const SkinnyChoice c = ChoiceFor(m, n, k);
  const int s =
      c.variant == kCublas ? kernels::SkinnyGemmDefaultSplits(m, n, k, num_sms_) : c.splits;
  LINSPEC_CUDA_RETURN(
      kernels::SkinnyGemmSwiGlu(w, gu_partials, gu_splits, partials, m, n, k, s, dtype_, stream_));
  *splits = s;
  return absl::OkStatus();
}

absl::Status GemmRunner::Tune(int n, int k, const std::vector<const void*>& weights, const void* x,
                              float* scratch, bool row_consumer, const std::vector<int>& variants) {
  if (dtype_ == kernels::DType::kF32 || k % 32 != 0 || weights.empty()) return absl::OkStatus();
  std::vector<int> vs = variants;
  if (vs.empty() && PinnedVariant() != kNotPinned) vs = {PinnedVariant()};
  if (vs.empty()) {
    // p4 / p8 never won a shape in bench/results/cuda_gemm.json: not tried by default.
    vs = {kernels::kSkinnyClassic,
          kernels::kSkinnyPipelined4Deep,
          kernels::kSkinnyTiled4,
          kernels::kSkinnyTiled8,
          kernels::kSkinnyTiled1,
          kernels::kSkinnyTiled2,
          kCublas};
  }
  static const bool log = [] {
    const char* e = std::getenv("LINSPEC_CUDA_TUNE_LOG");
    return e != nullptr && std::string(e) == "1";
  }();
  cudaEvent_t start, stop;
  LINSPEC_CUDA_RETURN(cudaEventCreate(&start));
  LINSPEC_CUDA_RETURN(cudaEventCreate(&stop));
  absl::Status status;
  for (int bucket : {8, 16, 32, 64}) {
    float best_ms = std::numeric_limits<float>::max();
    SkinnyChoice best;
    for (int variant : vs) {
      if (variant != kCublas) variant |= evict_first_;
      int last_eff = -1;
      for (int cand : {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, kMaxTunedSplits}) {
        if (cand > k / 32 || (variant == kCublas && cand > 1)) break;
        const int eff = kernels::SkinnyGemmEffectiveSplits(bucket, k, cand);
        if (eff == last_eff) continue;
        last_eff = eff;
        if (variant != kCublas && kernels::SkinnyGemm(weights[0], x, scratch, bucket, n, k, cand,
                                                      dtype_, stream_, variant) != cudaSuccess) {
          cudaGetLastError();  // a launch-configuration error (e.g. smem): not this variant
          break;
        }
        auto run_all = [&]() -> cudaError_t {
          for (const void* w : weights) {
            if (variant == kCublas) {
              if (!RunCublas(w, n, k, x, bucket, scratch).ok()) return cudaErrorUnknown;
              continue;
            }
            cudaError_t e =
                kernels::SkinnyGemm(w, x, scratch, bucket, n, k, cand, dtype_, stream_, variant);
            if (e != cudaSuccess) return e;
          }
          return cudaSuccess;
        };
        float ms = 0;
        const int reps = std::max(3, 24 / static_cast<int>(weights.size()));
        if (cudaError_t e = TimeCalls(stream_, reps, run_all, start, stop, &ms); e != cudaSuccess) {
          status = CudaStatus(e, "SkinnyGemm (tuning)");
          break;
        }
        const float cost =
            ms / (reps * weights.size()) + ChoicePenaltyMs(variant, eff, bucket, n, row_consumer);
        if (cost < best_ms) {
          best_ms = cost;
          best = {variant, cand};
        }
      }
      if (!status.ok()) break;
    }
    if (!status.ok()) break;
    tuned_[{n, k, bucket}] = best;
    if (log) {
      std::fprintf(stderr, "gemm tune n=%d k=%d rows<=%d: variant %d, %d splits, %.2f us\n", n, k,
                   bucket, best.variant, best.splits, best_ms * 1e3f);
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return status;
}

}  // namespace linspec::engine::cuda
