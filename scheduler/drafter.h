// Drafters propose tokens that the target model then verifies (DESIGN.md §4). One interface
// for the draft model, n-gram prompt lookup and "none"; tests add a random-token drafter.
//
// Life of a sequence as the drafter sees it: Propose (every step the sequence decodes; k may
// be 0), then Commit with how many of the proposals the target accepted, until Release.
// Between Propose and Commit the drafter may hold pending state (the draft model's slot).
//
// Thread-safety: none; called only from the engine loop thread.
// Errors: a failing draft engine returns its status; the scheduler fails the sequences of
// that step.
#ifndef LINSPEC_SCHEDULER_DRAFTER_H_
#define LINSPEC_SCHEDULER_DRAFTER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/engine.h"
#include "scheduler/request.h"

namespace linspec::scheduler {

struct DraftTask {
  engine::SlotId slot = 0;
  // Every token of the sequence: prompt, then generated tokens including the last sampled
  // one, which the target has not seen yet. Borrowed for the call.
  absl::Span<const engine::TokenId> context;
  const SamplingParams* sampling = nullptr;
  uint64_t seed = 0;
  uint64_t first_index = 0;  // output index of the first proposal
  int k = 0;                 // proposals wanted (the drafter may return fewer)

  // Filled by Propose.
  std::vector<engine::TokenId> tokens;
  // Empty, or tokens.size() rows of the proposal distribution [rows, vocab] (see
  // SampledAcceptInput::draft_probs).
  std::vector<float> probs;
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  virtual const char* name() const = 0;
  // True when proposing runs a model (its cost is measured per forward).
  virtual bool uses_engine() const { return false; }
  // Number of Forward calls the last Propose made (for the cost model).
  virtual int last_num_forwards() const { return 0; }

  // The target prefills these prompt tokens of a slot in this step (committed). A drafter
  // with a model feeds them in its next Propose so that its slot never lags by a prompt;
  // Propose is called every step that has prefill chunks or decoding sequences.
  virtual void AddPrefill(engine::SlotId slot, absl::Span<const engine::TokenId> tokens) {}

  virtual absl::Status Propose(absl::Span<DraftTask* const> tasks) = 0;
  // num_proposed tokens were proposed for the slot in the last Propose; the first
  // num_accepted of them are now part of the sequence.
  virtual absl::Status Commit(engine::SlotId slot, int num_proposed, int num_accepted) {
    return absl::OkStatus();
  }
  // The sequence in the slot ended; forget it.
  virtual void Release(engine::SlotId slot) {}
};

// Proposes nothing.
std::unique_ptr<Drafter> MakeNoDrafter();

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_DRAFTER_H_
