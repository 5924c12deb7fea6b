// linspec-cuda-gemm-bench: the decode GEMMs alone (out = x[m, k] . w[n, k]^T, bf16 -> fp32) for
// every projection shape of the 1.3B and 7B models, against copy bandwidth measured in the same
// run. Per (shape, rows): each skinny-kernel variant at its best split count (swept here), the
// engine's GemmRunner after its start-up Tune (what a decode step runs), and cuBLAS
// (cublasGemmEx). Weights are rotated over copies totalling >= --min-mb so L2 cannot hold them;
// calls are timed as CUDA graph replays with programmatic dependent launch on (as the engine
// runs them). Fraction = (weight + x + one fp32 output) bytes / time / copy bandwidth.
// Prints a table and writes JSON (bench/README.md).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/cuda_check.h"
#include "engine/cuda/gemm_runner.h"
#include "kernels/launch.h"
#include "kernels/skinny_gemm.h"
#include "nlohmann/json.hpp"

namespace {

using linspec::engine::cuda::GemmRunner;
namespace kern = linspec::kernels;

struct Shape {
  std::string model, name;
  int n, k;
};

const std::vector<Shape>& AllShapes() {
  static const std::vector<Shape> s = {
      {"1.3b", "qkv", 6144, 2048},      {"1.3b", "o", 2048, 2048},
      {"1.3b", "gate_up", 11264, 2048}, {"1.3b", "down", 2048, 5632},
      {"1.3b", "lm_head", 32000, 2048}, {"7b", "qkv", 12288, 4096},
      {"7b", "o", 4096, 4096},          {"7b", "gate_up", 22016, 4096},
      {"7b", "down", 4096, 11008},      {"7b", "lm_head", 32000, 4096}};
  return s;
}

// Skinny variants timed at their best split: name -> kernels::kSkinny* (| kSkinnyEvictFirst).
const std::vector<std::pair<std::string, int>>& Variants() {
  static const std::vector<std::pair<std::string, int>> v = {
      {"classic", kern::kSkinnyClassic},
      {"p4", kern::kSkinnyPipelined4},
      {"p8", kern::kSkinnyPipelined8},
      {"p4deep", kern::kSkinnyPipelined4Deep},
      {"p4_ef", kern::kSkinnyPipelined4 | kern::kSkinnyEvictFirst},
      {"p8_ef", kern::kSkinnyPipelined8 | kern::kSkinnyEvictFirst},
      {"t4", kern::kSkinnyTiled4},
      {"t8", kern::kSkinnyTiled8},
      {"t1", kern::kSkinnyTiled1},
      {"t2", kern::kSkinnyTiled2}};
  return v;
}

// Copy bandwidth in GB/s, counting bytes read plus bytes written.
double MeasureCopyBandwidth(cudaStream_t stream) {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  CHECK_CUDA(cudaMalloc(&a, bytes));
  CHECK_CUDA(cudaMalloc(&b, bytes));
  CHECK_CUDA(cudaMemset(a, 1, bytes));
  cudaEvent_t s, e;
  CHECK_CUDA(cudaEventCreate(&s));
  CHECK_CUDA(cudaEventCreate(&e));
  for (int i = 0; i < 3; ++i) CHECK_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDefault, stream));
  std::vector<float> ms;
  for (int rep = 0; rep < 5; ++rep) {
    CHECK_CUDA(cudaEventRecord(s, stream));
    for (int i = 0; i < 10; ++i) {
      CHECK_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, stream));
    }
    CHECK_CUDA(cudaEventRecord(e, stream));
    CHECK_CUDA(cudaEventSynchronize(e));
    float t = 0;
    CHECK_CUDA(cudaEventElapsedTime(&t, s, e));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  CHECK_CUDA(cudaFree(a));
  CHECK_CUDA(cudaFree(b));
  cudaEventDestroy(s);
  cudaEventDestroy(e);
  return 2.0 * bytes * 10 / (ms[ms.size() / 2] * 1e-3) / 1e9;
}

