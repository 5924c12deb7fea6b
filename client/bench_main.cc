// linspec-bench: closed-loop load generator over gRPC GenerateStream. `--concurrency` workers
// each send requests back to back until `--requests` are done; prints TTFT, inter-token
// latency, end-to-end latency percentiles and throughput, and optionally writes JSON.
//   linspec-bench --target 127.0.0.1:50051 --concurrency 8 --requests 64 --max-tokens 128
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/bench_stats.h"
#include "client/linspec_client.h"
#include "nlohmann/json.hpp"

namespace {

using linspec::client::Client;
using linspec::client::Summarize;
using linspec::client::Summary;
using SteadyClock = std::chrono::steady_clock;

struct Flags {
  linspec::client::ClientOptions client;
  int concurrency = 4;
  int requests = 32;
  int max_tokens = 64;
  float temperature = 0.0f;
  std::string prompt = "The quick brown fox jumps over the lazy dog. Once upon a time";
  int prompt_repeat = 1;
  bool ignore_eos = true;
  std::string json_out;
};

struct Samples {
  std::mutex mu;
  std::vector<double> ttft, itl, e2e;
  int64_t tokens = 0, draft = 0, accepted = 0;
  int ok = 0, failed = 0;
  std::string first_error;
};

void RunOne(Client& c, const Flags& f, int index, Samples* out) {
  linspec::v1::GenerateRequest req;
  std::string prompt;
  for (int i = 0; i < f.prompt_repeat; ++i) prompt += f.prompt;
  req.set_text(prompt);
  req.set_add_special_tokens(true);
  req.mutable_sampling()->set_max_tokens(f.max_tokens);
  req.mutable_sampling()->set_temperature(f.temperature);
  req.mutable_sampling()->set_seed(static_cast<uint64_t>(index));
  req.mutable_sampling()->set_ignore_eos(f.ignore_eos);
  const auto start = SteadyClock::now();
  auto last = start;
  double ttft = -1;
  std::vector<double> itl;
  int tokens = 0;
  linspec::v1::Usage usage;
  absl::Status s = c.GenerateStream(req, [&](const linspec::v1::GenerateStreamResponse& m) {
    const auto now = SteadyClock::now();
    const int n = m.token_ids_size();
    if (n > 0) {
      if (ttft < 0) {
        ttft = std::chrono::duration<double>(now - start).count();
      } else {
        // Several tokens in one message arrived together: spread the gap over them.
        const double gap = std::chrono::duration<double>(now - last).count() / n;
        for (int i = 0; i < n; ++i) itl.push_back(gap);
      }
      last = now;
      tokens += n;
    }
    if (m.has_usage()) usage = m.usage();
    return true;
  });
  const double e2e = std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::lock_guard<std::mutex> lock(out->mu);
  if (!s.ok()) {
    ++out->failed;
    if (out->first_error.empty()) out->first_error = s.ToString();
    return;
  }
  ++out->ok;
  if (ttft >= 0) out->ttft.push_back(ttft);
  out->itl.insert(out->itl.end(), itl.begin(), itl.end());
  out->e2e.push_back(e2e);
  out->tokens += tokens;
  out->draft += usage.draft_tokens();
  out->accepted += usage.accepted_tokens();
}

nlohmann::json SummaryJson(const Summary& s) {
  return {{"count", s.count},      {"mean_ms", s.mean * 1e3}, {"p50_ms", s.p50 * 1e3},
          {"p90_ms", s.p90 * 1e3}, {"p99_ms", s.p99 * 1e3},   {"max_ms", s.max * 1e3}};
}

void PrintRow(const char* name, const Summary& s) {
  std::printf("%-6s %8zu %10.2f %10.2f %10.2f %10.2f %10.2f\n", name, s.count, s.mean * 1e3,
              s.p50 * 1e3, s.p90 * 1e3, s.p99 * 1e3, s.max * 1e3);
}

void Report(const Flags& f, const Samples& samples, double wall);

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linspec-bench: load generator for linspec-server (gRPC streaming)"};
  Flags f;
  app.add_option("--target", f.client.target, "server host:port")->capture_default_str();
  app.add_option("--api-key", f.client.api_key, "API key");
  app.add_option("--concurrency,-c", f.concurrency, "concurrent streams")->capture_default_str();
  app.add_option("--requests,-n", f.requests, "total requests")->capture_default_str();
  app.add_option("--max-tokens", f.max_tokens, "tokens per request")->capture_default_str();
  app.add_option("--temperature", f.temperature, "0: greedy")->capture_default_str();
  app.add_option("--prompt", f.prompt, "prompt text")->capture_default_str();
  app.add_option("--prompt-repeat", f.prompt_repeat, "repeat the prompt to lengthen it")
      ->capture_default_str();
  app.add_option("--ignore-eos", f.ignore_eos, "generate max_tokens every time")
      ->capture_default_str();
  app.add_option("--json", f.json_out, "write results as JSON to this file");
  CLI11_PARSE(app, argc, argv);

