// linspec-cuda-bench: CUDA engine step time per batch size and tokens per sequence (T=1 decode,
// T=k+1 verify) for one model directory, against the memory roofline
//   (streamed weight bytes + B * 2 * state bytes) / copy bandwidth
// with the bandwidth measured by a device-to-device copy in the same process, and against the
// roofline of the lazy fold (S read every step, written once per completed group).
// Writes one JSON object (see bench/README.md) and prints a table.
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "engine/cuda/cuda_engine.h"
#include "kernels/linear_attention.h"
#include "kernels/sampling.h"
#include "nlohmann/json.hpp"

namespace {

using linspec::engine::ChunkSampling;
using linspec::engine::EngineOptions;
using linspec::engine::ForwardOptions;
using linspec::engine::ForwardResult;
using linspec::engine::SeqChunk;
using linspec::engine::TokenId;
using linspec::engine::cuda::CudaEngine;

// Copy bandwidth in GB/s, counting bytes read plus bytes written.
double MeasureCopyBandwidth() {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
  cudaMemset(a, 1, bytes);
  cudaEvent_t s, e;
  cudaEventCreate(&s);
  cudaEventCreate(&e);
  for (int i = 0; i < 3; ++i) cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  std::vector<float> ms;
  for (int rep = 0; rep < 5; ++rep) {
    cudaEventRecord(s);
    for (int i = 0; i < 10; ++i) cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e);
    cudaEventSynchronize(e);
    float t = 0;
    cudaEventElapsedTime(&t, s, e);
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes * 10 / (ms[ms.size() / 2] * 1e-3) / 1e9;
}

// Commits n[s] more tokens to slot s, as prompt chunks of <= max_tokens per Forward.
bool AdvanceEach(CudaEngine& e, const std::vector<int>& n, int vocab, int max_tokens) {
  const int slots = static_cast<int>(n.size());
  std::vector<TokenId> prompt(max_tokens);
  for (int i = 0; i < max_tokens; ++i) prompt[i] = (17 * i + 3) % vocab;
  for (int s0 = 0; s0 < slots;) {
    std::vector<SeqChunk> chunks;
    for (int tokens = 0; s0 < slots && tokens + n[s0] <= max_tokens; tokens += n[s0], ++s0) {
      if (n[s0] > 0)
        chunks.push_back({s0, absl::MakeConstSpan(prompt).subspan(0, n[s0]), false, false});
    }
    if (chunks.empty() && s0 < slots) {
      std::fprintf(stderr, "advance: %d tokens exceed max_batch_tokens %d\n", n[s0], max_tokens);
      return false;
    }
    if (chunks.empty()) break;
    ForwardResult r;
    if (auto st = e.Forward(chunks, ForwardOptions{false}, &r); !st.ok()) {
      std::fprintf(stderr, "advance: %s\n", st.ToString().c_str());
      return false;
    }
  }
  return true;
}

// Commits n more tokens to each of slots [0, slots).
bool Advance(CudaEngine& e, int slots, int n, int vocab, int max_tokens) {
  return n <= 0 || AdvanceEach(e, std::vector<int>(slots, n), vocab, max_tokens);
}

// One pending token per slot, then Commit(1): the slots advance by one committed token that
// no kernel has folded yet (as after a verify and its commit).
bool AppendOneCommitted(CudaEngine& e, int slots) {
  const std::vector<TokenId> tok = {11};
  std::vector<SeqChunk> chunks;
  for (int s = 0; s < slots; ++s) chunks.push_back({s, tok, true, false});
  ForwardResult r;
  absl::Status st = e.Forward(chunks, ForwardOptions{false}, &r);
  for (int s = 0; s < slots && st.ok(); ++s) st = e.Commit(s, 1);
  if (!st.ok()) std::fprintf(stderr, "append: %s\n", st.ToString().c_str());
  return st.ok();
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> v;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t next = s.find(',', pos);
    if (next == std::string::npos) next = s.size();
    v.push_back(std::stoi(s.substr(pos, next - pos)));
    pos = next + 1;
  }
  return v;
}

