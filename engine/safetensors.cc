#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace linspec::engine {
namespace {

using nlohmann::json;

constexpr int64_t kMaxHeaderBytes = int64_t{100} << 20;  // as the reference implementation

absl::Status FileError(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::Status TensorError(const std::string& path, const std::string& name,
                         const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "' ", what));
}

// Parses the header with a callback that rejects duplicate top-level keys (nlohmann would
// silently keep the last one).
absl::StatusOr<json> ParseHeaderJson(const std::string& path, const char* begin, const char* end) {
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      const std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(begin, end, cb);
  } catch (const json::exception& e) {
    return FileError(path, absl::StrCat("header is not valid JSON: ", e.what()));
  }
  if (!duplicate.empty()) return TensorError(path, duplicate, "appears twice in the header");
  if (!header.is_object()) return FileError(path, "header is not a JSON object");
  return header;
}

// Parses one header entry; *offset receives its begin offset inside the data section.
absl::StatusOr<TensorInfo> ParseEntry(const std::string& path, const std::string& name,
                                      const json& e, int64_t data_size, int64_t* offset) {
  if (!e.is_object()) return TensorError(path, name, "entry is not an object");
  TensorInfo t;
  t.name = name;
  t.file = path;
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) return TensorError(path, name, "has no dtype");
  std::optional<DType> dtype = ParseDTypeName(dt->get<std::string>());
  if (!dtype) return TensorError(path, name, absl::StrCat("has unknown dtype ", dt->dump()));
  t.dtype = *dtype;
  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) return TensorError(path, name, "has no shape list");
  int64_t numel = 1;
  for (const json& d : *sh) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return TensorError(path, name, absl::StrCat("has an invalid shape ", sh->dump()));
    }
    const int64_t dim = d.get<int64_t>();
    t.shape.push_back(dim);
    if (__builtin_mul_overflow(numel, dim, &numel) || numel > (int64_t{1} << 50)) {
      return TensorError(path, name, absl::StrCat("shape ", sh->dump(), " is too large"));
    }
  }
  t.num_elements = numel;
  auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_integer() ||
      !(*off)[1].is_number_integer()) {
    return TensorError(path, name, "has no data_offsets [begin, end]");
  }
  const int64_t begin = (*off)[0].get<int64_t>();
  const int64_t end = (*off)[1].get<int64_t>();
  if (begin < 0 || end < begin) {
    return TensorError(path, name, absl::StrCat("has invalid data_offsets ", off->dump()));
  }
  if (end > data_size) {
    return TensorError(path, name,
                       absl::StrCat("data_offsets ", off->dump(), " exceed the data section (",
                                    data_size, " bytes): file truncated or offsets out of range"));
  }
  t.size_bytes = end - begin;
  if (t.size_bytes != numel * DTypeSize(t.dtype)) {
    return TensorError(
        path, name,
        absl::StrCat("has ", t.size_bytes, " data bytes but shape ", ShapeToString(t.shape), " of ",
                     DTypeName(t.dtype), " needs ", numel * DTypeSize(t.dtype)));
  }
  *offset = begin;
  return t;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return FileError(path, "not a regular file");
  }
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->size_ = st.st_size;
  if (f->size_ > 0) {
    void* m = ::mmap(nullptr, static_cast<size_t>(f->size_), PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": mmap failed"));
    }
    f->map_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);
  RETURN_IF_ERROR(f->ParseHeader());
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), static_cast<size_t>(size_));
}

const TensorInfo* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

