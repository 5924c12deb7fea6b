#include "scheduler/step_clock.h"

#include "common/clock.h"

namespace linspec::scheduler {

namespace {

class SteadyClock : public StepClock {
 public:
  double NowSeconds() const override {
    return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  }
};

}  // namespace

const StepClock* SteadyStepClock() {
  static const SteadyClock* clock = new SteadyClock();
  return clock;
}

}  // namespace linspec::scheduler