// --sampling-kernel: kernels::SampleChunks alone, microseconds per launch for B chunks of one
// row each (vocab 32000) or of k + 1 = 5 rows (one-hot drafts), over logits with a narrow or
// a wide spread (flat vs peaked distributions), per sampling configuration.
int RunSamplingKernelBench(int iters, const std::string& json_out) {
  const int vocab = 32000, max_rows = 5;
  nlohmann::json out = {{"bench", "sampling_kernel"}, {"vocab", vocab}, {"results", {}}};
  std::printf("%-22s %6s %4s %3s %10s\n", "config", "spread", "B", "k", "us/launch");
  struct Config {
    const char* name;
    float temperature;
    int top_k;
    float top_p;
  };
  const Config configs[] = {{"greedy", 0.f, 0, 1.f},
                            {"t0.8", 0.8f, 0, 1.f},
                            {"t0.8_topk50", 0.8f, 50, 1.f},
                            {"t0.8_topp0.9", 0.8f, 0, 0.9f},
                            {"t0.8_topk50_topp0.9", 0.8f, 50, 0.9f}};
  std::mt19937 rng(7);
  for (float spread : {0.3f, 3.f}) {
    for (int b : {1, 64}) {
      for (int k : {0, 4}) {
        const int rows = b * (k + 1);
        std::vector<float> logits(static_cast<size_t>(rows) * vocab);
        std::normal_distribution<float> g(0.f, spread);
        for (float& x : logits) x = g(rng);
        std::vector<int32_t> argmax(rows), tokens(rows, 5);
        for (int r = 0; r < rows; ++r) {
          const float* row = logits.data() + static_cast<size_t>(r) * vocab;
          argmax[r] = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
        }
        float *d_logits, *d_probs;
        int32_t *d_argmax, *d_tokens;
        linspec::kernels::SampleChunk* d_chunks;
        linspec::kernels::SampledChunk* d_out;
        int2* d_rows;
        unsigned int* d_counters;
        cudaMalloc(&d_logits, logits.size() * 4);
        cudaMalloc(&d_probs, static_cast<size_t>(b) * vocab * 4);
        cudaMalloc(&d_argmax, rows * 4);
        cudaMalloc(&d_tokens, rows * 4);
        cudaMalloc(&d_chunks, b * sizeof(linspec::kernels::SampleChunk));
        cudaMalloc(&d_out, b * sizeof(linspec::kernels::SampledChunk));
        cudaMalloc(&d_rows, static_cast<size_t>(b) * max_rows * sizeof(int2));
        cudaMalloc(&d_counters, b * 4);
        cudaMemset(d_counters, 0, b * 4);
        cudaMemcpy(d_logits, logits.data(), logits.size() * 4, cudaMemcpyHostToDevice);
        cudaMemcpy(d_argmax, argmax.data(), rows * 4, cudaMemcpyHostToDevice);
        cudaMemcpy(d_tokens, tokens.data(), rows * 4, cudaMemcpyHostToDevice);
        for (const Config& cfg : configs) {
          std::vector<linspec::kernels::SampleChunk> chunks(b);
          for (int i = 0; i < b; ++i) {
            auto& c = chunks[i];
            c.active = 1;
            c.first_row = i * (k + 1);
            c.num_drafts = k;
            c.draft_token = i * (k + 1) + 1;
            c.temperature = cfg.temperature;
            c.top_k = cfg.top_k;
            c.top_p = cfg.top_p;
            c.seed = 100 + i;
          }
          cudaMemcpy(d_chunks, chunks.data(), b * sizeof(chunks[0]), cudaMemcpyHostToDevice);
          cudaEvent_t e0, e1;
          cudaEventCreate(&e0);
          cudaEventCreate(&e1);
          auto launch = [&] {
            return linspec::kernels::SampleChunks(d_logits, d_argmax, vocab, d_chunks, b, max_rows,
                                                  d_tokens, nullptr, d_out, d_probs, d_rows,
                                                  d_counters, nullptr);
          };
          launch();
          cudaEventRecord(e0);
          for (int it = 0; it < iters; ++it) launch();
          cudaEventRecord(e1);
          if (cudaEventSynchronize(e1) != cudaSuccess) {
            std::fprintf(stderr, "sampling kernel failed: %s\n",
                         cudaGetErrorString(cudaGetLastError()));
            return 1;
          }
          float ms = 0;
          cudaEventElapsedTime(&ms, e0, e1);
          const double us = 1e3 * ms / iters;
          std::printf("%-22s %6.1f %4d %3d %10.1f\n", cfg.name, spread, b, k, us);
          out["results"].push_back(
              {{"config", cfg.name}, {"spread", spread}, {"B", b}, {"k", k}, {"us", us}});
          cudaEventDestroy(e0);
          cudaEventDestroy(e1);
        }
        for (void* p : std::initializer_list<void*>{d_logits, d_probs, d_argmax, d_tokens, d_chunks,
                                                    d_out, d_rows, d_counters}) {
          cudaFree(p);
        }
      }
    }
  }
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CUDA engine step benchmark"};
  std::string model_dir, name = "model", json_out, batches_s = "1,4,16,64,256", ts_s = "1,5";
  std::string dtype = "bf16";
  int iters = 20, prefill = 32, window_sweep = 0;
  bool sampled = false;
  std::string prefill_s = "512,2048";
  bool sampling_kernel = false;
  app.add_option("--model", model_dir, "model directory");
  app.add_flag("--sampling-kernel", sampling_kernel,
               "time kernels::SampleChunks alone (no model) and exit");
  app.add_option("--name", name, "label in the table/JSON");
  app.add_option("--batches", batches_s, "batch sizes");
  app.add_option("--tokens", ts_s, "tokens per sequence per step (1 = decode, k+1 = verify)");
  app.add_option("--iters", iters, "timed steps per point");
  app.add_option("--prefill", prefill, "committed tokens per slot before timing");
  app.add_option("--dtype", dtype, "weight dtype bf16|fp16");
  app.add_option("--window-sweep", window_sweep,
                 "only time each step at window lengths 0, N, 2N, .. of one fold group");
  app.add_option("--json", json_out, "write the JSON here");
  app.add_option("--prefill-tokens", prefill_s, "prompt lengths to time as one prefill chunk");
  app.add_flag("--sampled", sampled,
               "also time each step ending with on-device sampling (T 0.8, top_p 0.9)");
  std::string profile_s;
  int profile_prefill = 0;
  app.add_option("--profile-prefill", profile_prefill,
                 "only run one eager prefill chunk of this many tokens between "
                 "cudaProfilerStart/Stop");
  app.add_option("--profile", profile_s,
                 "only run one eager T=1 step per listed batch size between cudaProfilerStart/Stop "
                 "(for ncu --profile-from-start off)");
  CLI11_PARSE(app, argc, argv);
  if (sampling_kernel) return RunSamplingKernelBench(iters, json_out);
  if (model_dir.empty()) {
    std::fprintf(stderr, "--model is required\n");
    return 2;
  }
  const std::vector<int> batches = ParseList(batches_s), ts = ParseList(ts_s);
  int max_b = 1, max_t = 1;
  for (int b : batches) max_b = std::max(max_b, b);
  for (int t : ts) max_t = std::max(max_t, t);

  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  const double bw_gbps = MeasureCopyBandwidth();
  EngineOptions eo;
  eo.model_dir = model_dir;
  eo.num_slots = max_b;
  eo.max_draft_tokens = std::max(max_t - 1, 1);
  int max_prefill = 0;
  for (int p : ParseList(prefill_s)) max_prefill = std::max(max_prefill, p);
  eo.max_batch_tokens = std::max({max_b * max_t, 1024, max_prefill});
  eo.cuda_weight_dtype = dtype;
  auto created = CudaEngine::Create(eo);
  if (!created.ok()) {
    std::fprintf(stderr, "engine: %s\n", created.status().ToString().c_str());
    return 1;
  }
  CudaEngine& e = **created;
  const auto& c = e.config();
  // Bytes a decode step must stream: every projection + lm_head (the embedding is gathered).
  const int64_t es = dtype == "fp32" ? 4 : 2, hid = c.hidden_size, d = c.head_dim;
  const int64_t per_layer = (int64_t{c.num_attention_heads} + 2 * c.num_key_value_heads) * d * hid +
                            hid * c.num_attention_heads * d + 3 * hid * c.intermediate_size;
  const int64_t weight_bytes = (per_layer * c.num_hidden_layers + hid * c.vocab_size) * es;
  const int64_t state_bytes = c.state_elems_per_layer() * 4 * c.num_hidden_layers;

  // Prefill every slot so the augmented window is half full (typical decode position).
  if (!Advance(e, max_b, prefill, c.vocab_size, eo.max_batch_tokens)) return 1;
  if (profile_prefill > 0) {  // one eager prefill chunk on a fresh slot, profiled
    e.set_use_graphs(false);
    std::vector<TokenId> prompt(profile_prefill);
    for (int i = 0; i < profile_prefill; ++i) prompt[i] = (17 * i + 3) % c.vocab_size;
    std::vector<SeqChunk> one = {{max_b - 1, prompt, false, false}};
    ForwardResult r;
    cudaProfilerStart();
    auto st = e.Forward(one, ForwardOptions{false}, &r);
    cudaProfilerStop();
    return st.ok() ? 0 : 1;
  }
  if (!profile_s.empty()) {
    e.set_use_graphs(false);
    for (int b : ParseList(profile_s)) {
      std::vector<TokenId> tok = {5};
      std::vector<SeqChunk> chunks;
      for (int s = 0; s < b; ++s) chunks.push_back({s, tok, false, false});
      ForwardResult r;
      cudaProfilerStart();
      auto st = e.Forward(chunks, ForwardOptions{false}, &r);
      cudaProfilerStop();
      if (!st.ok()) return 1;
    }
    return 0;
  }
  nlohmann::json out;
  out["device"] = prop.name;
  out["model"] = name;
  out["copy_bandwidth_GBps"] = bw_gbps;
  out["weight_bytes"] = weight_bytes;
  out["state_bytes_per_seq"] = state_bytes;
  out["config"] = {{"layers", c.num_hidden_layers},
                   {"hidden", hid},
                   {"heads", c.num_attention_heads},
                   {"kv_heads", c.num_key_value_heads},
                   {"head_dim", d},
                   {"intermediate", c.intermediate_size},
                   {"vocab", c.vocab_size},
                   {"group_size", c.linear_attention.group_size},
                   {"conv_taps", c.linear_attention.conv_taps}};
  std::vector<TokenId> draft(max_t);
  for (int i = 0; i < max_t; ++i) draft[i] = (31 * i + 7) % c.vocab_size;
  // The step of every (T, B) point: B sequences with T tokens each (T > 1: a pending verify).
  auto chunks_of = [&](int t, int b) {
    std::vector<SeqChunk> chunks;
    for (int s = 0; s < b; ++s) {
      chunks.push_back({s, absl::MakeConstSpan(draft).subspan(0, t), t > 1, t > 1});
    }
    return chunks;
  };
  // Slots fold a group of G positions into S once it completes (DESIGN.md §3; plain attention
  // folds groups of 16), so a step's cost depends on where its slots stand: most steps only
  // read S and the window of unfolded tokens (0..G-1 of them), the step that completes a group
  // also writes S ("fold"). The read cost is the mean over kReadPhases window lengths spread
  // over the group; ms/step averages read and fold steps over a group: T=1 folds once per G
  // steps; a verify of T tokens is charged a fold every G / T steps (every draft accepted, the
  // most folds a speculative sequence can see). All slots stand at the same position.
  const int fold_group = linspec::kernels::FoldGroup(c.linear_attention.group_size);
  constexpr int kReadPhases = 8;
  struct Point {
    double read_ms = 0, fold_ms = 0, sampled_ms = 0, mixed_ms = 0;
  };
  std::map<std::pair<int, int>, Point> points;
  int position = prefill;
  auto time_all = [&](bool verify_only, bool t1_only, auto&& record) -> bool {
    for (int t : ts) {
      if ((verify_only && t == 1) || (t1_only && t > 1)) continue;
      for (int b : batches) {
        auto ms = e.TimeStep(chunks_of(t, b), iters);
        if (!ms.ok()) {
          std::fprintf(stderr, "B=%d T=%d: %s\n", b, t, ms.status().ToString().c_str());
          return false;
        }
        record(t, b, *ms);
      }
    }
    return true;
  };
  if (window_sweep > 0) {
    // Step time per window length (unfolded tokens before the step) at strides of
    // window_sweep over one group: where a step's cost grows with its window. T=1 at window
    // G - 1 is the fold step.
    nlohmann::json sweep = nlohmann::json::array();
    std::printf("%-16s %6s %5s %3s %9s\n", "model", "window", "B", "T", "ms");
    for (int w = 0; w < fold_group; w += window_sweep) {
      const int target = (position - position % fold_group) + fold_group + w;
      if (!Advance(e, max_b, target - position, c.vocab_size, eo.max_batch_tokens)) return 1;
      position = target;
      if (!time_all(false, false, [&](int t, int b, double ms) {
            std::printf("%-16s %6d %5d %3d %9.3f\n", name.c_str(), w, b, t, ms);
            sweep.push_back({{"window", w}, {"B", b}, {"T", t}, {"ms", ms}});
          })) {
        return 1;
      }
    }
    out["window_sweep"] = sweep;
    if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
    return 0;
  }
  const int phases = std::min(kReadPhases, fold_group - 1);
  for (int ph = 0; ph < phases; ++ph) {
    const int window = (fold_group - 1) * ph / phases;  // unfolded tokens before the step
    const int target = (position - position % fold_group) + fold_group + window;
    if (!Advance(e, max_b, target - position, c.vocab_size, eo.max_batch_tokens)) return 1;
    position = target;
    if (!time_all(false, false, [&](int t, int b, double ms) {
          points[{t, b}].read_ms += ms / std::max(phases, 1);
        })) {
      return 1;
    }
  }
  if (sampled) {
    // The same step ending with on-device sampling + acceptance (temperature 0.8, top_p 0.9;
    // drafts are the verify tokens, one-hot proposals), at the last read phase.
    for (int t : ts) {
      for (int b : batches) {
        std::vector<ChunkSampling> sampling(b);
        for (int s = 0; s < b; ++s) {
          sampling[s].active = true;
          sampling[s].temperature = 0.8f;
          sampling[s].top_p = 0.9f;
          sampling[s].seed = 1000 + s;
        }
        auto plain_ms = e.TimeStep(chunks_of(t, b), iters);
        auto sampled_ms = e.TimeStep(chunks_of(t, b), iters, sampling);
        if (!plain_ms.ok() || !sampled_ms.ok()) {
          std::fprintf(stderr, "B=%d T=%d sampled failed\n", b, t);
          return 1;
        }
        points[{t, b}].sampled_ms = *sampled_ms - *plain_ms;  // sampling's share
      }
    }
  }
  // Fold phase: T=1 from position = -1 mod G (its token completes the group); verify from
  // position = 0 mod G with the completed group not folded yet (a commit just completed it).
  const int fold_at = (position - position % fold_group) + 2 * fold_group - 1;
  if (!Advance(e, max_b, fold_at - position, c.vocab_size, eo.max_batch_tokens)) return 1;
  if (!time_all(false, true, [&](int t, int b, double ms) { points[{t, b}].fold_ms = ms; })) {
    return 1;
  }
  if (!AppendOneCommitted(e, max_b)) return 1;
  if (!time_all(true, false, [&](int t, int b, double ms) { points[{t, b}].fold_ms = ms; })) {
    return 1;
  }
  // Mixed phases, as in serving: slot s stands at window (7 s) mod G of a fresh group, so a
  // step of B >= G sequences has every window length and B / G of its sequences fold.
  {
    std::vector<int> n(max_b);
    for (int s = 0; s < max_b; ++s) n[s] = fold_group + (7 * s) % fold_group;
    if (!AdvanceEach(e, n, c.vocab_size, eo.max_batch_tokens)) return 1;
    if (!time_all(false, true, [&](int t, int b, double ms) { points[{t, b}].mixed_ms = ms; })) {
      return 1;
    }
  }
  std::printf("%-16s %5s %3s %9s %9s %9s %11s %11s %9s %9s %10s %9s %9s\n", "model", "B", "T",
              "read ms", "fold ms", "ms/step", "tokens/s", "roofline ms", "fraction", "lazy frac",
              "sampled ms", "mixed ms", "mixed frac");
  for (int t : ts) {
    for (int b : batches) {
      const Point& pt = points[{t, b}];
      const double f = std::min(1.0, static_cast<double>(t) / fold_group);
      const double ms = (1 - f) * pt.read_ms + f * pt.fold_ms;
      // The roofline (S read and written every step) and the one of the bytes the lazy
      // fold must move (S read every step, written on a fold).
      const double roof_ms = (weight_bytes + 2.0 * b * state_bytes) / (bw_gbps * 1e9) * 1e3;
      const double lazy_ms = (weight_bytes + (1 + f) * b * state_bytes) / (bw_gbps * 1e9) * 1e3;
      const double tps = b * t / (ms * 1e-3);
      std::printf("%-16s %5d %3d %9.3f %9.3f %9.3f %11.0f %11.3f %9.3f %9.3f %10.3f %9.3f %9.3f\n",
                  name.c_str(), b, t, pt.read_ms, pt.fold_ms, ms, tps, roof_ms, roof_ms / ms,
                  lazy_ms / ms, sampled ? ms + pt.sampled_ms : 0.0, pt.mixed_ms,
                  pt.mixed_ms > 0 ? roof_ms / pt.mixed_ms : 0.0);
      out["results"].push_back({{"B", b},
                                {"T", t},
                                {"ms_per_step", ms},
                                {"read_phase_ms", pt.read_ms},
                                {"fold_phase_ms", pt.fold_ms},
                                {"fold_fraction", f},
                                {"tokens_per_s", tps},
                                {"roofline_ms", roof_ms},
                                {"roofline_fraction", roof_ms / ms},
                                {"lazy_roofline_ms", lazy_ms},
                                {"lazy_roofline_fraction", lazy_ms / ms}});
      if (sampled) out["results"].back()["sampled_ms_per_step"] = ms + pt.sampled_ms;
      if (t == 1) {
        out["results"].back()["mixed_phase_ms"] = pt.mixed_ms;
        out["results"].back()["mixed_roofline_fraction"] = roof_ms / pt.mixed_ms;
      }
    }
  }
  out["fold_group"] = fold_group;
  // Launch gaps: B=1 T=1 without graphs.
  {
    e.set_use_graphs(false);
    std::vector<SeqChunk> one = {{0, absl::MakeConstSpan(draft).subspan(0, 1), false, false}};
    auto ms = e.TimeStep(one, iters);
    if (ms.ok()) {
      out["eager_B1_T1_ms"] = *ms;
      std::printf("%-16s B=1 T=1 without CUDA graphs: %.3f ms\n", name.c_str(), *ms);
    }
  }
  // Prefill: one sequence's committed chunk of P prompt tokens (the chunked-prefill path),
  // prompt tokens per second.
  for (int p : ParseList(prefill_s)) {
    if (p <= 0 || p > eo.max_batch_tokens) continue;
    std::vector<TokenId> prompt(p);
    for (int i = 0; i < p; ++i) prompt[i] = (17 * i + 3) % c.vocab_size;
    std::vector<SeqChunk> one = {{0, prompt, false, false}};
    auto ms = e.TimeStep(one, std::max(2, iters / 4));
    if (!ms.ok()) {
      std::fprintf(stderr, "prefill %d: %s\n", p, ms.status().ToString().c_str());
      continue;
    }
    std::printf("%-16s prefill %5d tokens: %8.3f ms (%.0f tokens/s)\n", name.c_str(), p, *ms,
                p / (*ms * 1e-3));
    out["prefill"].push_back({{"tokens", p}, {"ms", *ms}, {"tokens_per_s", p / (*ms * 1e-3)}});
  }
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  return 0;
}
