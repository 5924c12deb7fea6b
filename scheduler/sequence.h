// One admitted request on the engine loop thread. Each feature keeps its state in its own
// member (spec history, stop/stream state, timing, usage).
//
// Engine view: in kPrefill, `prefilled` prompt tokens are committed in the target slot. In
// kDecode, every token of `tokens` except the last is committed; the last one was sampled and
// is the first token of the next verify chunk.
#ifndef LINSPEC_SCHEDULER_SEQUENCE_H_
#define LINSPEC_SCHEDULER_SEQUENCE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "scheduler/draft_length.h"
#include "scheduler/request.h"
#include "scheduler/stop_checker.h"

namespace linspec::scheduler {

enum class SeqPhase { kPrefill, kDecode };

struct SeqTiming {
  TimePoint arrival;
  TimePoint admitted;
  std::optional<TimePoint> first_token;
  TimePoint last_token;
};

struct Sequence {
  Sequence(uint64_t id_in, GenerateRequest req, engine::SlotId slot_in, uint64_t seed_in,
           StopChecker stop_in)
      : id(id_in),
        request(std::move(req)),
        slot(slot_in),
        seed(seed_in),
        stop(std::move(stop_in)) {}

  int num_prompt() const { return static_cast<int>(request.prompt.size()); }
  // Output index of the next token to be generated.
  uint64_t num_generated() const { return tokens.size() - request.prompt.size(); }
  bool greedy() const { return request.sampling.temperature <= 0; }

  uint64_t id;
  GenerateRequest request;
  engine::SlotId slot;
  uint64_t seed;
  SeqPhase phase = SeqPhase::kPrefill;
  int prefilled = 0;
  std::vector<engine::TokenId> tokens;  // prompt, then generated tokens
  StopChecker stop;
  SpecHistory spec;
  SeqTiming timing;
  Usage usage;
  bool cancel_requested = false;
  // Set when the sequence must leave the batch at the end of this step.
  std::optional<FinishReason> finish;
  absl::Status finish_status;
};

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_SEQUENCE_H_
