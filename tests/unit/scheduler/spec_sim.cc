#include "tests/unit/scheduler/spec_sim.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "scheduler/request.h"
#include "tests/unit/scheduler/fake_engine.h"

namespace linspec::testing {

namespace {

using scheduler::FinalResult;
using scheduler::FinishReason;
using scheduler::GenerateRequest;

// Holds the first Forward (the gate request's) until the initial requests are queued, then
// notes the simulated time at the first real Forward.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool released = false;
  bool started = false;
  double t0 = 0;
  const FakeClock* clock = nullptr;

  void BeforeForward() {
    std::unique_lock<std::mutex> lock(mu);
    if (!released) {
      entered = true;
      cv.notify_all();
      cv.wait(lock, [this] { return released; });
      return;
    }
    if (!started) {
      started = true;
      t0 = clock->NowSeconds();
    }
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return entered; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
};

// Closed-loop clients: each finished request submits the next one (on the loop thread).
class Driver {
 public:
  explicit Driver(std::vector<GenerateRequest> requests)
      : requests_(std::move(requests)), outputs_(requests_.size()) {}

  void set_scheduler(scheduler::Scheduler* s) { sched_ = s; }
  void SubmitNext();
  void Finished(size_t index, std::vector<engine::TokenId> tokens, const FinalResult& r);
  // False if not every request finished within the (real-time) timeout.
  bool Wait(double seconds);
  absl::Status status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  std::vector<std::vector<engine::TokenId>> outputs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return outputs_;
  }
  int64_t drafted() const { return drafted_; }
  int64_t accepted() const { return accepted_; }

 private:
  std::vector<GenerateRequest> requests_;
  scheduler::Scheduler* sched_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t next_ = 0;
  size_t done_ = 0;
  absl::Status status_;
  std::vector<std::vector<engine::TokenId>> outputs_;
  int64_t drafted_ = 0, accepted_ = 0;
};

class SimSink : public scheduler::RequestSink {
 public:
  SimSink(Driver* d, size_t index) : driver_(d), index_(index) {}
  void OnDelta(const scheduler::TokenDelta& delta) override {
    tokens_.insert(tokens_.end(), delta.token_ids.begin(), delta.token_ids.end());
  }
  void OnFinish(const FinalResult& r) override {
    if (driver_ != nullptr) driver_->Finished(index_, std::move(tokens_), r);
  }

 private:
  Driver* driver_;
  size_t index_;
  std::vector<engine::TokenId> tokens_;
};

void Driver::SubmitNext() {
  size_t i;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (next_ >= requests_.size()) return;
    i = next_++;
  }
  GenerateRequest r = requests_[i];
  r.sink = std::make_shared<SimSink>(this, i);
  absl::StatusOr<uint64_t> id = sched_->Submit(std::move(r));
  if (!id.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = id.status();
    done_ = requests_.size();
    cv_.notify_all();
  }
}

void Driver::Finished(size_t index, std::vector<engine::TokenId> tokens, const FinalResult& r) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.finish_reason != FinishReason::kLength && status_.ok()) {
      status_ = absl::InternalError(absl::StrCat("request ", index, " finished with ",
                                                 scheduler::FinishReasonName(r.finish_reason), ": ",
                                                 r.status.ToString()));
    }
    outputs_[index] = std::move(tokens);
    drafted_ += r.usage.draft_tokens;
    accepted_ += r.usage.accepted_tokens;
    ++done_;
    cv_.notify_all();
  }
  SubmitNext();
}

bool Driver::Wait(double seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                      [this] { return done_ >= requests_.size(); });
}

std::vector<GenerateRequest> MakeRequests(const SpecSimScenario& s) {
  std::mt19937_64 rng(s.seed);
  std::uniform_int_distribution<int> len(s.prompt_min, s.prompt_max), tok(1, s.vocab - 1);
  std::vector<GenerateRequest> out(s.num_requests);
  for (GenerateRequest& r : out) {
    r.prompt.resize(len(rng));
    for (auto& t : r.prompt) t = tok(rng);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = s.max_tokens;
    r.sampling.ignore_eos = true;
  }
  return out;
}

FakeEngineOptions EngineOptions(const SpecSimScenario& s, const SimCost& cost, FakeClock* clock) {
  FakeEngineOptions o;
  o.vocab_size = s.vocab;
  o.num_slots = s.concurrency + 1;  // + the gate request
  o.max_pending = s.num_draft_tokens + 1;
  o.clock = clock;
  o.forward_cost_s = cost.forward_s;
  o.token_cost_s = cost.token_s;
  return o;
}

}  // namespace

absl::StatusOr<SpecSimResult> RunSpecSim(const SpecSimScenario& s, scheduler::DrafterKind drafter) {
  if (s.concurrency < 1 || s.num_requests < 1 || s.vocab < 2 || s.prompt_min < 1 ||
      s.prompt_max < s.prompt_min) {
    return absl::InvalidArgumentError("bad simulation scenario");
  }
  FakeClock clock;
  Gate gate;
  gate.clock = &clock;
  FakeEngineOptions to = EngineOptions(s, s.target, &clock);
  to.before_forward = [&gate] { gate.BeforeForward(); };
  FakeEngineOptions dopt = EngineOptions(s, s.draft, &clock);
  dopt.salt = s.seed * 0x9E3779B97F4A7C15ull + 1;
  dopt.noise = s.draft_noise;
  dopt.agreement = s.draft_agreement;
  FakeEngine target(to), draft(dopt);

  scheduler::SchedulerOptions so;
  so.drafter = drafter;
  so.num_draft_tokens = s.num_draft_tokens;
  so.adaptive_draft = true;
  so.max_queue = s.num_requests + 1;
  so.clock = &clock;
  Driver driver(MakeRequests(s));
  absl::StatusOr<std::unique_ptr<scheduler::Scheduler>> sched =
      scheduler::Scheduler::Create(so, &target, &draft, nullptr, nullptr);
  if (!sched.ok()) return sched.status();
  driver.set_scheduler(sched->get());

  GenerateRequest g;
  g.prompt = {1};
  g.sampling.temperature = 0;
  g.sampling.max_tokens = 1;
  g.sink = std::make_shared<SimSink>(nullptr, 0);
  if (absl::StatusOr<uint64_t> id = (*sched)->Submit(g); !id.ok()) return id.status();
  gate.WaitEntered();
  for (int i = 0; i < std::min(s.concurrency, s.num_requests); ++i) driver.SubmitNext();
  gate.Release();
  const bool finished = driver.Wait(600);
  (*sched)->Drain(finished ? 10 : 0);
  if (!finished) return absl::DeadlineExceededError("simulation did not finish in 600 s");
  if (!driver.status().ok()) return driver.status();

  SpecSimResult r;
  r.sim_seconds = clock.NowSeconds() - gate.t0;
  r.outputs = driver.outputs();
  for (const auto& o : r.outputs) r.generated_tokens += static_cast<int64_t>(o.size());
  r.target_forwards = target.num_forwards() - 1;  // less the gate's
  r.draft_forwards = draft.num_forwards();
  r.draft_tokens_fed = draft.num_tokens_fed();
  r.draft_tokens = driver.drafted();
  r.accepted_tokens = driver.accepted();
  r.stats = (*sched)->Stats();
  return r;
}

}  // namespace linspec::testing
