// Monotonic time helpers used for latency metrics and deadlines.
#ifndef LINSPEC_COMMON_CLOCK_H_
#define LINSPEC_COMMON_CLOCK_H_

#include <chrono>

namespace linspec {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

inline double SecondsBetween(TimePoint a, TimePoint b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace linspec

#endif  // LINSPEC_COMMON_CLOCK_H_
