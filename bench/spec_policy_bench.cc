// linspec-bench-spec-policy: the speculation policy in simulated time. For each scenario
// (target and draft cost per Forward a + b * tokens, how often the draft agrees with the
// target, closed-loop streams), runs the real scheduler over fake engines that advance a
// fake clock (tests/unit/scheduler/spec_sim.h), once with no drafter and once with the
// draft-model drafter (adaptive k), and reports simulated throughput, the time ratio and
// how much work the draft model did. Deterministic: the same seed gives the same table on
// any machine. Prints a table and writes JSON (default bench/results/spec_policy.json).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "scheduler/scheduler.h"
#include "tests/unit/scheduler/spec_sim.h"

namespace {

using linspec::testing::RunSpecSim;
using linspec::testing::SimCost;
using linspec::testing::SpecSimResult;
using linspec::testing::SpecSimScenario;
namespace sched = linspec::scheduler;

struct Flags {
  int requests_per_stream = 8;
  int max_tokens = 128;
  uint64_t seed = 1;
  std::string out = "bench/results/spec_policy.json";
};

std::vector<SpecSimScenario> Scenarios(const Flags& f) {
  // GPU-like: fixed cost per Forward dominates (1 ms + 10 us/token); CPU-like: per token.
  const SimCost gpu_target{1e-3, 1e-5};
  struct Row {
    const char* name;
    SimCost target, draft;
    float agreement;
    int streams;
  };
  const Row rows[] = {
      {"costly_draft_low_accept", gpu_target, {1e-3, 1e-5}, 0.2f, 16},
      {"costly_draft_low_accept", gpu_target, {1e-3, 1e-5}, 0.2f, 64},
      {"costly_draft_high_accept", gpu_target, {1e-3, 1e-5}, 0.9f, 16},
      {"half_cost_draft_low_accept", gpu_target, {5e-4, 5e-6}, 0.1f, 16},
      {"half_cost_draft_high_accept", gpu_target, {5e-4, 5e-6}, 0.9f, 16},
      {"cheap_draft_mid_accept", gpu_target, {1e-4, 1e-6}, 0.6f, 16},
      {"cheap_draft_high_accept", gpu_target, {1e-4, 1e-6}, 0.95f, 16},
      {"cheap_draft_high_accept", gpu_target, {1e-4, 1e-6}, 0.95f, 64},
      {"cpu_like_cheap_draft_high_accept", {1e-4, 1e-4}, {2e-5, 2e-5}, 0.9f, 16},
  };
  std::vector<SpecSimScenario> out;
  for (const Row& r : rows) {
    SpecSimScenario s;
    s.name = r.name;
    s.target = r.target;
    s.draft = r.draft;
    s.draft_agreement = r.agreement;
    s.concurrency = r.streams;
    s.num_requests = f.requests_per_stream * r.streams;
    s.max_tokens = f.max_tokens;
    s.seed = f.seed;
    out.push_back(s);
  }
  return out;
}

nlohmann::json ResultJson(const SpecSimResult& r) {
  return {
      {"sim_seconds", r.sim_seconds},           {"tokens_per_sim_second", r.tokens_per_second()},
      {"generated_tokens", r.generated_tokens}, {"target_forwards", r.target_forwards},
      {"draft_forwards", r.draft_forwards},     {"draft_tokens_fed", r.draft_tokens_fed},
      {"draft_tokens", r.draft_tokens},         {"accepted_tokens", r.accepted_tokens},
      {"decode_steps", r.stats.decode_steps},   {"draft_steps", r.stats.draft_steps},
      {"explore_steps", r.stats.explore_steps}};
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"speculation policy in simulated time (fake engines, fake clock)"};
  app.add_option("--requests-per-stream", f.requests_per_stream, "requests per client stream");
  app.add_option("--max-tokens", f.max_tokens, "tokens per request (ignore_eos)");
  app.add_option("--seed", f.seed, "prompts and draft noise");
  app.add_option("--out", f.out, "JSON output path");
  CLI11_PARSE(app, argc, argv);

  std::printf("seed=%llu, %d requests per stream, %d tokens each, greedy, k <= 4 adaptive\n",
              static_cast<unsigned long long>(f.seed), f.requests_per_stream, f.max_tokens);
  std::printf("%-33s %4s %13s %13s %5s %10s %11s %6s %7s %7s %7s %6s\n", "scenario", "strm",
              "target a+b", "draft a+b", "agree", "none tok/s", "draft tok/s", "time x", "d.fwd",
              "d.steps", "explore", "accept");
  nlohmann::json rows = nlohmann::json::array();
  for (const SpecSimScenario& s : Scenarios(f)) {
    absl::StatusOr<SpecSimResult> plain = RunSpecSim(s, sched::DrafterKind::kNone);
    absl::StatusOr<SpecSimResult> spec = RunSpecSim(s, sched::DrafterKind::kDraftModel);
    if (!plain.ok() || !spec.ok()) {
      std::fprintf(stderr, "%s: %s\n", s.name.c_str(),
                   (!plain.ok() ? plain.status() : spec.status()).ToString().c_str());
      return 1;
    }
    if (spec->outputs != plain->outputs) {
      std::fprintf(stderr, "%s: speculative output differs from plain greedy\n", s.name.c_str());
      return 1;
    }
    const double ratio = spec->sim_seconds / plain->sim_seconds;
    const double accept = spec->draft_tokens > 0
                              ? static_cast<double>(spec->accepted_tokens) / spec->draft_tokens
                              : 0;
    char tc[32], dc[32];
    std::snprintf(tc, sizeof(tc), "%.2g+%.2g", s.target.forward_s, s.target.token_s);
    std::snprintf(dc, sizeof(dc), "%.2g+%.2g", s.draft.forward_s, s.draft.token_s);
    std::printf("%-33s %4d %13s %13s %5.2f %10.0f %11.0f %6.3f %7lld %7lld %7lld %6.2f\n",
                s.name.c_str(), s.concurrency, tc, dc, s.draft_agreement,
                plain->tokens_per_second(), spec->tokens_per_second(), ratio,
                static_cast<long long>(spec->draft_forwards),
                static_cast<long long>(spec->stats.draft_steps),
                static_cast<long long>(spec->stats.explore_steps), accept);
    rows.push_back(
        {{"scenario", s.name},
         {"streams", s.concurrency},
         {"requests", s.num_requests},
         {"max_tokens", s.max_tokens},
         {"target_cost", {{"forward_s", s.target.forward_s}, {"token_s", s.target.token_s}}},
         {"draft_cost", {{"forward_s", s.draft.forward_s}, {"token_s", s.draft.token_s}}},
         {"draft_agreement", s.draft_agreement},
         {"time_ratio_draft_vs_none", ratio},
         {"acceptance", accept},
         {"none", ResultJson(*plain)},
         {"draft_model", ResultJson(*spec)}});
  }
  nlohmann::json doc = {{"benchmark", "spec_policy"},
                        {"time", "simulated (FakeClock), not wall time"},
                        {"seed", f.seed},
                        {"rows", rows}};
  std::ofstream out(f.out);
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", f.out.c_str());
    return 1;
  }
  out << doc.dump(2) << "\n";
  std::printf("wrote %s\n", f.out.c_str());
  return 0;
}
