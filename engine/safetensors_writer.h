// Writes safetensors files: used by linspec-make-model and by tests that craft (possibly
// malformed) files. Thread-safe (pure functions).
#ifndef LINSPEC_ENGINE_SAFETENSORS_WRITER_H_
#define LINSPEC_ENGINE_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/dtype.h"

namespace linspec::engine {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string bytes;  // raw little-endian element bytes
};

// Encodes fp32 values as dtype (kF32, kF16 or kBF16; round to nearest even).
std::string EncodeFloats(absl::Span<const float> values, DType dtype);

// The safetensors bytes of the tensors, laid out in the given order, header padded with
// spaces to a multiple of 8 bytes.
std::string SerializeSafetensors(const std::vector<TensorToWrite>& tensors,
                                 const std::map<std::string, std::string>& metadata = {});

// 8-byte length + header_json + data, verbatim (for tests that need an arbitrary header).
std::string RawSafetensorsBytes(const std::string& header_json, const std::string& data);

// Writes bytes to path (binary). Internal error naming the path on failure.
absl::Status WriteFileBytes(const std::string& path, const std::string& bytes);

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_SAFETENSORS_WRITER_H_
