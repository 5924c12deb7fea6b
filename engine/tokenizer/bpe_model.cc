#include "engine/tokenizer/bpe_model.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/utf8.h"

namespace linspec::engine::tokenizer {
namespace {

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581

struct Candidate {
  int32_t rank;
  int32_t pos;
  TokenId new_id;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(const Vocab& vocab,
                                                           const MergeList& merges,
                                                           const BpeOptions& options) {
  std::unique_ptr<BpeModel> model(new BpeModel(options));
  model->symbol_to_id_.reserve(vocab.size());
  for (const auto& [token, id] : vocab) {
    if (!options.byte_level) {
      model->symbol_to_id_.emplace(token, id);
      continue;
    }
    // Tokens outside the byte alphabet can never be produced from bytes; skip them.
    if (auto bytes = ByteLevelToBytes(token)) model->symbol_to_id_.emplace(*bytes, id);
  }
  for (int b = 0; b < 256; ++b) {
    std::string key =
        options.byte_level ? std::string(1, static_cast<char>(b)) : absl::StrFormat("<0x%02X>", b);
    auto it = options.byte_level ? model->symbol_to_id_.find(key) : vocab.find(key);
    const bool found = options.byte_level ? it != model->symbol_to_id_.end() : it != vocab.end();
    model->has_byte_id_[b] = found;
    if (found) model->byte_ids_[b] = it->second;
  }
  model->metaspace_split_ =
      !options.byte_level && !options.ignore_merges && MetaspaceSplitIsExact(vocab);
  model->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab.find(a);
    auto ib = vocab.find(b);
    auto inew = vocab.find(a + b);
    if (ia == vocab.end() || ib == vocab.end() || inew == vocab.end()) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: merge ", rank, " '", a, " ",
                                                     b, "' uses a token not in the vocabulary"));
    }
    // The first (lowest-rank) occurrence of a pair wins, as in Hugging Face.
    model->merges_.try_emplace(PairKey(ia->second, ib->second),
                               Merge{static_cast<int32_t>(rank), inew->second});
  }
  return model;
}

const BpeModel::Merge* BpeModel::FindMerge(TokenId a, TokenId b) const {
  auto it = merges_.find(PairKey(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::AddUnknown(uint32_t len, std::vector<Symbol>* symbols) const {
  if (!options_.unk_id.has_value()) return;  // Hugging Face drops it silently
  if (options_.fuse_unk && !symbols->empty() && symbols->back().id == *options_.unk_id) {
    symbols->back().len += len;
    return;
  }
  symbols->push_back({*options_.unk_id, 0, 0, len});
}

void BpeModel::InitialSymbols(std::string_view word, std::vector<Symbol>* symbols) const {
  if (options_.byte_level) {
    for (unsigned char c : word) {
      if (has_byte_id_[c]) {
        symbols->push_back({byte_ids_[c], 0, 0, 1});
      } else {
        AddUnknown(1, symbols);
      }
    }
    return;
  }
  size_t i = 0;
  while (i < word.size()) {
    size_t n = ValidCharLen(word, i);
    if (n == 0) n = 1;  // a stray byte: not in any vocabulary, so it falls back below
    auto it = symbol_to_id_.find(AsAbsl(word.substr(i, n)));
    if (it != symbol_to_id_.end()) {
      symbols->push_back({it->second, 0, 0, static_cast<uint32_t>(n)});
    } else if (options_.byte_fallback) {
      bool all = true;
      for (size_t k = 0; k < n; ++k)
        all = all && has_byte_id_[static_cast<unsigned char>(word[i + k])];
      if (all) {
        for (size_t k = 0; k < n; ++k) {
          symbols->push_back({byte_ids_[static_cast<unsigned char>(word[i + k])], 0, 0, 1});
        }
      } else {
        AddUnknown(static_cast<uint32_t>(n), symbols);
      }
    } else {
      AddUnknown(static_cast<uint32_t>(n), symbols);
    }
    i += n;
  }
}

void BpeModel::MergeAll(std::vector<Symbol>* symbols_ptr) const {
  std::vector<Symbol>& s = *symbols_ptr;
  const int32_t n = static_cast<int32_t>(s.size());
  for (int32_t i = 0; i < n; ++i) {
    s[i].prev = i - 1;
    s[i].next = i + 1 < n ? i + 1 : -1;
  }
  std::vector<Candidate> storage;
  storage.reserve(n);
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue(
      std::greater<Candidate>(), std::move(storage));
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (const Merge* m = FindMerge(s[i].id, s[i + 1].id)) queue.push({m->rank, i, m->new_id});
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = s[top.pos];
    if (left.len == 0 || left.next < 0) continue;
    Symbol& right = s[left.next];
    const Merge* m = FindMerge(left.id, right.id);
    if (m == nullptr || m->rank != top.rank || m->new_id != top.new_id) continue;
    left.id = top.new_id;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (left.next >= 0) s[left.next].prev = top.pos;
    if (left.prev >= 0) {
      if (const Merge* pm = FindMerge(s[left.prev].id, left.id)) {
        queue.push({pm->rank, left.prev, pm->new_id});
      }
    }
    if (left.next >= 0) {
      if (const Merge* nm = FindMerge(left.id, s[left.next].id)) {
        queue.push({nm->rank, top.pos, nm->new_id});
      }
    }
  }
}

void BpeModel::EncodeUncached(std::string_view word, std::vector<TokenId>* out) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  InitialSymbols(word, &symbols);
  if (symbols.size() > 1) MergeAll(&symbols);
  for (const Symbol& sym : symbols) {
    if (sym.len != 0) out->push_back(sym.id);
  }
}

bool BpeModel::MetaspaceSplitIsExact(const Vocab& vocab) {
  if (vocab.find(std::string(kMetaspace)) == vocab.end()) return false;
  for (const auto& [token, id] : vocab) {
    for (size_t pos = token.find(kMetaspace, 1); pos != std::string::npos;
         pos = token.find(kMetaspace, pos + kMetaspace.size())) {
      if (pos < kMetaspace.size() ||
          token.compare(pos - kMetaspace.size(), kMetaspace.size(), kMetaspace) != 0) {
        return false;
      }
    }
  }
  return true;
}

void BpeModel::EncodeCached(std::string_view word, std::vector<TokenId>* out) const {
  if (cache_.Lookup(word, out)) return;
  const size_t before = out->size();
  EncodeUncached(word, out);
  cache_.Insert(word, out->data() + before, out->size() - before);
}

void BpeModel::Encode(std::string_view word, std::vector<TokenId>* out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    auto it = symbol_to_id_.find(AsAbsl(word));
    if (it != symbol_to_id_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  if (!metaspace_split_) {
    EncodeCached(word, out);
    return;
  }
  size_t start = 0;
  for (size_t pos = word.find(kMetaspace, 1); pos != std::string_view::npos;
       pos = word.find(kMetaspace, pos + kMetaspace.size())) {
    const bool after_metaspace =
        pos >= kMetaspace.size() &&
        word.compare(pos - kMetaspace.size(), kMetaspace.size(), kMetaspace) == 0;
    if (after_metaspace) continue;
    EncodeCached(word.substr(start, pos - start), out);
    start = pos;
  }
  EncodeCached(word.substr(start), out);
}

}  // namespace linspec::engine::tokenizer
