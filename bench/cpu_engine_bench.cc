// linspec-bench-cpu-engine: CPU backend step time per batch size for decode (T = 1) and
// verify (T = 5 pending tokens per sequence), on a random model written by
// linspec_random_model. Prints a table and writes JSON (default
// bench/results/cpu_engine.json).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "engine/engine.h"
#include "nlohmann/json.hpp"
#include "tools/make_model/random_model.h"

namespace {

using linspec::engine::Engine;
using linspec::engine::SeqChunk;
using linspec::engine::TokenId;

struct Flags {
  int hidden = 256, layers = 4, heads = 4, vocab = 8192, intermediate = 704;
  int prompt = 64, iters = 20, threads = 0;
  std::vector<int> batches = {1, 2, 4, 8, 16};
  std::vector<int> tokens = {1, 5};
  std::string variant = "augmented";
  std::string out = "bench/results/cpu_engine.json";
};

// First line of a /proc file's matching entry (empty when unavailable).
std::string ProcField(const char* path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const size_t colon = line.find(':');
    if (prefix.empty() || colon == std::string::npos) return line;
    return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "";
}

struct Timing {
  double median_ms = 0, min_ms = 0;
};

Timing Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front()};
}

// Milliseconds of one Forward with batch b and t tokens per sequence.
Timing TimeStep(Engine& e, int b, int t, int iters) {
  std::vector<std::vector<TokenId>> toks(b, std::vector<TokenId>(t));
  std::vector<double> ms;
  for (int it = 0; it < iters + 2; ++it) {
    std::vector<SeqChunk> chunks;
    for (int s = 0; s < b; ++s) {
      for (int i = 0; i < t; ++i) toks[s][i] = (it * 131 + s * 17 + i * 7) % 256;
      chunks.push_back({s, toks[s], t > 1, false});
    }
    linspec::engine::ForwardResult r;
    const auto start = std::chrono::steady_clock::now();
    absl::Status st = e.Forward(chunks, {}, &r);
    const auto end = std::chrono::steady_clock::now();
    if (!st.ok()) {
      std::fprintf(stderr, "forward failed: %s\n", std::string(st.message()).c_str());
      std::exit(1);
    }
    for (int s = 0; s < b && t > 1; ++s) (void)e.Commit(s, (it + s) % (t + 1));
    if (it >= 2) ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  return Summarize(ms);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU engine step time per batch size (decode T=1, verify T=5)."};
  Flags f;
  app.add_option("--hidden-size", f.hidden)->capture_default_str();
  app.add_option("--layers", f.layers)->capture_default_str();
  app.add_option("--heads", f.heads)->capture_default_str();
  app.add_option("--intermediate-size", f.intermediate)->capture_default_str();
  app.add_option("--vocab-size", f.vocab)->capture_default_str();
  app.add_option("--prompt", f.prompt, "prompt tokens prefilled per sequence")
      ->capture_default_str();
  app.add_option("--iters", f.iters, "timed steps per point (median)")->capture_default_str();
  app.add_option("--threads", f.threads, "CPU threads (0: all)")->capture_default_str();
  app.add_option("--batches", f.batches)->capture_default_str();
  app.add_option("--tokens", f.tokens, "tokens per sequence per step")->capture_default_str();
  app.add_option("--variant", f.variant)->check(CLI::IsMember({"augmented", "plain"}));
  app.add_option("--out", f.out, "JSON output path")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::string load_at_start = ProcField("/proc/loadavg", "");
  const std::string dir =
      (std::filesystem::temp_directory_path() / "linspec_bench_cpu_engine_model").string();
  linspec::tools::RandomModelOptions mo;
  mo.hidden_size = f.hidden;
  mo.num_layers = f.layers;
  mo.num_heads = f.heads;
  mo.intermediate_size = f.intermediate;
  mo.vocab_size = f.vocab;
  mo.seed = 1;
  if (f.variant == "plain")
    mo.variant = linspec::tools::ModelVariant::kPlain;
  else
    mo.group_size = 64, mo.conv_taps = 32;
  if (absl::Status s = linspec::tools::WriteRandomModel(dir, mo); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  const int max_batch = *std::max_element(f.batches.begin(), f.batches.end());
  linspec::engine::EngineOptions eo;
  eo.model_dir = dir;
  eo.device = linspec::engine::Device::kCpu;
  eo.num_slots = max_batch;
  eo.max_draft_tokens = 7;
  eo.num_threads = f.threads;
  auto engine = linspec::engine::CreateEngine(eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str());
    return 1;
  }
  Engine& e = **engine;
  std::vector<TokenId> prompt(f.prompt);
  for (int i = 0; i < f.prompt; ++i) prompt[i] = (i * 37) % 256;
  for (int s = 0; s < max_batch; ++s) {
    linspec::engine::ForwardResult r;
    (void)e.Forward({{s, prompt, false, false}}, {}, &r);
  }
  const int threads =
      f.threads > 0 ? f.threads : static_cast<int>(std::thread::hardware_concurrency());
  std::printf(
      "model: hidden %d, layers %d, heads %d (d %d), vocab %d, %s | weights %.1f MB | "
      "slot %.1f KB | threads %d\n",
      f.hidden, f.layers, f.heads, f.hidden / f.heads, f.vocab, f.variant.c_str(),
      e.weight_bytes() / 1e6, e.slot_size_bytes() / 1e3, threads);
  std::printf("%6s %4s %10s %10s %14s\n", "batch", "T", "median_ms", "min_ms", "tokens_per_s");
  nlohmann::json rows = nlohmann::json::array();
  for (int t : f.tokens) {
    for (int b : f.batches) {
      const Timing tm = TimeStep(e, b, t, f.iters);
      const double tps = b * t / (tm.median_ms / 1e3);
      std::printf("%6d %4d %10.3f %10.3f %14.1f\n", b, t, tm.median_ms, tm.min_ms, tps);
      rows.push_back({{"batch", b},
                      {"tokens_per_seq", t},
                      {"step_ms", tm.median_ms},
                      {"min_step_ms", tm.min_ms},
                      {"tokens_per_s", tps}});
    }
  }
  nlohmann::json j = {
      {"benchmark", "cpu_engine"},
      {"host",
       {{"cpu", ProcField("/proc/cpuinfo", "model name")},
        {"hardware_threads", std::thread::hardware_concurrency()},
        {"loadavg_at_start", load_at_start}}},
      {"model",
       {{"hidden_size", f.hidden},
        {"num_layers", f.layers},
        {"num_heads", f.heads},
        {"intermediate_size", f.intermediate},
        {"vocab_size", f.vocab},
        {"variant", f.variant},
        {"group_size", e.config().linear_attention.group_size},
        {"conv_taps", e.config().linear_attention.conv_taps}}},
      {"weight_bytes", e.weight_bytes()},
      {"slot_size_bytes", e.slot_size_bytes()},
      {"max_pending", e.max_pending()},
      {"threads", threads},
      {"prompt_tokens", f.prompt},
      {"iters", f.iters},
      {"statistic",
       "step_ms: median time of one Forward (min_step_ms: fastest); tokens_per_s from the median; "
       "T>1 rows are pending (verify) chunks committed with a varying count"},
      {"results", rows}};
  std::ofstream out(f.out);
  out << j.dump(2) << "\n";
  std::printf("wrote %s\n", f.out.c_str());
  std::filesystem::remove_all(dir);
  return out ? 0 : 1;
}
