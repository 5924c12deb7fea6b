// CUDA/cuBLAS error translation and RAII device allocations for the CUDA backend.
// Every runtime call of the backend goes through CudaStatus/CublasStatus so that a failure
// becomes an absl::Status naming the call. Not thread-safe (owned by one engine).
#ifndef LINSPEC_ENGINE_CUDA_CUDA_UTIL_H_
#define LINSPEC_ENGINE_CUDA_CUDA_UTIL_H_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace linspec::engine::cuda {

// Device buffers and metadata regions start on 256-byte boundaries.
inline size_t Align(size_t v) { return (v + 255) / 256 * 256; }

inline absl::Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("CUDA error in ", what, ": ", cudaGetErrorName(e), " (",
                                          cudaGetErrorString(e), ")"));
}

inline absl::Status CublasStatus(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("cuBLAS error in ", what, ": ", cublasGetStatusName(s)));
}

#define LINSPEC_CUDA_RETURN(expr) \
  RETURN_IF_ERROR(::linspec::engine::cuda::CudaStatus((expr), #expr))
#define LINSPEC_CUBLAS_RETURN(expr) \
  RETURN_IF_ERROR(::linspec::engine::cuda::CublasStatus((expr), #expr))

// One cudaMalloc'ed block; freed on destruction. Move-only.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  ~DeviceMemory() { Reset(); }
  DeviceMemory(DeviceMemory&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  DeviceMemory& operator=(DeviceMemory&& o) noexcept {
    if (this != &o) {
      Reset();
      ptr_ = o.ptr_;
      bytes_ = o.bytes_;
      o.ptr_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  absl::Status Allocate(size_t bytes, const char* what) {
    Reset();
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes == 0 ? 16 : bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();  // allocation failures are not sticky
      return absl::ResourceExhaustedError(absl::StrCat("cudaMalloc of ", bytes, " bytes for ", what,
                                                       " failed: ", cudaGetErrorString(e)));
    }
    ptr_ = p;
    bytes_ = bytes;
    return absl::OkStatus();
  }
  void Reset() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory for the per-step metadata and result copies.
class PinnedMemory {
 public:
  PinnedMemory() = default;
  ~PinnedMemory() {
    if (ptr_) cudaFreeHost(ptr_);
  }
  PinnedMemory(const PinnedMemory&) = delete;
  PinnedMemory& operator=(const PinnedMemory&) = delete;
  absl::Status Allocate(size_t bytes) {
    if (ptr_) cudaFreeHost(ptr_);
    ptr_ = nullptr;
    if (cudaError_t e = cudaMallocHost(&ptr_, bytes == 0 ? 16 : bytes); e != cudaSuccess) {
      ptr_ = nullptr;
      return CudaStatus(e, "cudaMallocHost");
    }
    bytes_ = bytes;
    return absl::OkStatus();
  }
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace linspec::engine::cuda

#endif  // LINSPEC_ENGINE_CUDA_CUDA_UTIL_H_
