// linspec-cuda-stream-bench: the decode kernel's state-streaming pattern alone (no attention
// math), against the read and copy bandwidth measured in the same run. Each configuration
// reads `tiles` consecutive 64 KB fp32 tiles (one per (sequence, kv head): B=64 on the 1.3B is
// 1024 tiles) through a shared-memory ring of row stages, one block per tile (as the decode
// kernel) or persistent blocks whose ring runs across tiles, with an optional per-tile spin that
// stands in for the kernel's dependent prologue. Tiles rotate over a 1 GiB buffer so L2 cannot
// hold them. Prints a table and writes JSON (bench/README.md).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/cuda_check.h"
#include "bench/cuda_stream_kernels.h"
#include "nlohmann/json.hpp"

namespace {

using linspec::bench::StreamConfig;
using linspec::bench::StreamVariant;

constexpr size_t kTileBytes = 128 * 128 * 4;
constexpr size_t kBufferBytes = size_t{1} << 30;

const char* VariantName(StreamVariant v) {
  switch (v) {
    case StreamVariant::kBlockPerItem:
      return "block-per-tile";
    case StreamVariant::kPersistent:
      return "persistent";
    default:
      return "persistent-bulk";
  }
}

// Median of `reps` timed launches of f(rep) in microseconds.
template <typename F>
double MedianUs(int reps, F&& f) {
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) f(i);
  std::vector<double> us;
  for (int i = 0; i < reps; ++i) {
    CHECK_CUDA(cudaEventRecord(a));
    f(i);
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    float ms = 0.f;
    CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
    us.push_back(ms * 1e3);
  }
  std::sort(us.begin(), us.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return us[us.size() / 2];
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> v;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t comma = s.find(',', pos);
    v.push_back(std::stoi(s.substr(pos, comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linspec-cuda-stream-bench: the decode kernel's state-streaming pattern alone"};
  std::string tiles_s = "1024,4096", delays_s = "0,2000,4000", json_out;
  int reps = 20;
  app.add_option("--tiles", tiles_s, "64 KB tiles per launch (B x kv heads)");
  app.add_option("--delays", delays_s, "per-tile prologue spins in ns");
  app.add_option("--reps", reps, "timed launches per point (median)");
  app.add_option("--json", json_out, "write the JSON here");
  CLI11_PARSE(app, argc, argv);

  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  const int sms = prop.multiProcessorCount;
  void *buf = nullptr, *buf2 = nullptr;
  float* out = nullptr;
  CHECK_CUDA(cudaMalloc(&buf, kBufferBytes));
  CHECK_CUDA(cudaMalloc(&buf2, kBufferBytes));
  CHECK_CUDA(cudaMalloc(&out, kBufferBytes / 128));
  CHECK_CUDA(cudaMemset(buf, 0x3f, kBufferBytes));

  const double copy_us = MedianUs(10, [&](int) {
    CHECK_CUDA(cudaMemcpyAsync(buf2, buf, kBufferBytes, cudaMemcpyDeviceToDevice));
  });
  const double copy_gbps = 2.0 * kBufferBytes / copy_us / 1e3;
  const double read_us = MedianUs(10, [&](int) {
    CHECK_CUDA(linspec::bench::LaunchReadPeak(buf, kBufferBytes / 16, out, sms, 0));
  });
  const double read_gbps = kBufferBytes / read_us / 1e3;
  std::printf("%s, %d SMs: copy %.0f GB/s (read + write), grid-stride read %.0f GB/s\n\n",
              prop.name, sms, copy_gbps, read_gbps);

  std::vector<StreamConfig> configs;
  const std::vector<int> delays = ParseList(delays_s);
  for (int delay : delays) {
    for (int stages : {2, 3, 4}) {
      for (int rows : {16, 32})
        configs.push_back({StreamVariant::kBlockPerItem, stages, rows, 4, delay});
    }
    for (StreamVariant v : {StreamVariant::kPersistent, StreamVariant::kPersistentBulk}) {
      if (v == StreamVariant::kPersistentBulk && prop.major < 9) continue;
      for (int bps : {2, 3, 4}) {
        for (int stages : {3, 4, 6}) {
          for (int rows : {16, 32}) configs.push_back({v, stages, rows, bps, delay});
        }
      }
    }
  }

  nlohmann::json rows = nlohmann::json::array();
  std::printf(
      "| variant | stages x rows | blocks/SM | prologue ns | tiles | us | GB/s | %% of read | %% "
      "of copy |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (int tiles : ParseList(tiles_s)) {
    const size_t bytes = tiles * kTileBytes;
    const int windows = static_cast<int>(std::max<size_t>(1, kBufferBytes / bytes));
    for (const StreamConfig& c : configs) {
      if (!linspec::bench::StreamConfigSupported(c)) continue;
      const double us = MedianUs(reps, [&](int rep) {
        const float* s = static_cast<const float*>(buf) + (rep % windows) * bytes / 4;
        CHECK_CUDA(linspec::bench::LaunchStream(c, s, tiles, out, sms, 0));
      });
      const double gbps = bytes / us / 1e3;
      std::printf("| %s | %d x %d | %d | %d | %d | %.1f | %.0f | %.0f%% | %.0f%% |\n",
                  VariantName(c.variant), c.stages, c.stage_rows, c.blocks_per_sm, c.delay_ns,
                  tiles, us, gbps, 100 * gbps / read_gbps, 100 * gbps / copy_gbps);
      rows.push_back({{"variant", VariantName(c.variant)},
                      {"stages", c.stages},
                      {"stage_rows", c.stage_rows},
                      {"blocks_per_sm", c.blocks_per_sm},
                      {"prologue_ns", c.delay_ns},
                      {"tiles", tiles},
                      {"us", us},
                      {"GBps", gbps}});
    }
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  if (!json_out.empty()) {
    nlohmann::json j = {{"device", prop.name},
                        {"sms", sms},
                        {"copy_bandwidth_GBps", copy_gbps},
                        {"read_bandwidth_GBps", read_gbps},
                        {"points", rows}};
    std::ofstream(json_out) << j.dump(1) << "\n";
  }
  cudaFree(buf);
  cudaFree(buf2);
  cudaFree(out);
  return 0;
}
