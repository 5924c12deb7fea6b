// Latency statistics for linspec-bench: percentiles over collected samples.
#ifndef LINSPEC_CLIENT_BENCH_STATS_H_
#define LINSPEC_CLIENT_BENCH_STATS_H_

#include <algorithm>
#include <cmath>
#include <vector>

namespace linspec::client {

struct Summary {
  size_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentiles; an empty input gives zeros.
inline Summary Summarize(std::vector<double> v) {
  Summary s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / v.size();
  auto pct = [&](double p) {
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
    return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  s.p50 = pct(50);
  s.p90 = pct(90);
  s.p99 = pct(99);
  s.max = v.back();
  return s;
}

}  // namespace linspec::client

#endif  // LINSPEC_CLIENT_BENCH_STATS_H_
