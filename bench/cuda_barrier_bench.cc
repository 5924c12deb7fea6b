// linspec-cuda-barrier-bench: what a grid-wide barrier costs inside the decode megakernel's
// weight streams (cuda_barrier_kernels.h). Each configuration runs 96 phases (24 layers of the
// 1.3B shape's qkv / o / gate-up / down per-warp batch counts, or none: the barrier alone) with
// every barrier mode; the cost per barrier is (time - time without barriers) / phases, and the
// per-barrier trace gives the spread of the arrivals and the time from the last arrival to the
// last departure. Prints a table and writes JSON (bench/README.md).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/cuda_barrier_kernels.h"
#include "bench/cuda_check.h"
#include "nlohmann/json.hpp"

namespace {

using linspec::bench::BarrierMode;
using linspec::bench::BarrierRun;

constexpr size_t kBufferBytes = size_t{1} << 30;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median over `reps` launches of the launch time in us.
double TimeUs(const BarrierRun& r, int blocks, int reps) {
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  std::vector<double> us;
  for (int i = 0; i < reps + 2; ++i) {
    CHECK_CUDA(cudaEventRecord(a));
    CHECK_CUDA(linspec::bench::LaunchBarrierStream(r, blocks, 0));
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    float ms = 0.f;
    CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
    if (i >= 2) us.push_back(ms * 1e3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return Median(us);
}

struct Trace {
  double spread_us = 0, release_us = 0;  // medians over barriers
};

// One traced launch: per barrier, last arrival - first arrival and last departure - last arrival.
Trace TraceOnce(BarrierRun r, int blocks, unsigned long long* times_dev) {
  r.times = times_dev;
  CHECK_CUDA(linspec::bench::LaunchBarrierStream(r, blocks, 0));
  std::vector<unsigned long long> t(static_cast<size_t>(r.phases) * blocks * 2);
  CHECK_CUDA(cudaMemcpy(t.data(), times_dev, t.size() * sizeof(t[0]), cudaMemcpyDeviceToHost));
  std::vector<double> spread, release;
  for (int ph = 1; ph < r.phases; ++ph) {  // the first barrier waits for the launch's ramp
    unsigned long long first = ~0ull, last = 0, out = 0;
    for (int b = 0; b < blocks; ++b) {
      const unsigned long long* e = &t[(static_cast<size_t>(ph) * blocks + b) * 2];
      first = std::min(first, e[0]);
      last = std::max(last, e[0]);
      out = std::max(out, e[1]);
    }
    spread.push_back((last - first) / 1e3);
    release.push_back((out - last) / 1e3);
  }
  return {Median(spread), Median(release)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linspec-cuda-barrier-bench: grid barriers inside the megakernel's weight streams"};
  std::string json_out;
  int reps = 10, phases = 96;
  std::vector<int> idle = {0, 4000};
  app.add_option("--reps", reps, "timed launches per point (median)");
  app.add_option("--phases", phases, "phases (barriers) per launch");
  app.add_option("--idle-ns", idle, "spins after every 4th barrier (the attention phase)");
  app.add_option("--json", json_out, "write the JSON here");
  CLI11_PARSE(app, argc, argv);

  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  const int blocks = prop.multiProcessorCount;
  void* buf = nullptr;
  float* sink = nullptr;
  unsigned int* counter = nullptr;
  unsigned long long* times = nullptr;
  CHECK_CUDA(cudaMalloc(&buf, kBufferBytes));
  CHECK_CUDA(cudaMalloc(&sink, size_t{1} << 20));
  CHECK_CUDA(cudaMalloc(&counter, 256));
  CHECK_CUDA(cudaMalloc(&times, static_cast<size_t>(phases) * blocks * 2 * 8));
  CHECK_CUDA(cudaMemset(buf, 0x3f, kBufferBytes));

  struct Load {
    const char* name;
    int batches[4];
  };
  const Load loads[] = {{"1.3B phases", {23, 8, 43, 21}}, {"no stream", {0, 0, 0, 0}}};
  nlohmann::json points = nlohmann::json::array();
  std::printf("%s, %d blocks x 16 streaming warps + 1 control warp, %d phases\n\n", prop.name,
              blocks, phases);
  std::printf(
      "| load | idle ns | mode | us | GB/s | us per barrier vs none | arrival spread us | last "
      "arrival -> last departure us |\n|---|---|---|---|---|---|---|---|\n");
  for (const Load& load : loads) {
    for (int idle_ns : idle) {
      BarrierRun r;
      r.weights = buf, r.weight_bytes = kBufferBytes, r.phases = phases, r.idle_ns = idle_ns;
      r.counter = counter, r.sink = sink;
      std::copy(load.batches, load.batches + 4, r.batches);
      double bytes = 0;
      for (int ph = 0; ph < phases; ++ph) bytes += 512.0 * 16 * blocks * load.batches[ph & 3];
      double none_us = 0;
      for (int m = 0; m < linspec::bench::kBarrierModes; ++m) {
        r.mode = static_cast<BarrierMode>(m);
        const double us = TimeUs(r, blocks, reps);
        if (r.mode == BarrierMode::kNone) none_us = us;
        Trace tr;
        const bool traced = r.mode != BarrierMode::kNone && r.mode != BarrierMode::kBlock;
        if (traced) tr = TraceOnce(r, blocks, times);
        const double per = (us - none_us) / phases;
        std::printf("| %s | %d | %s | %.1f | %.0f | %.3f | %s | %s |\n", load.name, idle_ns,
                    BarrierModeName(r.mode), us, bytes / us / 1e3, per,
                    traced ? std::to_string(tr.spread_us).c_str() : "-",
                    traced ? std::to_string(tr.release_us).c_str() : "-");
        points.push_back({{"load", load.name},
                          {"idle_ns", idle_ns},
                          {"mode", BarrierModeName(r.mode)},
                          {"us", us},
                          {"GBps", bytes / us / 1e3},
                          {"us_per_barrier_vs_none", per},
                          {"arrival_spread_us", traced ? tr.spread_us : 0.0},
                          {"release_us", traced ? tr.release_us : 0.0}});
      }
    }
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  if (!json_out.empty()) {
    nlohmann::json j = {
        {"device", prop.name}, {"blocks", blocks}, {"phases", phases}, {"points", points}};
    std::ofstream(json_out) << j.dump(1) << "\n";
  }
  cudaFree(buf);
  cudaFree(sink);
  cudaFree(counter);
  cudaFree(times);
  return 0;
}
