// linspec-bench-scheduler: end-to-end scheduler throughput on the CPU backend. For the
// draft-model and n-gram drafters and k = 0..8 (fixed), plus the adaptive policy, runs a
// set of greedy requests through Scheduler and reports tokens/s, mean tokens emitted per
// sequence per step (accepted drafts + the target's own token) and the acceptance rate.
// Uses the committed reference pair in models/ when present (--random forces random-weight
// models, whose acceptance is low). Prints a table and writes JSON (default
// bench/results/scheduler.json).
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "scheduler/scheduler.h"
#include "tools/make_model/random_model.h"

namespace {

using linspec::engine::TokenId;
namespace sched = linspec::scheduler;

struct Flags {
  std::string target = "models/default";
  std::string draft = "models/draft";
  bool random = false;
  int concurrency = 4;
  int requests_per_slot = 2;
  int max_tokens = 48;
  int threads = 1;
  int k_max = 8;
  int repeats = 3;
  std::vector<int> batches = {1, 4};
  std::string out = "bench/results/scheduler.json";
};

const char* kPrompts[] = {
    "The jury said it did find that the city of Atlanta had been",
    "It was the best of times, it was the worst of times, it was the age of",
    "In the beginning of the year the committee decided that the committee would",
    "He said that he would go to the store and buy some bread, and then he said that he would",
    "The president of the United States said on Monday that the government",
    "One, two, three, four, five, six, seven, eight,",
    "She looked at the house and the house looked back at her. She looked at the",
    "The results of the study show that the number of",
};

class Counter : public sched::MetricsObserver {
 public:
  void OnGenerationTokens(int n) override {
    tokens += n;
    ++emissions;
  }
  void OnFirstToken(double) override { ++first; }
  void OnSpecDecode(int d, int a) override {
    drafted += d;
    accepted += a;
  }
  std::atomic<long> tokens{0}, emissions{0}, first{0}, drafted{0}, accepted{0};
};

class WaitSink : public sched::RequestSink {
 public:
  void OnDelta(const sched::TokenDelta&) override {}
  void OnFinish(const sched::FinalResult& r) override {
    std::lock_guard<std::mutex> l(mu);
    done = true;
    cv.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return done; });
  }
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

// User + system CPU seconds of this process so far. On a shared machine wall time swings
// with other load; CPU time of a single-threaded engine stays close to dedicated-core time.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec * 1e-6;
}

struct Row {
  std::string drafter;
  int k = 0;
  bool adaptive = false;
  int batch = 0;
  double seconds = 0, cpu_seconds = 0, tokens_per_s = 0, tokens_per_cpu_s = 0;
  double tokens_per_step = 0, acceptance = 0;
  long tokens = 0;
};

