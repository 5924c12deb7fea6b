#include "engine/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include "engine/cuda/cuda_engine.h"

namespace linspec::engine::cuda {

bool DeviceAvailable() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateCudaEngine(const EngineOptions& options) {
  auto e = CudaEngine::Create(options);
  if (!e.ok()) return e.status();
  return std::unique_ptr<Engine>(std::move(*e));
}

}  // namespace linspec::engine::cuda