// Median microseconds per call of `calls` launches (call(i) launches the i-th) captured into one
// graph and replayed `replays` times after a warm-up replay.
double TimeGraph(cudaStream_t stream, int calls, int replays,
                 const std::function<cudaError_t(int)>& call) {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  cudaError_t err = cudaSuccess;
  for (int i = 0; i < calls && err == cudaSuccess; ++i) err = call(i);
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  CHECK_CUDA(err);
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t s, e;
  CHECK_CUDA(cudaEventCreate(&s));
  CHECK_CUDA(cudaEventCreate(&e));
  CHECK_CUDA(cudaGraphLaunch(exec, stream));
  std::vector<float> ms;
  for (int r = 0; r < replays; ++r) {
    CHECK_CUDA(cudaEventRecord(s, stream));
    CHECK_CUDA(cudaGraphLaunch(exec, stream));
    CHECK_CUDA(cudaEventRecord(e, stream));
    CHECK_CUDA(cudaEventSynchronize(e));
    float t = 0;
    CHECK_CUDA(cudaEventElapsedTime(&t, s, e));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(s);
  cudaEventDestroy(e);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return ms[ms.size() / 2] * 1e3 / calls;
}

// Random bf16 in [-1, 1) (never zero) from a fixed-seed generator.
std::vector<uint16_t> RandomBf16(size_t n, uint64_t seed) {
  std::vector<uint16_t> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    float f = static_cast<float>(static_cast<int32_t>(s >> 32)) * (1.f / 2147483648.f);
    if (f == 0.f) f = 0.5f;
    uint32_t b;
    std::memcpy(&b, &f, 4);
    x = static_cast<uint16_t>(b >> 16);
  }
  return v;
}

