#include "tests/unit/scheduler/fake_engine.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "tests/unit/scheduler/chunk_sampler_reference.h"

namespace linspec::testing {

namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

float Unit(uint64_t h, uint64_t v) {  // in [-1, 1)
  return static_cast<float>(static_cast<double>(Mix(h ^ Mix(v + 7)) >> 11) * 0x1.0p-52 - 1.0);
}

}  // namespace

FakeEngine::FakeEngine(const FakeEngineOptions& options)
    : options_(options), slots_(options.num_slots) {
  config_.vocab_size = options.vocab_size;
  config_.eos_token_ids = options.eos_token_ids;
  config_.hidden_size = 8;
  config_.num_hidden_layers = 1;
}

bool FakeEngine::healthy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return healthy_;
}

void FakeEngine::FillLogits(const std::vector<engine::TokenId>& prefix, float* out) const {
  size_t from = 0;
  if (options_.window > 0 && prefix.size() > static_cast<size_t>(options_.window)) {
    from = prefix.size() - options_.window;
  }
  uint64_t h = 0x1234567;
  for (size_t i = from; i < prefix.size(); ++i) h = Mix(h ^ (static_cast<uint64_t>(prefix[i]) + 1));
  for (int v = 0; v < options_.vocab_size; ++v) {
    out[v] = options_.scale * Unit(h, v);
  }
  if (options_.noise == 0) return;
  if (options_.agreement > 0 &&
      0.5 * (Unit(h ^ Mix(options_.salt ^ 0xA5A5), 77) + 1) < options_.agreement) {
    return;
  }
  for (int v = 0; v < options_.vocab_size; ++v) {
    out[v] += options_.noise * Unit(h ^ Mix(options_.salt), v + 1000);
  }
}

std::vector<float> FakeEngine::LogitsFor(const std::vector<engine::TokenId>& prefix) const {
  std::vector<float> out(options_.vocab_size);
  FillLogits(prefix, out.data());
  return out;
}