  auto client = Client::Create(f.client);
  if (!client.ok() || !(*client)->WaitForConnected(30)) {
    std::fprintf(stderr, "linspec-bench: cannot connect to %s\n", f.client.target.c_str());
    return 1;
  }
  Samples samples;
  std::atomic<int> next{0};
  const auto start = SteadyClock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < f.concurrency; ++w) {
    workers.emplace_back([&] {
      for (int i = next.fetch_add(1); i < f.requests; i = next.fetch_add(1)) {
        RunOne(**client, f, i, &samples);
      }
    });
  }
  for (auto& t : workers) t.join();
  const double wall = std::chrono::duration<double>(SteadyClock::now() - start).count();

  Report(f, samples, wall);
  return samples.failed == 0 ? 0 : 1;
}

namespace {

void Report(const Flags& f, const Samples& samples, double wall) {
  const Summary ttft = Summarize(samples.ttft), itl = Summarize(samples.itl),
                e2e = Summarize(samples.e2e);
  std::printf("requests ok=%d failed=%d  concurrency=%d  wall=%.2fs\n", samples.ok, samples.failed,
              f.concurrency, wall);
  std::printf("%-6s %8s %10s %10s %10s %10s %10s\n", "metric", "count", "mean_ms", "p50_ms",
              "p90_ms", "p99_ms", "max_ms");
  PrintRow("ttft", ttft);
  PrintRow("itl", itl);
  PrintRow("e2e", e2e);
  const double tps = wall > 0 ? samples.tokens / wall : 0;
  std::printf("throughput: %.1f tokens/s, %.2f requests/s; acceptance %.3f (%lld/%lld)\n", tps,
              wall > 0 ? samples.ok / wall : 0,
              samples.draft > 0 ? double(samples.accepted) / samples.draft : 0.0,
              static_cast<long long>(samples.accepted), static_cast<long long>(samples.draft));
  if (!samples.first_error.empty()) std::printf("first error: %s\n", samples.first_error.c_str());
  if (!f.json_out.empty()) {
    nlohmann::json j{{"target", f.client.target},
                     {"concurrency", f.concurrency},
                     {"requests", f.requests},
                     {"ok", samples.ok},
                     {"failed", samples.failed},
                     {"max_tokens", f.max_tokens},
                     {"wall_seconds", wall},
                     {"tokens", samples.tokens},
                     {"tokens_per_second", tps},
                     {"draft_tokens", samples.draft},
                     {"accepted_tokens", samples.accepted},
                     {"ttft", SummaryJson(ttft)},
                     {"itl", SummaryJson(itl)},
                     {"e2e", SummaryJson(e2e)}};
    std::ofstream(f.json_out) << j.dump(2) << "\n";
  }
}

}  // namespace
