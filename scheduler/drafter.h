// Drafters propose tokens that the target model then verifies (DESIGN.md §4). One interface
// for the draft model, n-gram prompt lookup and "none"; tests add a random-token drafter.
//
// Life of a sequence as the drafter sees it: Propose (steps where some sequence of the batch
// drafts; its k may be 0), then Commit with how many of the proposals the target accepted,
// until Release. Between Propose and Commit the drafter may hold pending state (the draft
// model's slot). A drafter must do no work for a task with k = 0 beyond what later proposals
// need, and the scheduler skips Propose for a batch where every k is 0: when speculation
// does not pay, a server with a drafter runs like one without.
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

// One engine Forward a drafter ran: the cost model fits seconds = a + b * num_tokens.
struct DraftForwardCost {
  int num_tokens = 0;
  double seconds = 0;
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  virtual const char* name() const = 0;
  // True when proposing runs a model (its cost is measured per forward).
  virtual bool uses_engine() const { return false; }
  // The Forward calls the last Propose made, in order (for the cost model). Valid until the
  // next Propose.
  virtual absl::Span<const DraftForwardCost> last_forwards() const { return {}; }

  // Tokens of a sequence with context_size tokens that the next Propose drafting for it
  // would have to feed first (its catch-up). Exploration prefers sequences with little.
  virtual int64_t CatchupTokens(engine::SlotId slot, size_t context_size) const { return 0; }

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
