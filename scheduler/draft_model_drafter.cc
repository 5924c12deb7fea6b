#include "scheduler/draft_model_drafter.h"

#include <algorithm>
#include <vector>

#include "common/status_macros.h"
#include "scheduler/sampler.h"

namespace linspec::scheduler {

namespace {

class DraftModelDrafter : public Drafter {
 public:
  explicit DraftModelDrafter(const DraftModelDrafterOptions& o)
      : opt_(o), clock_(o.clock != nullptr ? o.clock : SteadyStepClock()) {}
  const char* name() const override { return "draft_model"; }
  bool uses_engine() const override { return true; }
  absl::Span<const DraftForwardCost> last_forwards() const override { return forwards_; }
  int64_t CatchupTokens(engine::SlotId slot, size_t context_size) const override {
    return static_cast<int64_t>(context_size) - opt_.engine->position(slot);
  }

  absl::Status Propose(absl::Span<DraftTask* const> tasks) override;
  absl::Status Commit(engine::SlotId slot, int num_proposed, int num_accepted) override {
    if (num_proposed <= 1) return absl::OkStatus();
    // Proposals 2..k were fed as pending; the last proposal never was.
    return opt_.engine->Commit(slot, std::min(num_accepted, num_proposed - 1));
  }

 private:
  // Appends the proposal drawn from a logits row to the task.
  void Draw(DraftTask* t, const float* logits, engine::TokenId argmax, int vocab);
  // Runs one draft Forward and appends each owner's next proposal (owners[i] may be null:
  // the chunk only feeds tokens). Draws on the draft engine's device when it samples.
  absl::Status ForwardAndDraw(const std::vector<engine::SeqChunk>& chunks,
                              const std::vector<DraftTask*>& owners);
  absl::Status FirstForward(absl::Span<DraftTask* const> tasks, std::vector<DraftTask*>* active);

  DraftModelDrafterOptions opt_;
  const StepClock* clock_;
  engine::ForwardResult result_;
  std::vector<engine::ChunkSampling> sampling_;
  std::vector<float> probs_;
  std::vector<DraftForwardCost> forwards_;
};

void DraftModelDrafter::Draw(DraftTask* t, const float* logits, engine::TokenId argmax, int vocab) {
  if (t->sampling->temperature <= 0) {
    t->tokens.push_back(argmax);
    return;
  }
  ToProbs(logits, vocab, *t->sampling, &probs_);
  const uint64_t index = t->first_index + t->tokens.size();
  t->tokens.push_back(
      SampleFromProbs(probs_.data(), vocab, UniformAt(t->seed, index, RandomStream::kDraft)));
  t->probs.insert(t->probs.end(), probs_.begin(), probs_.end());
}

// Feeds each drafting task's lag (committed) and draws its first proposal. Tasks with k = 0
// are not touched (their lag waits until they draft). Tasks whose lag does not fit the
// catch-up budget are caught up partly and propose nothing this step.
absl::Status DraftModelDrafter::FirstForward(absl::Span<DraftTask* const> tasks,
                                             std::vector<DraftTask*>* active) {
  std::vector<engine::SeqChunk> chunks;
  std::vector<DraftTask*> owners;
  int budget = opt_.catchup_token_budget;
  for (DraftTask* t : tasks) {
    if (t->k <= 0) continue;
    const int64_t fed = opt_.engine->position(t->slot);
    const int lag = static_cast<int>(t->context.size() - fed);
    if (lag <= 0) continue;  // cannot happen: the last sampled token is never fed
    const bool fits = lag <= std::max(budget, 1 + t->k);  // small lags always fit
    const int n = fits ? lag : std::max(0, budget);
    if (n == 0) continue;
    budget -= n;
    engine::SeqChunk c;
    c.slot = t->slot;
    c.tokens = t->context.subspan(fed, n);
    chunks.push_back(c);
    owners.push_back(fits ? t : nullptr);
  }
  if (chunks.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(ForwardAndDraw(chunks, owners));
  for (DraftTask* t : owners) {
    if (t != nullptr) active->push_back(t);
  }
  return absl::OkStatus();
}

absl::Status DraftModelDrafter::ForwardAndDraw(const std::vector<engine::SeqChunk>& chunks,
                                               const std::vector<DraftTask*>& owners) {
  const bool device = opt_.device_sampling && opt_.engine->samples_on_device();
  bool want_logits = false;
  for (const DraftTask* t : owners) want_logits |= t != nullptr && t->sampling->temperature > 0;
  engine::ForwardOptions fo;
  fo.want_logits = want_logits && !device;
  if (device) {
    sampling_.assign(chunks.size(), engine::ChunkSampling{});
    for (size_t i = 0; i < owners.size(); ++i) {
      const DraftTask* t = owners[i];
      if (t == nullptr) continue;
      engine::ChunkSampling& s = sampling_[i];
      s.active = true;
      s.temperature = std::max(0.f, t->sampling->temperature);
      s.top_k = t->sampling->top_k;
      s.top_p = t->sampling->top_p;
      s.seed = t->seed;
      s.first_index = t->first_index + t->tokens.size();
      s.stream = RandomStream::kDraft;
      s.want_probs = s.temperature > 0;  // q for the target's acceptance
    }
    fo.sampling = sampling_;
  }
  int num_tokens = 0;
  for (const engine::SeqChunk& c : chunks) num_tokens += static_cast<int>(c.tokens.size());
  const double t0 = clock_->NowSeconds();
  RETURN_IF_ERROR(opt_.engine->Forward(chunks, fo, &result_));
  forwards_.push_back(DraftForwardCost{num_tokens, clock_->NowSeconds() - t0});
  const int vocab = result_.vocab_size;
  size_t probs_row = 0;
  for (size_t i = 0; i < owners.size(); ++i) {
    DraftTask* t = owners[i];
    if (t == nullptr) continue;
    if (device) {
      t->tokens.push_back(result_.sampled[i].next);
      if (sampling_[i].want_probs) {
        const float* q = result_.probs.data() + probs_row++ * vocab;
        t->probs.insert(t->probs.end(), q, q + vocab);
      }
      continue;
    }
    const int row = result_.row_offset[i];
    const float* logits =
        fo.want_logits ? result_.logits.data() + static_cast<size_t>(row) * vocab : nullptr;
    Draw(t, logits, result_.argmax[row], vocab);
  }
  return absl::OkStatus();
}

absl::Status DraftModelDrafter::Propose(absl::Span<DraftTask* const> tasks) {
  forwards_.clear();
  for (DraftTask* t : tasks) {
    t->tokens.clear();
    t->probs.clear();
  }
  std::vector<DraftTask*> active;
  RETURN_IF_ERROR(FirstForward(tasks, &active));
  for (int step = 1;; ++step) {
    std::vector<engine::SeqChunk> chunks;
    std::vector<DraftTask*> owners;
    for (DraftTask* t : active) {
      if (t->k <= step) continue;
      engine::SeqChunk c;
      c.slot = t->slot;
      c.tokens = absl::MakeConstSpan(&t->tokens.back(), 1);
      c.pending = true;
      chunks.push_back(c);
      owners.push_back(t);
    }
    if (chunks.empty()) break;
    RETURN_IF_ERROR(ForwardAndDraw(chunks, owners));
  }
  return absl::OkStatus();
}

}  // namespace

std::unique_ptr<Drafter> MakeDraftModelDrafter(const DraftModelDrafterOptions& options) {
  return std::make_unique<DraftModelDrafter>(options);
}

}  // namespace linspec::scheduler
