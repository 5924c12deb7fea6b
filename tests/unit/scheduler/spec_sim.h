// A deterministic simulation of a loaded server with and without a drafter: the scheduler
// runs over fake target and draft engines whose every Forward advances a shared FakeClock by
// a simulated cost (a + b * tokens per model), and closed-loop clients keep `concurrency`
// greedy requests in flight. Totals are in simulated seconds, so the same scenario gives the
// same numbers on any machine (used by spec_policy_test and bench/spec_policy_bench.cc).
//
// Determinism: the initial requests are all admitted in one step (a one-token gate request
// holds the first Forward until they are queued), later requests are submitted from the
// finishing request's sink on the loop thread, and every cost-model input is simulated time.
#ifndef LINSPEC_TESTS_UNIT_SCHEDULER_SPEC_SIM_H_
#define LINSPEC_TESTS_UNIT_SCHEDULER_SPEC_SIM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/types.h"
#include "scheduler/scheduler.h"

namespace linspec::testing {

struct SimCost {
  double forward_s = 0;  // per Forward
  double token_s = 0;    // per token in the Forward
};

struct SpecSimScenario {
  std::string name;
  SimCost target;
  SimCost draft;
  float draft_agreement = 0.5f;  // fraction of prefixes where the draft equals the target
  float draft_noise = 6.0f;      // logit noise elsewhere (enough to change the argmax)
  int concurrency = 16;          // closed-loop clients
  int num_requests = 128;
  int prompt_min = 16;
  int prompt_max = 64;
  int max_tokens = 128;  // ignore_eos: every request generates exactly this many
  int num_draft_tokens = 4;
  int vocab = 64;
  uint64_t seed = 1;  // prompts and the draft's noise
};

struct SpecSimResult {
  double sim_seconds = 0;  // from the first real Forward to the last
  int64_t generated_tokens = 0;
  int64_t target_forwards = 0;
  int64_t draft_forwards = 0;
  int64_t draft_tokens_fed = 0;
  int64_t draft_tokens = 0;  // proposed
  int64_t accepted_tokens = 0;
  scheduler::SchedulerStats stats;
  std::vector<std::vector<engine::TokenId>> outputs;  // per request, in submission order
  double tokens_per_second() const { return sim_seconds > 0 ? generated_tokens / sim_seconds : 0; }
};

// Runs the scenario with the given drafter (kNone or kDraftModel; adaptive draft length).
absl::StatusOr<SpecSimResult> RunSpecSim(const SpecSimScenario& scenario,
                                         scheduler::DrafterKind drafter);

}  // namespace linspec::testing

#endif  // LINSPEC_TESTS_UNIT_SCHEDULER_SPEC_SIM_H_
