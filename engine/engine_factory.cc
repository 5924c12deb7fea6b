// The one place that chooses the backend (DESIGN.md §1).
#include "absl/strings/str_cat.h"
#include "engine/cpu/cpu_engine.h"
#include "engine/engine.h"
#ifdef LINSPEC_WITH_CUDA_BACKEND
#include "engine/cuda/cuda_backend.h"
#endif

namespace linspec::engine {

bool CudaDeviceAvailable() {
#ifdef LINSPEC_WITH_CUDA_BACKEND
  return cuda::DeviceAvailable();
#else
  return false;
#endif
}

const char* DeviceName(Device d) {
  switch (d) {
    case Device::kAuto:
      return "auto";
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineOptions& options) {
  Device device = options.device;
  if (device == Device::kAuto) device = CudaDeviceAvailable() ? Device::kCuda : Device::kCpu;
  if (device == Device::kCuda) {
#ifdef LINSPEC_WITH_CUDA_BACKEND
    return cuda::CreateCudaEngine(options);
#else
    return absl::FailedPreconditionError(
        "this build has no CUDA backend (configure with -DLINSPEC_CUDA=ON)");
#endif
  }
  absl::StatusOr<std::unique_ptr<cpu::CpuEngine>> e = cpu::CpuEngine::Create(options);
  if (!e.ok()) return e.status();
  return std::unique_ptr<Engine>(std::move(*e));
}

}  // namespace linspec::engine
