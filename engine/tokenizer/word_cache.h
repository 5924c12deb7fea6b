// Bounded, sharded cache from pre-tokenized word to its BPE token ids. Safe to use from many
// threads (one mutex per shard); a full shard is cleared rather than evicted piecemeal.
#ifndef LINSPEC_ENGINE_TOKENIZER_WORD_CACHE_H_
#define LINSPEC_ENGINE_TOKENIZER_WORD_CACHE_H_

#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/types.h"

namespace linspec::engine::tokenizer {

class WordCache {
 public:
  // Words longer than this are not cached.
  static constexpr size_t kMaxWordBytes = 256;

  explicit WordCache(size_t capacity);

  // Appends the cached ids for `word` to `out` and returns true on a hit.
  bool Lookup(std::string_view word, std::vector<TokenId>* out) const;
  void Insert(std::string_view word, const TokenId* ids, size_t num_ids) const;

 private:
  static constexpr size_t kShards = 16;
  // std::mutex rather than absl::Mutex: Debian's Abseil runs deadlock detection on every
  // absl::Mutex acquisition, which costs more than the BPE work this cache saves.
  struct Shard {
    std::mutex mu;
    absl::flat_hash_map<std::string, std::vector<TokenId>> map;  // guarded by mu
  };
  size_t ShardOf(std::string_view word) const;

  size_t shard_capacity_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace linspec::engine::tokenizer

#endif  // LINSPEC_ENGINE_TOKENIZER_WORD_CACHE_H_
