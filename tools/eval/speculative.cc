#include "tools/eval/speculative.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace linspec::tools {
namespace {

using engine::Engine;
using engine::ForwardResult;
using engine::SeqChunk;
using engine::TokenId;
using Clock = std::chrono::steady_clock;

struct SeqState {
  TokenId last = 0;          // sampled, not yet fed to either model
  std::vector<TokenId> lag;  // tokens the draft must see before `last`
  std::vector<TokenId> out;
  std::vector<TokenId> drafts;        // this step's proposals
  std::vector<std::vector<float>> q;  // draft distributions (sampling only)
  std::mt19937_64 rng;
  bool done = false;
};

struct Ctx {
  Engine& target;
  Engine* draft;
  const SpeculativeOptions& opt;
  std::vector<SeqState>& seqs;
  SpeculativeResult& res;
  bool greedy() const { return opt.temperature <= 0.0f; }
};

void Softmax(const float* row, int vocab, float temperature, std::vector<float>* out) {
  out->resize(vocab);
  float mx = row[0];
  for (int i = 1; i < vocab; ++i) mx = std::max(mx, row[i]);
  double sum = 0.0;
  for (int i = 0; i < vocab; ++i) {
    (*out)[i] = std::exp((row[i] - mx) / temperature);
    sum += (*out)[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (float& p : *out) p *= inv;
}

TokenId Sample(const std::vector<float>& p, std::mt19937_64& rng) {
  double total = 0.0;
  for (float v : p) total += v;
  double u = std::uniform_real_distribution<double>(0.0, total)(rng);
  for (size_t i = 0; i < p.size(); ++i) {
    u -= p[i];
    if (u < 0.0) return static_cast<TokenId>(i);
  }
  for (size_t i = p.size(); i-- > 0;) {
    if (p[i] > 0.0f) return static_cast<TokenId>(i);
  }
  return 0;
}

const float* Row(const ForwardResult& fr, int row) {
  return fr.logits.data() + static_cast<size_t>(row) * fr.vocab_size;
}

TokenId Choose(const Ctx& c, const ForwardResult& fr, int row, SeqState& s,
               std::vector<float>* dist) {
  if (c.greedy()) return fr.argmax[row];
  Softmax(Row(fr, row), fr.vocab_size, c.opt.temperature, dist);
  return Sample(*dist, s.rng);
}

// Appends tokens to the output, honouring max_new_tokens and EOS; counts decode tokens.
void Emit(const Ctx& c, SeqState& s, const std::vector<TokenId>& tokens, bool decode) {
  const auto& eos = c.target.config().eos_token_ids;
  for (TokenId t : tokens) {
    if (static_cast<int>(s.out.size()) >= c.opt.max_new_tokens) break;
    s.out.push_back(t);
    if (decode) ++c.res.generated;
    if (c.opt.stop_at_eos && std::find(eos.begin(), eos.end(), t) != eos.end()) {
      s.done = true;
      break;
    }
  }
  if (static_cast<int>(s.out.size()) >= c.opt.max_new_tokens) s.done = true;
}

// Commits every prompt in both engines; samples the first token from the target.
absl::Status Prefill(const Ctx& c, const std::vector<std::vector<TokenId>>& prompts) {
  std::vector<size_t> fed(prompts.size(), 0);
  ForwardResult fr;
  std::vector<float> dist;
  for (bool more = true; more;) {
    std::vector<SeqChunk> chunks;
    std::vector<size_t> owner;
    int budget = c.opt.batch_tokens;
    for (size_t i = 0; i < prompts.size() && budget > 0; ++i) {
      const size_t n = std::min<size_t>(prompts[i].size() - fed[i], budget);
      if (n == 0) continue;
      SeqChunk ch;
      ch.slot = static_cast<engine::SlotId>(i);
      ch.tokens = absl::MakeConstSpan(prompts[i].data() + fed[i], n);
      chunks.push_back(ch);
      owner.push_back(i);
      budget -= static_cast<int>(n);
    }
    if (c.draft != nullptr) RETURN_IF_ERROR(c.draft->Forward(chunks, {}, &fr));
    RETURN_IF_ERROR(c.target.Forward(chunks, {}, &fr));
    more = false;
    for (size_t k = 0; k < chunks.size(); ++k) {
      const size_t i = owner[k];
      fed[i] += chunks[k].tokens.size();
      if (fed[i] == prompts[i].size()) {
        SeqState& s = c.seqs[i];
        s.last = Choose(c, fr, fr.row_offset[k], s, &dist);
        Emit(c, s, {s.last}, /*decode=*/false);
      }
    }
    for (size_t i = 0; i < prompts.size(); ++i) more |= fed[i] < prompts[i].size();
  }
  return absl::OkStatus();
}

std::vector<size_t> Active(const Ctx& c) {
  std::vector<size_t> a;
  for (size_t i = 0; i < c.seqs.size(); ++i) {
    if (!c.seqs[i].done) a.push_back(i);
  }
  return a;
}

// Target-only decoding: feed `last`, pick the next token.
absl::Status PlainStep(const Ctx& c, const std::vector<size_t>& act) {
  std::vector<SeqChunk> chunks(act.size());
  for (size_t j = 0; j < act.size(); ++j) {
    chunks[j].slot = static_cast<engine::SlotId>(act[j]);
    chunks[j].tokens = absl::MakeConstSpan(&c.seqs[act[j]].last, 1);
  }
  ForwardResult fr;
  engine::ForwardOptions fo;
  fo.want_logits = !c.greedy();
  RETURN_IF_ERROR(c.target.Forward(chunks, fo, &fr));
  std::vector<float> dist;
  for (size_t j = 0; j < act.size(); ++j) {
    SeqState& s = c.seqs[act[j]];
    s.last = Choose(c, fr, fr.row_offset[j], s, &dist);
    ++c.res.steps;
    Emit(c, s, {s.last}, /*decode=*/true);
  }
  return absl::OkStatus();
}

// k draft forwards: the first feeds lag + [last], the others the previous proposal.
absl::Status DraftRounds(const Ctx& c, const std::vector<size_t>& act) {
  const int k = c.opt.k;
  std::vector<std::vector<TokenId>> first(act.size());
  ForwardResult fr;
  engine::ForwardOptions fo;
  fo.want_logits = !c.greedy();
  for (int j = 0; j < k; ++j) {
    std::vector<SeqChunk> chunks(act.size());
    for (size_t i = 0; i < act.size(); ++i) {
      SeqState& s = c.seqs[act[i]];
      if (j == 0) {
        first[i] = s.lag;
        first[i].push_back(s.last);
        s.drafts.assign(k, 0);
        s.q.resize(c.greedy() ? 0 : k);
      }
      chunks[i].slot = static_cast<engine::SlotId>(act[i]);
      chunks[i].pending = true;
      chunks[i].tokens =
          j == 0 ? absl::MakeConstSpan(first[i]) : absl::MakeConstSpan(&s.drafts[j - 1], 1);
    }
    RETURN_IF_ERROR(c.draft->Forward(chunks, fo, &fr));
    std::vector<float> scratch;
    for (size_t i = 0; i < act.size(); ++i) {
      SeqState& s = c.seqs[act[i]];
      s.drafts[j] = Choose(c, fr, fr.row_offset[i], s, c.greedy() ? &scratch : &s.q[j]);
    }
  }
  return absl::OkStatus();
}

// Acceptance for one sequence given the target rows r0..rk (row0 = first).
// Returns the number of accepted drafts and sets *next to the token that follows them.
int Accept(const Ctx& c, const ForwardResult& fr, int row0, SeqState& s, TokenId* next) {
  const int k = c.opt.k;
  if (c.greedy()) {
    int a = 0;
    while (a < k && s.drafts[a] == fr.argmax[row0 + a]) ++a;
    *next = fr.argmax[row0 + a];
    return a;
  }
  std::vector<float> p;
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  for (int a = 0; a < k; ++a) {
    Softmax(Row(fr, row0 + a), fr.vocab_size, c.opt.temperature, &p);
    const TokenId d = s.drafts[a];
    const double ratio = static_cast<double>(p[d]) / static_cast<double>(s.q[a][d]);
    if (uni(s.rng) < std::min(1.0, ratio)) continue;
    for (size_t v = 0; v < p.size(); ++v) p[v] = std::max(0.0f, p[v] - s.q[a][v]);
    double mass = 0.0;
    for (float v : p) mass += v;
    if (mass <= 0.0) Softmax(Row(fr, row0 + a), fr.vocab_size, c.opt.temperature, &p);
    *next = Sample(p, s.rng);
    return a;
  }
  Softmax(Row(fr, row0 + k), fr.vocab_size, c.opt.temperature, &p);
  *next = Sample(p, s.rng);
  return k;
}

absl::Status SpecStep(const Ctx& c, const std::vector<size_t>& act) {
  const int k = c.opt.k;
  RETURN_IF_ERROR(DraftRounds(c, act));
  std::vector<std::vector<TokenId>> verify(act.size());
  std::vector<SeqChunk> chunks(act.size());
  for (size_t i = 0; i < act.size(); ++i) {
    SeqState& s = c.seqs[act[i]];
    verify[i].push_back(s.last);
    verify[i].insert(verify[i].end(), s.drafts.begin(), s.drafts.end());
    chunks[i].slot = static_cast<engine::SlotId>(act[i]);
    chunks[i].tokens = absl::MakeConstSpan(verify[i]);
    chunks[i].pending = true;
    chunks[i].all_logits = true;
  }
  ForwardResult fr;
  engine::ForwardOptions fo;
  fo.want_logits = !c.greedy();
  RETURN_IF_ERROR(c.target.Forward(chunks, fo, &fr));
  for (size_t i = 0; i < act.size(); ++i) {
    SeqState& s = c.seqs[act[i]];
    TokenId next = 0;
    const int a = Accept(c, fr, fr.row_offset[i], s, &next);
    const auto slot = static_cast<engine::SlotId>(act[i]);
    RETURN_IF_ERROR(c.target.Commit(slot, a + 1));
    const int draft_fed = static_cast<int>(s.lag.size()) + 1 + std::min(a, k - 1);
    RETURN_IF_ERROR(c.draft->Commit(slot, draft_fed));
    s.lag.clear();
    if (a == k) s.lag.push_back(s.drafts[k - 1]);
    ++c.res.steps;
    c.res.drafted += k;
    c.res.accepted += a;
    for (int j = 0; j < a; ++j) ++c.res.accepted_at[j];
    std::vector<TokenId> emitted(s.drafts.begin(), s.drafts.begin() + a);
    emitted.push_back(next);
    s.last = next;
    Emit(c, s, emitted, /*decode=*/true);
  }
  return absl::OkStatus();
}

absl::Status Validate(Engine& target, Engine* draft,
                      const std::vector<std::vector<TokenId>>& prompts,
                      const SpeculativeOptions& o) {
  if (o.k < 0 || o.max_new_tokens <= 0)
    return absl::InvalidArgumentError("need k >= 0, max_new_tokens > 0");
  if (static_cast<int>(prompts.size()) > target.num_slots()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prompts.size(), " prompts but the target has ", target.num_slots(), " slots"));
  }
  for (const auto& p : prompts) {
    if (p.empty()) return absl::InvalidArgumentError("empty prompt");
  }
  if (o.k == 0) return absl::OkStatus();
  if (draft == nullptr) return absl::InvalidArgumentError("k > 0 needs a draft engine");
  if (static_cast<int>(prompts.size()) > draft->num_slots()) {
    return absl::InvalidArgumentError("more prompts than draft slots");
  }
  if (draft->config().vocab_size != target.config().vocab_size) {
    return absl::InvalidArgumentError("draft and target vocabularies differ");
  }
  if (o.k + 1 > target.max_pending() || o.k + 1 > draft->max_pending()) {
    return absl::InvalidArgumentError(absl::StrCat("k=", o.k, " exceeds the pending capacity"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SpeculativeResult> RunSpeculative(Engine& target, Engine* draft,
                                                 const std::vector<std::vector<TokenId>>& prompts,
                                                 const SpeculativeOptions& options) {
  RETURN_IF_ERROR(Validate(target, draft, prompts, options));
  if (options.k == 0) draft = nullptr;
  SpeculativeResult res;
  res.sequences = static_cast<int64_t>(prompts.size());
  res.accepted_at.assign(std::max(options.k, 0), 0);
  std::vector<SeqState> seqs(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    seqs[i].rng.seed(options.seed * 0x9E3779B97F4A7C15ULL + i);
    const auto slot = static_cast<engine::SlotId>(i);
    RETURN_IF_ERROR(target.Release(slot));
    if (draft != nullptr) RETURN_IF_ERROR(draft->Release(slot));
  }
  Ctx c{target, draft, options, seqs, res};
  auto t0 = Clock::now();
  RETURN_IF_ERROR(Prefill(c, prompts));
  auto t1 = Clock::now();
  for (std::vector<size_t> act = Active(c); !act.empty(); act = Active(c)) {
    RETURN_IF_ERROR(draft == nullptr ? PlainStep(c, act) : SpecStep(c, act));
  }
  auto t2 = Clock::now();
  res.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  res.decode_seconds = std::chrono::duration<double>(t2 - t1).count();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto slot = static_cast<engine::SlotId>(i);
    RETURN_IF_ERROR(target.Release(slot));
    if (draft != nullptr) RETURN_IF_ERROR(draft->Release(slot));
    res.outputs.push_back(std::move(seqs[i].out));
  }
  return res;
}

}  // namespace linspec::tools
