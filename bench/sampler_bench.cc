// Host sampling cost per row: the pre-optimization sampler (copied below as the baseline)
// against scheduler/sampler.cc, side by side in the same run, for the transform + draw a
// sampled row costs (ToProbs + SampleFromProbs). Prints a table and writes
// bench/results/sampler.json. Ratios are from the same process, so a loaded machine affects
// both columns alike.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "scheduler/sampler.h"

namespace linspec::scheduler {
namespace {

// ---- BASELINE: scheduler/sampler.cc before the optimization (commit ee15232), verbatim ----
namespace old_impl {

void Truncate(int vocab, const SamplingParams& params, std::vector<float>* probs) {
  const bool use_k = params.top_k > 0 && params.top_k < vocab;
  const bool use_p = params.top_p < 1.0f;
  if (!use_k && !use_p) return;
  std::vector<int> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  const int keep_k = use_k ? params.top_k : vocab;
  auto more_likely = [&](int a, int b) {
    return (*probs)[a] > (*probs)[b] || ((*probs)[a] == (*probs)[b] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + keep_k, order.end(), more_likely);
  int keep = keep_k;
  if (use_p) {
    double total = 0;
    for (int i = 0; i < keep_k; ++i) total += (*probs)[order[i]];
    double cum = 0;
    for (int i = 0; i < keep_k; ++i) {
      cum += (*probs)[order[i]];
      if (cum >= params.top_p * total) {
        keep = i + 1;
        break;
      }
    }
  }
  std::vector<float> kept(vocab, 0.0f);
  for (int i = 0; i < keep; ++i) kept[order[i]] = (*probs)[order[i]];
  probs->swap(kept);
}

void ToProbs(const float* logits, int vocab, const SamplingParams& params,
             std::vector<float>* probs) {
  probs->assign(vocab, 0.0f);
  const float inv_t = 1.0f / params.temperature;
  float max_logit = logits[0];
  for (int v = 1; v < vocab; ++v) max_logit = std::max(max_logit, logits[v]);
  double sum = 0;
  for (int v = 0; v < vocab; ++v) {
    float p = std::exp((logits[v] - max_logit) * inv_t);
    (*probs)[v] = p;
    sum += p;
  }
  for (int v = 0; v < vocab; ++v) (*probs)[v] = static_cast<float>((*probs)[v] / sum);
  Truncate(vocab, params, probs);
  double kept = 0;
  for (int v = 0; v < vocab; ++v) kept += (*probs)[v];
  if (kept <= 0) return;
  for (int v = 0; v < vocab; ++v) (*probs)[v] = static_cast<float>((*probs)[v] / kept);
}

engine::TokenId SampleFromProbs(const float* probs, int vocab, double u) {
  double total = 0;
  for (int v = 0; v < vocab; ++v) total += probs[v];
  const double target = u * total;
  double cum = 0;
  int last_nonzero = 0;
  for (int v = 0; v < vocab; ++v) {
    if (probs[v] <= 0) continue;
    last_nonzero = v;
    cum += probs[v];
    if (target < cum) return v;
  }
  return last_nonzero;
}

}  // namespace old_impl
// ---- end of BASELINE ----

struct Case {
  std::string name;
  SamplingParams params;
};

using Clock = std::chrono::steady_clock;

// One sampled row as the scheduler does it (emit.cc SampleRow): transform, then draw.
template <bool kOld>
int SampleBatch(const std::vector<float>& logits, int rows, int vocab, const SamplingParams& p,
                uint64_t step, std::vector<int>* out) {
  std::vector<float> probs;  // the scheduler keeps one such buffer as a member
  int checksum = 0;
  for (int r = 0; r < rows; ++r) {
    const float* row = logits.data() + static_cast<size_t>(r) * vocab;
    const double u = UniformAt(r + 1, step, RandomStream::kTarget);
    engine::TokenId t;
    if constexpr (kOld) {
      old_impl::ToProbs(row, vocab, p, &probs);
      t = old_impl::SampleFromProbs(probs.data(), vocab, u);
    } else {
      ToProbs(row, vocab, p, &probs);
      t = SampleFromProbs(probs.data(), vocab, u);
    }
    if (out) (*out)[r] = t;
    checksum += t;
  }
  return checksum;
}

// Median over `rounds` of the mean per-row time (µs), each round >= min_ms of work.
template <bool kOld>
double TimePerRow(const std::vector<float>& logits, int rows, int vocab, const SamplingParams& p,
                  int rounds, double min_ms, int* sink) {
  std::vector<double> per_row;
  uint64_t step = 0;
  for (int i = 0; i < rounds; ++i) {
    int batches = 0;
    const auto start = Clock::now();
    double ms = 0;
    do {
      *sink += SampleBatch<kOld>(logits, rows, vocab, p, step++, nullptr);
      ++batches;
      ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    } while (ms < min_ms);
    per_row.push_back(ms * 1000.0 / (batches * rows));
  }
  std::sort(per_row.begin(), per_row.end());
  return per_row[per_row.size() / 2];
}

int Run(int argc, char** argv) {
  CLI::App app{"Host sampling cost per row: old vs new sampler"};
  std::string out = "bench/results/sampler.json";
  int rounds = 3;
  double min_ms = 30;
  app.add_option("--out", out, "JSON output path");
  app.add_option("--rounds", rounds, "timed rounds per cell (median reported)");
  app.add_option("--min-ms", min_ms, "minimum work per round, ms");
  CLI11_PARSE(app, argc, argv);

  std::vector<Case> cases(3);
  cases[0].name = "t0.8 top_p1";
  cases[1].name = "t0.8 top_p0.9";
  cases[1].params.top_p = 0.9f;
  cases[2].name = "t0.8 top_k50";
  cases[2].params.top_k = 50;
  for (Case& c : cases) c.params.temperature = 0.8f;

  nlohmann::json results = nlohmann::json::array();
  std::printf("%-15s %6s %5s %12s %12s %8s %10s\n", "case", "vocab", "rows", "old_us/row",
              "new_us/row", "speedup", "same_tok");
  int sink = 0;
  for (int vocab : {8192, 32000}) {
    for (int rows : {1, 64}) {
      // Logits like a language model's: mostly Gaussian noise, a few strong candidates.
      std::mt19937 gen(1234 + vocab + rows);
      std::normal_distribution<float> noise(0.0f, 2.0f);
      std::vector<float> logits(static_cast<size_t>(rows) * vocab);
      for (float& x : logits) x = noise(gen);
      for (int r = 0; r < rows; ++r) {
        for (int j = 0; j < 8; ++j) logits[static_cast<size_t>(r) * vocab + gen() % vocab] += 8;
      }
      for (const Case& c : cases) {
        // Same tokens from both implementations over >= 256 draws (sanity check).
        std::vector<int> a(rows), b(rows);
        int same = 0, total = 0;
        const uint64_t steps = std::max(4, 256 / rows);
        for (uint64_t step = 0; step < steps; ++step) {
          SampleBatch<true>(logits, rows, vocab, c.params, step, &a);
          SampleBatch<false>(logits, rows, vocab, c.params, step, &b);
          for (int r = 0; r < rows; ++r) same += a[r] == b[r];
          total += rows;
        }
        const double t_old = TimePerRow<true>(logits, rows, vocab, c.params, rounds, min_ms, &sink);
        const double t_new =
            TimePerRow<false>(logits, rows, vocab, c.params, rounds, min_ms, &sink);
        const double agree = static_cast<double>(same) / total;
        std::printf("%-15s %6d %5d %12.2f %12.2f %7.1fx %9.4f\n", c.name.c_str(), vocab, rows,
                    t_old, t_new, t_old / t_new, agree);
        results.push_back({{"case", c.name},
                           {"temperature", c.params.temperature},
                           {"top_p", c.params.top_p},
                           {"top_k", c.params.top_k},
                           {"vocab", vocab},
                           {"rows", rows},
                           {"old_us_per_row", t_old},
                           {"new_us_per_row", t_new},
                           {"speedup", t_old / t_new},
                           {"same_token_fraction", agree}});
      }
    }
  }
  nlohmann::json doc = {{"bench", "linspec-bench-sampler"},
                        {"what",
                         "ToProbs + SampleFromProbs per row, old (ee15232) vs new, "
                         "same process; median of rounds"},
                        {"rounds", rounds},
                        {"min_ms_per_round", min_ms},
                        {"results", results}};
  std::ofstream(out) << doc.dump(2) << "\n";
  std::printf("wrote %s (sink %d)\n", out.c_str(), sink);
  return 0;
}

}  // namespace
}  // namespace linspec::scheduler

int main(int argc, char** argv) { return linspec::scheduler::Run(argc, argv); }
