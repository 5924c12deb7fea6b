// Element types of device buffers passed to the kernel launchers.
#ifndef LINSPEC_KERNELS_DTYPE_H_
#define LINSPEC_KERNELS_DTYPE_H_

#include <cstddef>

namespace linspec::kernels {

enum class DType { kF32, kBF16, kF16 };

inline size_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : 2; }

}  // namespace linspec::kernels

#endif  // LINSPEC_KERNELS_DTYPE_H_