std::unique_ptr<linspec::engine::Engine> MakeEngine(const std::string& dir, int slots,
                                                    int threads) {
  linspec::engine::EngineOptions o;
  o.model_dir = dir;
  o.device = linspec::engine::Device::kCpu;
  o.num_slots = slots;
  o.max_draft_tokens = 8;
  o.num_threads = threads;
  auto e = linspec::engine::CreateEngine(o);
  if (!e.ok()) {
    std::fprintf(stderr, "engine %s: %s\n", dir.c_str(), std::string(e.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*e);
}

Row RunOnce(const Flags& f, linspec::engine::Engine* target, linspec::engine::Engine* draft,
            const linspec::engine::Tokenizer& tok, const std::vector<std::vector<TokenId>>& prompts,
            sched::DrafterKind kind, int k, bool adaptive, int batch) {
  Counter counter;
  sched::SchedulerOptions o;
  o.drafter = k == 0 && !adaptive ? sched::DrafterKind::kNone : kind;
  o.num_draft_tokens = k;
  o.adaptive_draft = adaptive;
  o.max_running = batch;
  auto s = sched::Scheduler::Create(o, target, draft, &tok, &counter);
  if (!s.ok()) {
    std::fprintf(stderr, "scheduler: %s\n", std::string(s.status().message()).c_str());
    std::exit(1);
  }
  const int n = batch * f.requests_per_slot;
  std::vector<std::shared_ptr<WaitSink>> sinks;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = CpuSeconds();
  for (int i = 0; i < n; ++i) {
    sched::GenerateRequest r;
    r.prompt = prompts[i % prompts.size()];
    r.sampling.temperature = 0;
    r.sampling.max_tokens = f.max_tokens;
    r.sampling.ignore_eos = true;
    sinks.push_back(std::make_shared<WaitSink>());
    r.sink = sinks.back();
    if (!(*s)->Submit(r).ok()) std::exit(1);
  }
  for (auto& sink : sinks) sink->Wait();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = CpuSeconds() - cpu_start;
  (*s)->Drain(1);
  Row row;
  row.drafter = o.drafter == sched::DrafterKind::kNone ? "none" : sched::DrafterKindName(kind);
  row.k = k;
  row.adaptive = adaptive;
  row.batch = batch;
  row.seconds = secs;
  row.tokens = counter.tokens;
  row.tokens_per_s = counter.tokens / secs;
  row.cpu_seconds = cpu;
  row.tokens_per_cpu_s = counter.tokens / cpu;
  const long steps = counter.emissions - counter.first;
  row.tokens_per_step = steps > 0 ? double(counter.tokens - counter.first) / steps : 0;
  row.acceptance = counter.drafted > 0 ? double(counter.accepted) / counter.drafted : 0;
  return row;
}

double LoadAverage() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

// The fastest of f.repeats runs (CPU and wall minima taken separately): other load on a
// shared machine only ever adds time.
Row RunOne(const Flags& f, linspec::engine::Engine* target, linspec::engine::Engine* draft,
           const linspec::engine::Tokenizer& tok, const std::vector<std::vector<TokenId>>& prompts,
           sched::DrafterKind kind, int k, bool adaptive, int batch) {
  Row best;
  for (int i = 0; i < std::max(1, f.repeats); ++i) {
    Row r = RunOnce(f, target, draft, tok, prompts, kind, k, adaptive, batch);
    if (i == 0) {
      best = r;
      continue;
    }
    if (r.cpu_seconds < best.cpu_seconds) {
      best.cpu_seconds = r.cpu_seconds;
      best.tokens_per_cpu_s = r.tokens_per_cpu_s;
    }
    if (r.seconds < best.seconds) {
      best.seconds = r.seconds;
      best.tokens_per_s = r.tokens_per_s;
    }
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Scheduler throughput with speculative decoding on the CPU backend."};
  Flags f;
  app.add_option("--target", f.target, "target model dir");
  app.add_option("--draft", f.draft, "draft model dir");
  app.add_flag("--random", f.random, "use random-weight models instead of models/");
  app.add_option("--batches", f.batches, "concurrent sequences to measure");
  app.add_option("--requests-per-slot", f.requests_per_slot, "requests per concurrent slot");
  app.add_option("--max-tokens", f.max_tokens, "tokens generated per request");
  app.add_option("--threads", f.threads, "CPU engine threads (0: all cores)");
  app.add_option("--k-max", f.k_max, "largest k measured");
  app.add_option("--repeats", f.repeats, "runs per configuration; the fastest is reported");
  app.add_option("--out", f.out, "JSON output path");
  CLI11_PARSE(app, argc, argv);

  std::string model_kind = "trained reference pair (models/)";
  if (f.random || !std::filesystem::exists(f.target + "/config.json")) {
    const std::string dir =
        (std::filesystem::temp_directory_path() / "linspec_sched_bench").string();
    linspec::tools::RandomModelOptions t;
    t.hidden_size = 256;
    t.intermediate_size = 704;
    t.num_layers = 4;
    t.vocab_size = 8192;
    t.seed = 1;
    linspec::tools::RandomModelOptions d = t;
    d.hidden_size = 64;
    d.intermediate_size = 128;
    d.num_layers = 1;
    d.seed = 2;
    if (!linspec::tools::WriteRandomModel(dir + "/target", t).ok() ||
        !linspec::tools::WriteRandomModel(dir + "/draft", d).ok()) {
      std::fprintf(stderr, "cannot write random models under %s\n", dir.c_str());
      return 1;
    }
    f.target = dir + "/target";
    f.draft = dir + "/draft";
    model_kind = "random weights";
  }
  auto tok = linspec::engine::LoadTokenizer(f.target);
  if (!tok.ok()) {
    std::fprintf(stderr, "tokenizer: %s\n", std::string(tok.status().message()).c_str());
    return 1;
  }
  std::vector<std::vector<TokenId>> prompts;
  for (const char* p : kPrompts) {
    auto ids = (*tok)->Encode(p, {});
    if (!ids.ok() || ids->empty()) return 1;
    prompts.push_back(*ids);
  }
  int max_batch = 1;
  for (int b : f.batches) max_batch = std::max(max_batch, b);
  auto target = MakeEngine(f.target, max_batch, f.threads);
  auto draft = MakeEngine(f.draft, max_batch, f.threads);

  std::vector<Row> rows;
  std::printf("%-12s %3s %8s %5s %9s %10s %9s %12s %12s %8s\n", "drafter", "k", "adaptive", "batch",
              "wall_s", "tokens/s", "cpu_s", "tokens/cpu_s", "tokens/step", "accept");
  auto print = [](const Row& r) {
    std::printf("%-12s %3d %8s %5d %9.2f %10.1f %9.2f %12.1f %12.2f %8.3f\n", r.drafter.c_str(),
                r.k, r.adaptive ? "yes" : "no", r.batch, r.seconds, r.tokens_per_s, r.cpu_seconds,
                r.tokens_per_cpu_s, r.tokens_per_step, r.acceptance);
    std::fflush(stdout);
  };
  for (int b : f.batches) {
    // Warm-up (page in weights, spin up threads).
    RunOne(f, target.get(), draft.get(), **tok, prompts, sched::DrafterKind::kNone, 0, false, b);
    rows.push_back(RunOne(f, target.get(), draft.get(), **tok, prompts, sched::DrafterKind::kNone,
                          0, false, b));
    print(rows.back());
    for (auto kind : {sched::DrafterKind::kDraftModel, sched::DrafterKind::kNgram}) {
      for (int k = 1; k <= f.k_max; ++k) {
        rows.push_back(RunOne(f, target.get(), draft.get(), **tok, prompts, kind, k, false, b));
        print(rows.back());
      }
      rows.push_back(RunOne(f, target.get(), draft.get(), **tok, prompts, kind, f.k_max, true, b));
      print(rows.back());
    }
  }

  nlohmann::json j;
  j["benchmark"] = "scheduler";
  j["backend"] = "cpu";
  j["models"] = model_kind;
  j["target"] = f.target;
  j["draft"] = f.draft;
  j["threads"] = f.threads;
  j["hardware_concurrency"] = std::thread::hardware_concurrency();
  j["max_tokens"] = f.max_tokens;
  j["requests_per_slot"] = f.requests_per_slot;
  j["repeats"] = f.repeats;
  j["greedy"] = true;
  j["note"] =
      "tokens_per_step: tokens emitted per sequence per engine step (accepted drafts + 1); "
      "acceptance: accepted / proposed draft tokens; k=0 row is plain decoding; "
      "times are the fastest of `repeats` runs; tokens_per_cpu_s uses process CPU time "
      "(single-threaded engine), robust to other load "
      "on a shared machine, where wall-clock tokens_per_s is noisy";
  j["load_average_1m_at_end"] = LoadAverage();
  for (const Row& r : rows) {
    j["rows"].push_back({{"drafter", r.drafter},
                         {"k", r.k},
                         {"adaptive", r.adaptive},
                         {"batch", r.batch},
                         {"wall_seconds", r.seconds},
                         {"cpu_seconds", r.cpu_seconds},
                         {"tokens", r.tokens},
                         {"tokens_per_cpu_s", r.tokens_per_cpu_s},
                         {"tokens_per_s", r.tokens_per_s},
                         {"tokens_per_step", r.tokens_per_step},
                         {"acceptance", r.acceptance}});
  }
  std::filesystem::create_directories(std::filesystem::path(f.out).parent_path());
  std::ofstream(f.out) << j.dump(2) << "\n";
  std::printf("wrote %s\n", f.out.c_str());
  return 0;
}
