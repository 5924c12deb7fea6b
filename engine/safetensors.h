// Read-only access to safetensors files (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON header, then the data section.
// Files are memory-mapped; every header entry is validated (known dtype, non-negative
// shape, data_offsets inside the data section and matching the shape, no overlaps, no
// duplicate names) before any tensor byte is exposed, so a malformed file gives
// InvalidArgument naming the file and tensor instead of an out-of-bounds read.
//
// Ownership: a SafetensorsFile owns its mapping; TensorInfo::data points into it and is
// valid while the file object lives. Thread-safety: immutable after Open, safe to share.
#ifndef LINSPEC_ENGINE_SAFETENSORS_H_
#define LINSPEC_ENGINE_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/dtype.h"

namespace linspec::engine {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  int64_t num_elements = 0;
  const uint8_t* data = nullptr;  // into the owning file's mapping
  int64_t size_bytes = 0;
  std::string file;  // path of the file that holds the tensor (for error messages)
};

std::string ShapeToString(const std::vector<int64_t>& shape);

class SafetensorsFile {
 public:
  // Maps and validates one file. NotFound if it cannot be opened; InvalidArgument for any
  // malformed content (message starts with the path).
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* Find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  absl::Status ParseHeader();

  std::string path_;
  const uint8_t* map_ = nullptr;
  int64_t size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a model directory: <dir>/model.safetensors.index.json (sharded; its
// weight_map names the shard of every tensor) when present, else <dir>/model.safetensors.
// A tensor named in the index must live in that shard; a name present in two shards is an
// error. NotFound when the directory has neither file.
class SafetensorsSet {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsSet>> OpenDir(const std::string& dir);

  const TensorInfo* Find(const std::string& name) const;
  std::vector<std::string> Names() const;
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  absl::Status OpenIndexed(const std::string& dir, const std::string& index_path);
  absl::Status AddFile(std::unique_ptr<SafetensorsFile> file);

  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*> by_name_;
};

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_SAFETENSORS_H_
