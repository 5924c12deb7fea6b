// The clock the speculation cost model measures engine calls with. Production uses the
// process's steady clock; tests and the policy simulation (bench/spec_policy_bench.cc) pass
// a fake clock that their fake engines advance by a simulated cost per Forward, so decisions
// and totals are deterministic.
//
// Thread-safety: NowSeconds may be called from any thread; implementations must allow it.
#ifndef LINSPEC_SCHEDULER_STEP_CLOCK_H_
#define LINSPEC_SCHEDULER_STEP_CLOCK_H_

namespace linspec::scheduler {

class StepClock {
 public:
  virtual ~StepClock() = default;
  // Seconds since an arbitrary origin; never decreases.
  virtual double NowSeconds() const = 0;
};

// The process-wide steady clock (never null, never freed).
const StepClock* SteadyStepClock();

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_STEP_CLOCK_H_
