// Basic engine-wide types.
#ifndef LINSPEC_ENGINE_TYPES_H_
#define LINSPEC_ENGINE_TYPES_H_

#include <cstdint>

namespace linspec::engine {

using TokenId = int32_t;
using SlotId = int32_t;

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_TYPES_H_
