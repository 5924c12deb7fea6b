// One engine step: plan prefill chunks within the token budget, choose draft lengths, draft,
// run ONE target Forward carrying the prefill chunks and every decoding sequence's verify
// chunk, then accept and commit.
#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "scheduler/acceptance.h"
#include "scheduler/batch_scheduler.h"
#include "scheduler/sampler.h"

namespace linspec::scheduler {

void BatchScheduler::Step() {
  ++steps_;
  std::vector<Sequence*> decoding;
  for (auto& s : running_) {
    if (!s->finish && s->phase == SeqPhase::kDecode) decoding.push_back(s.get());
  }
  const int budget = options_.max_batch_tokens;
  const int decode_min = static_cast<int>(decoding.size());
  std::vector<PrefillChunk> prefill =
      PlanPrefill(std::min(options_.prefill_token_budget, budget - decode_min));
  int prefill_tokens = 0;
  for (const PrefillChunk& c : prefill) prefill_tokens += c.num_tokens;

  std::vector<DraftTask> drafts;
  if (!decoding.empty()) {
    std::vector<SpecHistory*> hist;
    for (Sequence* s : decoding) {
      s->spec.catchup_tokens = drafter_->CatchupTokens(s->slot, s->tokens.size());
      hist.push_back(&s->spec);
    }
    std::vector<int> ks = policy_.Choose(hist, prefill_tokens, budget);
    for (size_t j = 0; j < decoding.size(); ++j) {
      // Drafts past max_tokens could never be emitted: the target adds one token anyway.
      const int remaining =
          decoding[j]->request.sampling.max_tokens - static_cast<int>(decoding[j]->num_generated());
      ks[j] = std::max(0, std::min(ks[j], remaining - 1));
    }
    if (absl::Status s = RunDrafter(decoding, ks, &drafts); !s.ok()) {
      for (Sequence* seq : decoding) Finish(seq, FinishReason::kError, s);
      for (const PrefillChunk& c : prefill) Finish(c.seq, FinishReason::kError, s);
      decoding.clear();
      prefill.clear();
      drafts.clear();
    }
  }
  if (prefill.empty() && decoding.empty()) {
    CheckHealth();
    return;
  }
  if (absl::Status s = RunTarget(prefill, decoding, drafts); !s.ok()) {
    for (const PrefillChunk& c : prefill) Finish(c.seq, FinishReason::kError, s);
    for (Sequence* seq : decoding) Finish(seq, FinishReason::kError, s);
    CheckHealth();
    return;
  }
  const double t0 = clock_->NowSeconds();
  for (size_t i = 0; i < prefill.size(); ++i) AfterPrefill(prefill[i], result_.row_offset[i], i);
  for (size_t j = 0; j < decoding.size(); ++j) {
    const size_t chunk = prefill.size() + j;
    const int row = result_.row_offset[chunk];
    if (absl::Status s = AfterDecode(decoding[j], drafts[j], row, chunk); !s.ok()) {
      Finish(decoding[j], FinishReason::kError, s);
    }
  }
  const double sample_seconds = clock_->NowSeconds() - t0;
  observer_->OnStepPhase(StepPhase::kSample, sample_seconds);
  // The cost fit models decode/verify steps (prefill-heavy forwards would skew its slope),
  // including acceptance and commits, which grow with the verified tokens too.
  if (prefill.empty()) {
    policy_.RecordTargetForward(last_forward_tokens_, last_forward_seconds_ + sample_seconds);
  }
  CheckHealth();
}

std::vector<BatchScheduler::PrefillChunk> BatchScheduler::PlanPrefill(int token_budget) {
  std::vector<PrefillChunk> out;
  for (auto& s : running_) {
    if (token_budget <= 0) break;
    if (s->finish || s->phase != SeqPhase::kPrefill) continue;
    const int n = std::min(s->num_prompt() - s->prefilled, token_budget);
    out.push_back(PrefillChunk{s.get(), n});
    token_budget -= n;
  }
  return out;
}

absl::Status BatchScheduler::RunDrafter(const std::vector<Sequence*>& decoding,
                                        const std::vector<int>& ks,
                                        std::vector<DraftTask>* drafts) {
  drafts->resize(decoding.size());
  std::vector<DraftTask*> tasks;
  bool any = false;
  for (size_t j = 0; j < decoding.size(); ++j) {
    Sequence* seq = decoding[j];
    DraftTask& t = (*drafts)[j];
    t.slot = seq->slot;
    t.context = seq->tokens;
    t.sampling = &seq->request.sampling;
    t.seed = seq->seed;
    t.first_index = seq->num_generated();
    t.k = ks[j];
    any = any || t.k > 0;
    tasks.push_back(&t);
  }
  // No sequence drafts: the drafter is not called at all (a server where speculation does
  // not pay runs like one without a drafter).
  if (!any) return absl::OkStatus();
  ++draft_steps_;
  const double t0 = clock_->NowSeconds();
  RETURN_IF_ERROR(drafter_->Propose(tasks));
  const double seconds = clock_->NowSeconds() - t0;
  observer_->OnStepPhase(StepPhase::kDraft, seconds);
  if (drafter_->uses_engine()) {
    for (const DraftForwardCost& f : drafter_->last_forwards()) {
      policy_.RecordDraftForward(f.num_tokens, f.seconds);
    }
  } else {
    policy_.RecordDraftStep(seconds);
  }
  for (DraftTask& t : *drafts) {
    // A drafter may return fewer than k proposals, never more.
    if (static_cast<int>(t.tokens.size()) > t.k) t.tokens.resize(t.k);
    if (!t.probs.empty()) t.probs.resize(t.tokens.size() * target_->config().vocab_size);
  }
  return absl::OkStatus();
}

absl::Status BatchScheduler::RunTarget(const std::vector<PrefillChunk>& prefill,
                                       const std::vector<Sequence*>& decoding,
                                       const std::vector<DraftTask>& drafts) {
  std::vector<engine::SeqChunk> chunks;
  std::vector<std::vector<engine::TokenId>> verify(decoding.size());
  bool want_logits = false;
  bool any_draft = false;
  int num_tokens = 0;
  sampling_.clear();
  for (const PrefillChunk& c : prefill) {
    engine::SeqChunk chunk;
    chunk.slot = c.seq->slot;
    chunk.tokens =
        absl::MakeConstSpan(c.seq->request.prompt).subspan(c.seq->prefilled, c.num_tokens);
    chunks.push_back(chunk);
    num_tokens += c.num_tokens;
    const bool last = c.seq->prefilled + c.num_tokens == c.seq->num_prompt();
    if (last && !c.seq->greedy()) want_logits = true;
    sampling_.push_back(ChunkSamplingOf(*c.seq, last, {}));
  }
  for (size_t j = 0; j < decoding.size(); ++j) {
    Sequence* seq = decoding[j];
    verify[j].push_back(seq->tokens.back());
    verify[j].insert(verify[j].end(), drafts[j].tokens.begin(), drafts[j].tokens.end());
    engine::SeqChunk chunk;
    chunk.slot = seq->slot;
    chunk.tokens = verify[j];
    chunk.pending = verify[j].size() > 1;
    chunk.all_logits = chunk.pending;
    chunks.push_back(chunk);
    num_tokens += static_cast<int>(verify[j].size());
    want_logits = want_logits || !seq->greedy();
    any_draft = any_draft || chunk.pending;
    sampling_.push_back(ChunkSamplingOf(*seq, true, drafts[j].probs));
  }
  engine::ForwardOptions fo;
  fo.want_logits = want_logits && !device_sampling_;
  if (device_sampling_) fo.sampling = sampling_;
  const double t0 = clock_->NowSeconds();
  RETURN_IF_ERROR(target_->Forward(chunks, fo, &result_));
  const double seconds = clock_->NowSeconds() - t0;
  result_has_logits_ = fo.want_logits;
  const StepPhase phase = any_draft          ? StepPhase::kVerify
                          : decoding.empty() ? StepPhase::kPrefill
                                             : StepPhase::kDecode;
  observer_->OnStepPhase(phase, seconds);
  observer_->OnBatch(static_cast<int>(chunks.size()));
  last_forward_tokens_ = num_tokens;
  last_forward_seconds_ = seconds;
  return absl::OkStatus();
}

engine::ChunkSampling BatchScheduler::ChunkSamplingOf(const Sequence& seq, bool active,
                                                      absl::Span<const float> draft_probs) const {
  engine::ChunkSampling s;
  s.active = active;
  const SamplingParams& p = seq.request.sampling;
  s.temperature = seq.greedy() ? 0.f : p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.seed = seq.seed;
  s.first_index = seq.num_generated();
  s.draft_probs = draft_probs;
  return s;
}

void BatchScheduler::AfterPrefill(const PrefillChunk& chunk, int row, size_t chunk_index) {
  Sequence* seq = chunk.seq;
  seq->prefilled += chunk.num_tokens;
  if (seq->prefilled < seq->num_prompt()) return;
  seq->phase = SeqPhase::kDecode;
  EmitTokens(seq, {device_sampling_ ? result_.sampled[chunk_index].next : SampleRow(seq, row)});
}

absl::Status BatchScheduler::AfterDecode(Sequence* seq, const DraftTask& draft, int first_row,
                                         size_t chunk_index) {
  const int k = static_cast<int>(draft.tokens.size());
  if (k == 0) {
    // The last token was fed committed (pending=false); nothing to accept, nothing for the
    // drafter to commit.
    policy_.RecordAcceptance(&seq->spec, 0, 0);
    EmitTokens(seq,
               {device_sampling_ ? result_.sampled[chunk_index].next : SampleRow(seq, first_row)});
    return absl::OkStatus();
  }
  AcceptResult acc;
  if (device_sampling_) {
    acc.num_accepted = result_.sampled[chunk_index].num_accepted;
    acc.next = result_.sampled[chunk_index].next;
  } else if (seq->greedy()) {
    acc = AcceptGreedy(draft.tokens, absl::MakeConstSpan(result_.argmax).subspan(first_row, k + 1));
  } else {
    const int vocab = result_.vocab_size;
    SampledAcceptInput in;
    in.drafts = draft.tokens;
    in.draft_probs = draft.probs;
    // Rows are transformed lazily, one at a time: rows after a rejection are never computed.
    in.target_row = [&](int i) {
      ToProbs(Row(first_row + i), vocab, seq->request.sampling, &probs_);
      return static_cast<const float*>(probs_.data());
    };
    in.vocab = vocab;
    in.seed = seq->seed;
    in.first_index = seq->num_generated();
    acc = AcceptSampled(in);
  }
  RETURN_IF_ERROR(target_->Commit(seq->slot, acc.num_accepted + 1));
  RETURN_IF_ERROR(drafter_->Commit(seq->slot, k, acc.num_accepted));
  seq->usage.draft_tokens += k;
  seq->usage.accepted_tokens += acc.num_accepted;
  observer_->OnSpecDecode(k, acc.num_accepted);
  policy_.RecordAcceptance(&seq->spec, k, acc.num_accepted);
  std::vector<engine::TokenId> out(draft.tokens.begin(), draft.tokens.begin() + acc.num_accepted);
  out.push_back(acc.next);
  EmitTokens(seq, out);
  return absl::OkStatus();
}

const float* BatchScheduler::Row(int row) const {
  return result_.logits.data() + static_cast<size_t>(row) * result_.vocab_size;
}

}  // namespace linspec::scheduler
