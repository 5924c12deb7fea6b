// Entry points of the CUDA backend, callable from CUDA-free code (engine_factory.cc).
// Only compiled in when the build defines LINSPEC_WITH_CUDA_BACKEND (set by the
// linspec_engine_cuda target).
#ifndef LINSPEC_ENGINE_CUDA_CUDA_BACKEND_H_
#define LINSPEC_ENGINE_CUDA_CUDA_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace linspec::engine::cuda {

// True when a CUDA device is visible to this process.
bool DeviceAvailable();

// Loads the model onto the current device. FailedPrecondition without a device.
absl::StatusOr<std::unique_ptr<Engine>> CreateCudaEngine(const EngineOptions& options);

}  // namespace linspec::engine::cuda

#endif  // LINSPEC_ENGINE_CUDA_CUDA_BACKEND_H_
