// Tensor element types of safetensors files and the fp16/bf16 <-> fp32 conversions the
// loaders use. Header-only, CUDA-free, thread-safe (pure functions).
#ifndef LINSPEC_ENGINE_DTYPE_H_
#define LINSPEC_ENGINE_DTYPE_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

namespace linspec::engine {

// kF32/kF16/kBF16 are the float types weights may use; the others are parsed (so files
// holding e.g. an int64 buffer still open) but rejected for weights.
enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

inline int DTypeSize(DType d) {
  switch (d) {
    case DType::kF64:
    case DType::kI64:
      return 8;
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16:
      return 2;
    default:
      return 1;
  }
}

// safetensors spelling ("F32", "BF16", ...).
inline const char* DTypeName(DType d) {
  switch (d) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kF64:
      return "F64";
    case DType::kI64:
      return "I64";
    case DType::kI32:
      return "I32";
    case DType::kI16:
      return "I16";
    case DType::kI8:
      return "I8";
    case DType::kU8:
      return "U8";
    case DType::kBool:
      return "BOOL";
  }
  return "?";
}

inline std::optional<DType> ParseDTypeName(const std::string& s) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI64, DType::kI32,
                  DType::kI16, DType::kI8, DType::kU8, DType::kBool}) {
    if (s == DTypeName(d)) return d;
  }
  return std::nullopt;
}

inline bool IsFloatWeightDType(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16;
}

inline float BF16ToF32(uint16_t h) {
  uint32_t bits = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even; NaN stays NaN.
inline uint16_t F32ToBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float F16ToF32(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, overflow to inf, NaN stays NaN.
inline uint16_t F32ToF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (abs >= 0x38800000u) {                       // normal half
    uint32_t v = abs - (112u << 23);
    v += 0xfffu + ((v >> 13) & 1u);
    return sign | static_cast<uint16_t>(v >> 13);
  }
  if (abs < 0x33000000u) return sign;  // below half of the smallest subnormal
  const uint32_t exp = abs >> 23;
  const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - exp;  // 14..24
  uint32_t v = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (v & 1u))) ++v;
  return sign | static_cast<uint16_t>(v);
}

// Reads element i of a float tensor stored as src_dtype (unaligned-safe).
inline float LoadAsF32(const uint8_t* src, DType src_dtype, int64_t i) {
  switch (src_dtype) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, src + 4 * i, 4);
      return f;
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      return F16ToF32(h);
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      return BF16ToF32(h);
    }
    default:
      return 0.0f;
  }
}

// Writes element i of dst as dst_dtype (kF32, kF16 or kBF16).
inline void StoreFromF32(float v, DType dst_dtype, uint8_t* dst, int64_t i) {
  switch (dst_dtype) {
    case DType::kF32:
      std::memcpy(dst + 4 * i, &v, 4);
      break;
    case DType::kF16: {
      uint16_t h = F32ToF16(v);
      std::memcpy(dst + 2 * i, &h, 2);
      break;
    }
    case DType::kBF16: {
      uint16_t h = F32ToBF16(v);
      std::memcpy(dst + 2 * i, &h, 2);
      break;
    }
    default:
      break;
  }
}

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_DTYPE_H_
