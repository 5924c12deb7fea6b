// A deterministic fake engine for scheduler tests. It honours the Engine contract exactly
// (pending area, Commit cursor, Release, errors) and its logits are a pure function of the
// token prefix (optionally of only its last `window` tokens, which makes outputs repeat so
// that n-gram lookup finds matches). Small vocabularies keep sampling tests meaningful.
//
// Simulated cost: with a FakeClock, every Forward advances it by forward_cost_s +
// token_cost_s * tokens (a fake clock, not wall time), so the scheduler's cost model and the
// policy simulations (spec_policy_test, bench/spec_policy_bench) are deterministic.
//
// Thread-safety: all methods lock, so tests may read positions while the scheduler runs.
#ifndef LINSPEC_TESTS_UNIT_SCHEDULER_FAKE_ENGINE_H_
#define LINSPEC_TESTS_UNIT_SCHEDULER_FAKE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "engine/engine.h"
#include "scheduler/step_clock.h"

namespace linspec::testing {

// A clock that only moves when told (FakeEngine::Forward advances it).
class FakeClock : public scheduler::StepClock {
 public:
  double NowSeconds() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Advance(double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += seconds;
  }

 private:
  mutable std::mutex mu_;
  double now_ = 0;
};

struct FakeEngineOptions {
  int vocab_size = 16;
  int num_slots = 8;
  int max_pending = 9;
  int max_batch_tokens = 4096;
  int window = 0;      // 0: logits depend on the whole prefix; >0: on the last window
  float scale = 2.0f;  // logits in [-scale, scale]
  uint64_t salt = 0;   // a draft model: same base logits plus noise keyed by salt
  float noise = 0.0f;  // amplitude of the salted noise
  // With noise: the fraction of prefixes (keyed by salt) at which the logits carry no noise,
  // i.e. a draft agrees exactly with the target there. 0: noise at every prefix.
  float agreement = 0.0f;
  // Simulated cost per Forward on `clock` (borrowed; null: no simulated time).
  FakeClock* clock = nullptr;
  double forward_cost_s = 0;
  double token_cost_s = 0;
  std::vector<int> eos_token_ids = {0};
  int fail_on_forward = -1;    // the n-th Forward (0-based) fails with Internal
  bool sticky_failure = true;  // ... and healthy() becomes false
  // Samples in Forward like a device backend (ForwardOptions::sampling), with the host twin
  // of the device sampler (chunk_sampler_reference.h).
  bool device_sampling = false;
  // Called at the start of every Forward, without the engine's lock (tests block on it).
  std::function<void()> before_forward;
};

class FakeEngine : public engine::Engine {
 public:
  explicit FakeEngine(const FakeEngineOptions& options);

  const engine::ModelConfig& config() const override { return config_; }
  engine::Device device() const override { return engine::Device::kCpu; }
  int num_slots() const override { return options_.num_slots; }
  int max_pending() const override { return options_.max_pending; }
  int64_t slot_size_bytes() const override { return 1024; }
  int64_t weight_bytes() const override { return 0; }
  bool healthy() const override;
  bool samples_on_device() const override { return options_.device_sampling; }

  absl::Status Forward(absl::Span<const engine::SeqChunk> chunks,
                       const engine::ForwardOptions& options,
                       engine::ForwardResult* result) override;
  absl::Status Commit(engine::SlotId slot, int n) override;
  absl::Status Release(engine::SlotId slot) override;
  int64_t position(engine::SlotId slot) const override;
  int pending(engine::SlotId slot) const override;

  // The logits the model gives after `prefix` (what plain decoding would see).
  std::vector<float> LogitsFor(const std::vector<engine::TokenId>& prefix) const;
  std::vector<engine::TokenId> Committed(engine::SlotId slot) const;

  int64_t num_forwards() const;
  int64_t num_tokens_fed() const;        // tokens over all Forward calls
  int64_t num_logit_forwards() const;    // forwards with want_logits
  int64_t num_sampled_forwards() const;  // forwards with ForwardOptions::sampling
  int max_rows_seen() const;
  // Slots that are neither released nor empty.
  int busy_slots() const;

 private:
  struct Slot {
    std::vector<engine::TokenId> committed;
    std::vector<engine::TokenId> pending;
  };
  void FillLogits(const std::vector<engine::TokenId>& prefix, float* out) const;

  FakeEngineOptions options_;
  engine::ModelConfig config_;
  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  int64_t forwards_ = 0;
  int64_t tokens_fed_ = 0;
  int64_t logit_forwards_ = 0;
  int64_t sampled_forwards_ = 0;
  int max_rows_ = 0;
  bool healthy_ = true;
};

}  // namespace linspec::testing

#endif  // LINSPEC_TESTS_UNIT_SCHEDULER_FAKE_ENGINE_H_