absl::Status FakeEngine::Forward(absl::Span<const engine::SeqChunk> chunks,
                                 const engine::ForwardOptions& options,
                                 engine::ForwardResult* result) {
  if (options_.before_forward) options_.before_forward();
  std::lock_guard<std::mutex> lock(mu_);
  if (!healthy_) return absl::InternalError("fake engine: sticky failure");
  if (forwards_++ == options_.fail_on_forward) {
    if (options_.sticky_failure) healthy_ = false;
    return absl::InternalError("fake engine: injected failure");
  }
  std::set<engine::SlotId> seen;
  int total = 0, rows = 0;
  for (const engine::SeqChunk& c : chunks) {
    if (c.slot < 0 || c.slot >= options_.num_slots) {
      return absl::InvalidArgumentError(absl::StrCat("bad slot ", c.slot));
    }
    if (!seen.insert(c.slot).second) return absl::InvalidArgumentError("duplicate slot");
    if (c.tokens.empty()) return absl::InvalidArgumentError("empty chunk");
    for (engine::TokenId t : c.tokens) {
      if (t < 0 || t >= options_.vocab_size) return absl::InvalidArgumentError("bad token");
    }
    const Slot& s = slots_[c.slot];
    if (!c.pending && !s.pending.empty()) {
      return absl::InvalidArgumentError("committed chunk with a non-empty pending area");
    }
    if (c.pending &&
        s.pending.size() + c.tokens.size() > static_cast<size_t>(options_.max_pending)) {
      return absl::ResourceExhaustedError("pending area overflow");
    }
    total += static_cast<int>(c.tokens.size());
    rows += c.all_logits ? static_cast<int>(c.tokens.size()) : 1;
  }
  if (total > options_.max_batch_tokens) return absl::InvalidArgumentError("too many tokens");
  tokens_fed_ += total;
  if (options_.clock != nullptr) {
    options_.clock->Advance(options_.forward_cost_s + options_.token_cost_s * total);
  }
  const bool sample = !options.sampling.empty();
  if (sample && (!options_.device_sampling || options.sampling.size() != chunks.size())) {
    return absl::InvalidArgumentError("fake engine: unexpected ForwardOptions::sampling");
  }
  if (sample) ++sampled_forwards_;
  max_rows_ = std::max(max_rows_, rows);
  if (options.want_logits) ++logit_forwards_;
  const int vocab = options_.vocab_size;
  result->num_rows = rows;
  result->vocab_size = vocab;
  result->row_offset.clear();
  result->argmax.assign(rows, 0);
  result->logits.clear();
  if (options.want_logits) result->logits.assign(static_cast<size_t>(rows) * vocab, 0.0f);
  std::vector<float> row(vocab);
  std::vector<float> chunk_rows;  // the current chunk's rows (sampling)
  result->sampled.clear();
  result->probs.clear();
  int r = 0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const engine::SeqChunk& c = chunks[ci];
    Slot& s = slots_[c.slot];
    result->row_offset.push_back(r);
    chunk_rows.clear();
    std::vector<engine::TokenId> prefix = s.committed;
    prefix.insert(prefix.end(), s.pending.begin(), s.pending.end());
    for (size_t i = 0; i < c.tokens.size(); ++i) {
      prefix.push_back(c.tokens[i]);
      if (!c.all_logits && i + 1 < c.tokens.size()) continue;
      FillLogits(prefix, row.data());
      result->argmax[r] =
          static_cast<engine::TokenId>(std::max_element(row.begin(), row.end()) - row.begin());
      if (options.want_logits)
        std::copy(row.begin(), row.end(), result->logits.begin() + r * vocab);
      chunk_rows.insert(chunk_rows.end(), row.begin(), row.end());
      ++r;
    }
    if (sample) {
      const size_t k = c.pending ? c.tokens.size() - 1 : 0;
      const size_t num_rows = chunk_rows.size() / vocab;
      if (k > 0 && options.sampling[ci].want_probs) {
        return absl::InvalidArgumentError("fake engine: want_probs on a chunk with drafts");
      }
      if (k > 0 && num_rows != k + 1) {
        return absl::InvalidArgumentError("fake engine: a sampled pending chunk needs all_logits");
      }
      // A committed chunk samples from its last row.
      const size_t first = k > 0 ? 0 : num_rows - 1;
      result->sampled.push_back(ReferenceChunkTokens(
          absl::MakeConstSpan(chunk_rows).subspan(first * vocab), vocab,
          c.tokens.subspan(c.tokens.size() - k), options.sampling[ci], &result->probs));
    }
    auto& dst = c.pending ? s.pending : s.committed;
    dst.insert(dst.end(), c.tokens.begin(), c.tokens.end());
  }
  return absl::OkStatus();
}

absl::Status FakeEngine::Commit(engine::SlotId slot, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (slot < 0 || slot >= options_.num_slots) return absl::InvalidArgumentError("bad slot");
  Slot& s = slots_[slot];
  if (n < 0 || n > static_cast<int>(s.pending.size())) {
    return absl::InvalidArgumentError(absl::StrCat("commit ", n, " of ", s.pending.size()));
  }
  s.committed.insert(s.committed.end(), s.pending.begin(), s.pending.begin() + n);
  s.pending.clear();
  return absl::OkStatus();
}

absl::Status FakeEngine::Release(engine::SlotId slot) {
  std::lock_guard<std::mutex> lock(mu_);
  if (slot < 0 || slot >= options_.num_slots) return absl::InvalidArgumentError("bad slot");
  slots_[slot] = Slot{};
  return absl::OkStatus();
}

int64_t FakeEngine::position(engine::SlotId slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(slots_[slot].committed.size());
}

int FakeEngine::pending(engine::SlotId slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(slots_[slot].pending.size());
}

std::vector<engine::TokenId> FakeEngine::Committed(engine::SlotId slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slots_[slot].committed;
}

int64_t FakeEngine::num_forwards() const {
  std::lock_guard<std::mutex> lock(mu_);
  return forwards_;
}

int64_t FakeEngine::num_tokens_fed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_fed_;
}

int64_t FakeEngine::num_logit_forwards() const {
  std::lock_guard<std::mutex> lock(mu_);
  return logit_forwards_;
}

int64_t FakeEngine::num_sampled_forwards() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sampled_forwards_;
}

int FakeEngine::max_rows_seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_rows_;
}

int FakeEngine::busy_slots() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const Slot& s : slots_) n += (!s.committed.empty() || !s.pending.empty()) ? 1 : 0;
  return n;
}

}  // namespace linspec::testing
