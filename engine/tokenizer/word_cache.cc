#include "engine/tokenizer/word_cache.h"

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace linspec::engine::tokenizer {
namespace {
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

WordCache::WordCache(size_t capacity) : shard_capacity_(capacity / kShards + 1) {}

size_t WordCache::ShardOf(std::string_view word) const {
  return absl::Hash<absl::string_view>()(AsAbsl(word)) % kShards;
}

bool WordCache::Lookup(std::string_view word, std::vector<TokenId>* out) const {
  if (word.size() > kMaxWordBytes) return false;
  Shard& shard = shards_[ShardOf(word)];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.map.find(AsAbsl(word));
  if (it == shard.map.end()) return false;
  out->insert(out->end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::Insert(std::string_view word, const TokenId* ids, size_t num_ids) const {
  if (word.size() > kMaxWordBytes) return;
  Shard& shard = shards_[ShardOf(word)];
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.map.size() >= shard_capacity_) shard.map.clear();
  shard.map.try_emplace(std::string(word), ids, ids + num_ids);
}

}  // namespace linspec::engine::tokenizer
