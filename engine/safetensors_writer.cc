#include "engine/safetensors_writer.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace linspec::engine {

std::string EncodeFloats(absl::Span<const float> values, DType dtype) {
  std::string out(values.size() * DTypeSize(dtype), '\0');
  uint8_t* dst = reinterpret_cast<uint8_t*>(out.data());
  for (size_t i = 0; i < values.size(); ++i) {
    StoreFromF32(values[i], dtype, dst, static_cast<int64_t>(i));
  }
  return out;
}

std::string RawSafetensorsBytes(const std::string& header_json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header_json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header_json;
  out += data;
  return out;
}

std::string SerializeSafetensors(const std::vector<TensorToWrite>& tensors,
                                 const std::map<std::string, std::string>& metadata) {
  // nlohmann::ordered_json keeps the header in tensor order, like the Python writer.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  int64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const int64_t end = offset + static_cast<int64_t>(t.bytes.size());
    header[t.name] = {
        {"dtype", DTypeName(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  std::string data;
  data.reserve(static_cast<size_t>(offset));
  for (const TensorToWrite& t : tensors) data += t.bytes;
  return RawSafetensorsBytes(text, data);
}

absl::Status WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot create ", path));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  return WriteFileBytes(path, SerializeSafetensors(tensors, metadata));
}

}  // namespace linspec::engine