float Bf16ToFloat(uint16_t h) {
  const uint32_t b = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

struct Result {
  double us = 0;
  int splits = 1;
  int variant = -1;
};

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> v;
  for (size_t pos = 0; pos < s.size();) {
    size_t next = s.find(',', pos);
    if (next == std::string::npos) next = s.size();
    v.push_back(std::stoi(s.substr(pos, next - pos)));
    pos = next + 1;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CUDA decode GEMM microbenchmark"};
  std::string json_out, rows_s = "1,4,5,16,20,64", models_s = "1.3b,7b";
  double min_mb = 256;
  int calls_min = 32;
  app.add_option("--json", json_out, "write the JSON here");
  app.add_option("--rows", rows_s, "activation rows m (<= 64)");
  app.add_option("--models", models_s, "shape sets: 1.3b,7b");
  app.add_option("--min-mb", min_mb, "total bytes of rotated weight copies (MB)");
  app.add_option("--calls", calls_min, "calls per timed graph (at least)");
  CLI11_PARSE(app, argc, argv);
  const std::vector<int> rows = ParseList(rows_s);

  int dev = 0, major = 0;
  CHECK_CUDA(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, dev));
  CHECK_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  const char* pdl = std::getenv("LINSPEC_CUDA_PDL");
  kern::SetProgrammaticDependentLaunch(major >= 9 && !(pdl && std::string(pdl) == "0"));
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const double bw = MeasureCopyBandwidth(stream);
  std::printf("device %s, %d SMs, copy bandwidth %.0f GB/s, PDL %d\n", prop.name,
              prop.multiProcessorCount, bw, kern::ProgrammaticDependentLaunch() ? 1 : 0);

  cublasHandle_t cublas;
  void* cublas_ws = nullptr;
  const size_t ws_bytes = 32u << 20;
  CHECK_CUDA(cudaMalloc(&cublas_ws, ws_bytes));
  if (cublasCreate(&cublas) != CUBLAS_STATUS_SUCCESS) return 1;
  cublasSetStream(cublas, stream);
  cublasSetWorkspace(cublas, cublas_ws, ws_bytes);

  nlohmann::json out;
  out["device"] = prop.name;
  out["copy_gbps"] = bw;
  out["pdl"] = kern::ProgrammaticDependentLaunch();
  out["min_mb"] = min_mb;
  out["results"] = nlohmann::json::array();
  // Whole-set sums per (model, m, config): bytes and microseconds.
  std::map<std::tuple<std::string, int, std::string>, std::pair<double, double>> sums;

  std::printf("\n%-6s %-8s %6s %6s %3s | %-17s %-17s %-24s %-17s %s\n", "model", "proj", "n", "k",
              "m", "classic us(frac)", "best new us(frac)", "runner us(frac) var/spl",
              "cuBLAS us(frac)", "check");
  for (const Shape& sh : AllShapes()) {
    if (models_s.find(sh.model) == std::string::npos) continue;
    const size_t welems = size_t(sh.n) * sh.k, wbytes = welems * 2;
    const int copies = std::max<int>(2, std::ceil(min_mb * 1e6 / wbytes));
    std::vector<void*> w(copies);
    {
      const auto host = RandomBf16(welems, sh.n * 131 + sh.k);
      for (int c = 0; c < copies; ++c) {
        CHECK_CUDA(cudaMalloc(&w[c], wbytes));
        CHECK_CUDA(cudaMemcpy(w[c], host.data(), wbytes, cudaMemcpyHostToDevice));
      }
    }
    const auto xhost = RandomBf16(size_t(64) * sh.k, 7);
    void* x = nullptr;
    CHECK_CUDA(cudaMalloc(&x, xhost.size() * 2));
    CHECK_CUDA(cudaMemcpy(x, xhost.data(), xhost.size() * 2, cudaMemcpyHostToDevice));
    auto runner_or = GemmRunner::Create(kern::DType::kBF16, stream);
    if (!runner_or.ok()) {
      std::fprintf(stderr, "%s\n", runner_or.status().ToString().c_str());
      return 1;
    }
    GemmRunner& runner = **runner_or;
    const size_t pelems = std::max(runner.PartialElems(64, sh.n, sh.k), size_t(64) * sh.n);
    float* part = nullptr;
    CHECK_CUDA(cudaMalloc(reinterpret_cast<void**>(&part), pelems * 4));
    std::vector<const void*> wc(w.begin(), w.end());
    // o, down and lm_head feed a row consumer (RMSNorm, argmax) in the engine.
    const bool row_consumer = sh.name != "qkv" && sh.name != "gate_up";
    if (auto st = runner.Tune(sh.n, sh.k, wc, x, part, row_consumer); !st.ok()) {
      std::fprintf(stderr, "tune: %s\n", st.ToString().c_str());
      return 1;
    }
    const int calls = copies * std::max(1, (calls_min + copies - 1) / copies);

    for (int m : rows) {
      if (m < 1 || m > kern::kSkinnyMaxRows) continue;
      const double bytes = double(wbytes) + 2.0 * m * sh.k + 4.0 * m * sh.n;
      nlohmann::json rec = {{"model", sh.model}, {"proj", sh.name}, {"n", sh.n},
                            {"k", sh.k},         {"m", m},          {"copies", copies},
                            {"bytes", bytes}};
      auto put = [&](const std::string& name, const Result& r) {
        rec["configs"][name] = {{"us", r.us},
                                {"splits", r.splits},
                                {"variant", r.variant},
                                {"frac", bytes / (r.us * 1e-6) / (bw * 1e9)}};
        // Weighted as in one decode step: every layer's projections, one lm_head.
        const double times = sh.name == "lm_head" ? 1 : sh.model == "7b" ? 32 : 24;
        auto& s = sums[{sh.model, m, name}];
        s.first += bytes * times;
        s.second += r.us * times;
      };
      Result best_new;
      best_new.us = 1e30;
      std::string best_new_name;
      for (const auto& [vname, variant] : Variants()) {
        Result best;
        best.us = 1e30;
        best.variant = variant;
        int last_eff = -1;
        for (int cand : {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48}) {
          if (cand > sh.k / 32) break;
          const int eff = kern::SkinnyGemmEffectiveSplits(m, sh.k, cand);
          if (eff == last_eff) continue;
          last_eff = eff;
          const double us = TimeGraph(stream, calls, 3, [&](int i) {
            return kern::SkinnyGemm(w[i % copies], x, part, m, sh.n, sh.k, cand, kern::DType::kBF16,
                                    stream, variant);
          });
          if (us < best.us) best = {us, eff, variant};
        }
        const int req = best.splits;
        best.us = TimeGraph(stream, calls, 7, [&](int i) {
          return kern::SkinnyGemm(w[i % copies], x, part, m, sh.n, sh.k, req, kern::DType::kBF16,
                                  stream, variant);
        });
        put(vname, best);
        if (variant != kern::kSkinnyClassic && best.us < best_new.us) {
          best_new = best;
          best_new_name = vname;
        }
      }
      put("best_new", best_new);
      rec["best_new_name"] = best_new_name;

      const GemmRunner::SkinnyChoice choice = runner.ChoiceFor(m, sh.n, sh.k);
      Result rr{0, choice.splits, choice.variant};
      rr.us = TimeGraph(stream, calls, 7, [&](int i) {
        int s = 0;
        return runner.Run(w[i % copies], sh.n, sh.k, x, m, part, &s).ok() ? cudaSuccess
                                                                          : cudaErrorUnknown;
      });
      put("runner", rr);
      // Check: the runner's summed partials against cuBLAS (written to the tail of `part`).
      float* ref = part + size_t(choice.splits) * m * sh.n;
      const bool room = pelems >= size_t(choice.splits + 1) * m * sh.n;
      const float alpha = 1.f, beta = 0.f;
      auto cublas_call = [&](int i, float* dst) {
        return cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, sh.n, m, sh.k, &alpha, w[i % copies],
                            CUDA_R_16BF, sh.k, x, CUDA_R_16BF, sh.k, &beta, dst, CUDA_R_32F, sh.n,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS
                   ? cudaSuccess
                   : cudaErrorUnknown;
      };
      Result cb{0, 1, -1};
      cb.us = TimeGraph(stream, calls, 7, [&](int i) { return cublas_call(i, part); });
      put("cublas", cb);
      double err = -1;
      if (room) {
        int s = 0;
        if (!runner.Run(w[0], sh.n, sh.k, x, m, part, &s).ok()) return 1;
        CHECK_CUDA(cublas_call(0, ref));
        CHECK_CUDA(cudaStreamSynchronize(stream));
        std::vector<float> got(size_t(s + 1) * m * sh.n);
        CHECK_CUDA(cudaMemcpy(got.data(), part, got.size() * 4, cudaMemcpyDeviceToHost));
        double num = 0, den = 0;
        const size_t mn = size_t(m) * sh.n;
        for (size_t i = 0; i < mn; ++i) {
          float v = 0;
          for (int j = 0; j < s; ++j) v += got[j * mn + i];
          const double d = double(v) - got[s * mn + i];
          num += d * d;
          den += double(got[s * mn + i]) * got[s * mn + i];
        }
        err = std::sqrt(num / std::max(den, 1e-30));
      }
      rec["rel_err_vs_cublas"] = err;
      out["results"].push_back(rec);
      auto cell = [&](const std::string& name) {
        const auto& c = rec["configs"][name];
        char buf[64];
        std::snprintf(buf, sizeof buf, "%7.2f (%4.1f%%)", c["us"].get<double>(),
                      100 * c["frac"].get<double>());
        return std::string(buf);
      };
      char rv[32];
      std::snprintf(rv, sizeof rv, " %2d/%-2d", choice.variant, choice.splits);
      std::printf("%-6s %-8s %6d %6d %3d | %-17s %-17s %-24s %-17s %.1e %s\n", sh.model.c_str(),
                  sh.name.c_str(), sh.n, sh.k, m, cell("classic").c_str(),
                  (cell("best_new") + " " + best_new_name).c_str(), (cell("runner") + rv).c_str(),
                  cell("cublas").c_str(), err, err >= 0 && err < 1e-2 ? "ok" : "CHECK");
      std::fflush(stdout);
    }
    CHECK_CUDA(cudaFree(part));
    CHECK_CUDA(cudaFree(x));
    for (void* p : w) CHECK_CUDA(cudaFree(p));
  }

  std::printf(
      "\nGEMMs of one decode step (layers x projections + lm_head; sum of bytes / sum of times) as "
      "a "
      "fraction of copy bandwidth\n");
  std::printf("%-6s %3s", "model", "m");
  std::vector<std::string> all_cols;
  for (const auto& [name, v] : Variants()) all_cols.push_back(name);
  all_cols.insert(all_cols.end(), {"runner", "cublas"});
  for (const auto& c : all_cols) std::printf(" %8s", c.c_str());
  std::printf("\n");
  nlohmann::json summary = nlohmann::json::array();
  for (const std::string model : {"1.3b", "7b"}) {
    for (int m : rows) {
      if (!sums.count({model, m, "runner"})) continue;
      std::printf("%-6s %3d", model.c_str(), m);
      nlohmann::json srec = {{"model", model}, {"m", m}};
      for (const auto& c : all_cols) {
        const auto& s = sums[{model, m, c}];
        const double frac = s.first / (s.second * 1e-6) / (bw * 1e9);
        srec[c] = {{"frac", frac}, {"us", s.second}};
        std::printf(" %7.1f%%", 100 * frac);
      }
      std::printf("\n");
      summary.push_back(srec);
    }
  }
  out["summary"] = summary;
  if (!json_out.empty()) {
    std::ofstream f(json_out);
    f << out.dump(1) << "\n";
  }
  cublasDestroy(cublas);
  cudaFree(cublas_ws);
  return 0;
}