absl::Status SafetensorsFile::ParseHeader() {
  if (size_ < 8) {
    return FileError(path_, absl::StrCat("file is ", size_, " bytes, too small for a header"));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | map_[i];
  if (n > static_cast<uint64_t>(size_ - 8)) {
    return FileError(path_, absl::StrCat("header length ", n, " exceeds the file size ", size_,
                                         " (truncated or not a safetensors file)"));
  }
  if (static_cast<int64_t>(n) > kMaxHeaderBytes) {
    return FileError(path_, absl::StrCat("header length ", n, " is larger than 100 MiB"));
  }
  const char* hb = reinterpret_cast<const char*>(map_ + 8);
  ASSIGN_OR_RETURN(json header, ParseHeaderJson(path_, hb, hb + n));
  const int64_t data_start = 8 + static_cast<int64_t>(n);
  const int64_t data_size = size_ - data_start;
  std::vector<std::pair<int64_t, const TensorInfo*>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return FileError(path_, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (m->is_string()) metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    int64_t begin = 0;
    ASSIGN_OR_RETURN(TensorInfo t, ParseEntry(path_, it.key(), *it, data_size, &begin));
    t.data = map_ + data_start + begin;
    auto [pos, inserted] = tensors_.emplace(t.name, std::move(t));
    ranges.emplace_back(begin, &pos->second);
  }
  std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->size_bytes < b.second->size_bytes;
  });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const auto& [prev_begin, prev] = ranges[i - 1];
    const auto& [begin, cur] = ranges[i];
    if (begin < prev_begin + prev->size_bytes && cur->size_bytes > 0 && prev->size_bytes > 0) {
      return TensorError(path_, cur->name, absl::StrCat("data overlaps tensor '", prev->name, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SafetensorsSet>> SafetensorsSet::OpenDir(const std::string& dir) {
  auto set = std::make_unique<SafetensorsSet>();
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";
  if (FileExists(index_path)) {
    RETURN_IF_ERROR(set->OpenIndexed(dir, index_path));
  } else if (FileExists(single_path)) {
    ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single_path));
    RETURN_IF_ERROR(set->AddFile(std::move(file)));
  } else {
    return absl::NotFoundError(
        absl::StrCat(dir, ": no model.safetensors or model.safetensors.index.json"));
  }
  return set;
}

absl::Status SafetensorsSet::OpenIndexed(const std::string& dir, const std::string& index_path) {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(index_path));
  json index;
  try {
    index = json::parse(text);
  } catch (const json::exception& e) {
    return FileError(index_path, absl::StrCat("not valid JSON: ", e.what()));
  }
  auto wm = index.is_object() ? index.find("weight_map") : index.end();
  if (wm == index.end() || !wm->is_object()) {
    return FileError(index_path, "has no \"weight_map\" object");
  }
  std::map<std::string, std::string> shard_of;
  std::vector<std::string> shards;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string()) return TensorError(index_path, it.key(), "shard name is not a string");
    const std::string shard = it->get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      return TensorError(index_path, it.key(),
                         absl::StrCat("has invalid shard name '", shard, "'"));
    }
    shard_of[it.key()] = shard;
    if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.push_back(shard);
  }
  for (const std::string& shard : shards) {
    ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(dir + "/" + shard));
    RETURN_IF_ERROR(AddFile(std::move(file)));
  }
  for (const auto& [name, shard] : shard_of) {
    auto it = by_name_.find(name);
    const std::string expected = dir + "/" + shard;
    if (it == by_name_.end() || it->second->file != expected) {
      return TensorError(index_path, name, absl::StrCat("is not in its shard ", expected));
    }
  }
  return absl::OkStatus();
}

absl::Status SafetensorsSet::AddFile(std::unique_ptr<SafetensorsFile> file) {
  for (const auto& [name, info] : file->tensors()) {
    auto [it, inserted] = by_name_.emplace(name, &info);
    if (!inserted) {
      return TensorError(file->path(), name,
                         absl::StrCat("is also stored in ", it->second->file, " (duplicate)"));
    }
  }
  files_.push_back(std::move(file));
  return absl::OkStatus();
}

const TensorInfo* SafetensorsSet::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> SafetensorsSet::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, info] : by_name_) names.push_back(name);
  return names;
}

}  // namespace linspec::engine
