// linspec-eval: perplexity of a model on a text file, and speculative-decoding statistics
// of a target/draft pair, through the engine (see tools/eval/README.md). Examples:
//   linspec-eval perplexity --model models/default --text .device/corpus/test.txt
//   linspec-eval speculative --target models/default --draft models/draft
//       --prompts .device/corpus/test.txt --k-max 8 --temperatures 0,0.8
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tools/eval/perplexity.h"
#include "tools/eval/speculative.h"
#include "tools/eval/text_docs.h"

namespace linspec::tools {
namespace {

using engine::TokenId;
using Docs = std::vector<std::vector<TokenId>>;

struct CommonFlags {
  std::string device = "cpu";
  int threads = 0;
  std::string json_out;
};

struct PplFlags {
  std::string model, text;
  int max_docs = 0, slots = 8;
  PerplexityOptions opt;
};

struct SpecFlags {
  std::string target, draft, prompts;
  int num_prompts = 16, prompt_tokens = 32, max_new_tokens = 64, k_max = 8, batch = 16;
  std::vector<float> temperatures = {0.0f, 0.8f};
  uint64_t seed = 1;
  bool warmup = true;
};

engine::Device ParseDevice(const std::string& d) {
  return d == "cuda"   ? engine::Device::kCuda
         : d == "auto" ? engine::Device::kAuto
                       : engine::Device::kCpu;
}

absl::StatusOr<std::unique_ptr<engine::Engine>> MakeEngine(const std::string& dir,
                                                           const CommonFlags& c, int slots,
                                                           int max_draft) {
  engine::EngineOptions o;
  o.model_dir = dir;
  o.device = ParseDevice(c.device);
  o.num_slots = slots;
  o.max_draft_tokens = max_draft;
  o.num_threads = c.threads;
  return engine::CreateEngine(o);
}

absl::StatusOr<Docs> LoadDocs(const std::string& model_dir, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<engine::Tokenizer> tok, engine::LoadTokenizer(model_dir));
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  return EncodeDocuments(*tok, SplitDocuments(text));
}

absl::Status WriteJson(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return absl::OkStatus();
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  return out ? absl::OkStatus() : absl::InternalError("cannot write " + path);
}

absl::Status RunPerplexity(const PplFlags& f, const CommonFlags& c) {
  ASSIGN_OR_RETURN(Docs docs, LoadDocs(f.model, f.text));
  if (f.max_docs > 0 && static_cast<int>(docs.size()) > f.max_docs) docs.resize(f.max_docs);
  ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> eng, MakeEngine(f.model, c, f.slots, 8));
  ASSIGN_OR_RETURN(PerplexityResult r, ComputePerplexity(*eng, docs, f.opt));
  std::printf(
      "model %s  docs %d  tokens %lld  nll/token %.6f  perplexity %.4f  (%.1f s, %.0f tok/s)\n",
      f.model.c_str(), r.num_docs, static_cast<long long>(r.num_tokens),
      r.total_nll / static_cast<double>(r.num_tokens), r.perplexity(), r.seconds,
      static_cast<double>(r.num_tokens) / r.seconds);
  return WriteJson(c.json_out, {{"model", f.model},
                                {"text", f.text},
                                {"docs", r.num_docs},
                                {"tokens", r.num_tokens},
                                {"total_nll", r.total_nll},
                                {"perplexity", r.perplexity()},
                                {"seconds", r.seconds},
                                {"device", c.device}});
}

Docs MakePrompts(const Docs& docs, const SpecFlags& f, TokenId bos) {
  Docs prompts;
  const size_t n = std::min<size_t>(f.num_prompts, docs.size());
  for (size_t i = 0; i < n; ++i) {
    const auto& d = docs[i * docs.size() / n];  // spread over the file
    std::vector<TokenId> p = {bos};
    p.insert(p.end(), d.begin(), d.begin() + std::min<size_t>(f.prompt_tokens, d.size()));
    prompts.push_back(std::move(p));
  }
  return prompts;
}

// Runs all prompts in waves of f.batch; sums the statistics.
absl::StatusOr<SpeculativeResult> RunWaves(engine::Engine& t, engine::Engine* d,
                                           const Docs& prompts, const SpecFlags& f,
                                           const SpeculativeOptions& o) {
  SpeculativeResult total;
  total.accepted_at.assign(o.k, 0);
  for (size_t b = 0; b < prompts.size(); b += f.batch) {
    Docs wave(prompts.begin() + b, prompts.begin() + std::min(prompts.size(), b + f.batch));
    ASSIGN_OR_RETURN(SpeculativeResult r, RunSpeculative(t, d, wave, o));
    total.sequences += r.sequences;
    total.steps += r.steps;
    total.drafted += r.drafted;
    total.accepted += r.accepted;
    total.generated += r.generated;
    total.prefill_seconds += r.prefill_seconds;
    total.decode_seconds += r.decode_seconds;
    for (int j = 0; j < o.k; ++j) total.accepted_at[j] += r.accepted_at[j];
    for (auto& out : r.outputs) total.outputs.push_back(std::move(out));
  }
  return total;
}

absl::Status RunSpec(const SpecFlags& f, const CommonFlags& c) {
  ASSIGN_OR_RETURN(Docs docs, LoadDocs(f.target, f.prompts));
  ASSIGN_OR_RETURN(auto target, MakeEngine(f.target, c, f.batch, f.k_max));
  ASSIGN_OR_RETURN(auto draft, MakeEngine(f.draft, c, f.batch, f.k_max));
  const Docs prompts = MakePrompts(docs, f, target->config().bos_token_id);
  std::printf("target %s  draft %s  prompts %zu x %d tokens  max_new %d  batch %d  device %s\n",
              f.target.c_str(), f.draft.c_str(), prompts.size(), f.prompt_tokens, f.max_new_tokens,
              f.batch, c.device.c_str());
  std::printf(
      "| temp | k | accepted/step | acceptance | tokens/step | tok/s | speedup | same as k=0 |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  nlohmann::json rows = nlohmann::json::array();
  // Warm-up: every step shape once (lazy allocations, CUDA graph captures), untimed.
  for (int k = 0; k <= f.k_max && f.warmup; ++k) {
    SpeculativeOptions o;
    o.k = k;
    o.max_new_tokens = 4;
    ASSIGN_OR_RETURN(SpeculativeResult ignored, RunWaves(*target, draft.get(), prompts, f, o));
    (void)ignored;
  }
  for (float temp : f.temperatures) {
    SpeculativeResult base;
    for (int k = 0; k <= f.k_max; ++k) {
      SpeculativeOptions o;
      o.k = k;
      o.temperature = temp;
      o.max_new_tokens = f.max_new_tokens;
      o.seed = f.seed;
      ASSIGN_OR_RETURN(SpeculativeResult r, RunWaves(*target, draft.get(), prompts, f, o));
      if (k == 0) base = r;
      int same = 0;
      for (size_t i = 0; i < r.outputs.size(); ++i) same += r.outputs[i] == base.outputs[i];
      const double tps = r.steps ? double(r.generated) / double(r.steps) : 0.0;
      const double speedup = r.tokens_per_second() / base.tokens_per_second();
      // Sampled outputs differ from k = 0 by design (other random draws); compare greedy only.
      const std::string same_str = temp > 0.0f ? "-" : absl::StrCat(same, "/", r.outputs.size());
      std::printf("| %.1f | %d | %.3f | %.3f | %.3f | %.1f | %.2f | %s |\n", temp, k,
                  r.mean_accepted(), r.acceptance_rate(), tps, r.tokens_per_second(), speedup,
                  same_str.c_str());
      std::fflush(stdout);
      rows.push_back({{"temperature", temp},
                      {"k", k},
                      {"mean_accepted", r.mean_accepted()},
                      {"acceptance_rate", r.acceptance_rate()},
                      {"tokens_per_step", tps},
                      {"tokens_per_second", r.tokens_per_second()},
                      {"speedup", speedup},
                      {"accepted_at", r.accepted_at},
                      {"steps", r.steps},
                      {"generated", r.generated},
                      {"same_outputs_as_k0", same}});
    }
  }
  return WriteJson(c.json_out, {{"target", f.target},
                                {"draft", f.draft},
                                {"prompts", prompts.size()},
                                {"prompt_tokens", f.prompt_tokens},
                                {"max_new_tokens", f.max_new_tokens},
                                {"batch", f.batch},
                                {"device", c.device},
                                {"rows", rows}});
}

void AddCommon(CLI::App* app, CommonFlags& c) {
  app->add_option("--device", c.device, "cpu | cuda | auto")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  app->add_option("--threads", c.threads, "CPU threads (0: all cores)")->capture_default_str();
  app->add_option("--json", c.json_out, "also write the results as JSON here");
}

}  // namespace
}  // namespace linspec::tools

int main(int argc, char** argv) {
  using namespace linspec::tools;  // NOLINT
  CLI::App app{"linspec-eval: perplexity and speculative-decoding statistics through the engine"};
  app.require_subcommand(1);
  CommonFlags common;
  PplFlags ppl;
  SpecFlags spec;
  CLI::App* p = app.add_subcommand("perplexity", "perplexity of a model on a text file");
  p->add_option("--model", ppl.model, "model directory")->required();
  p->add_option("--text", ppl.text, "text file (documents separated by a blank line)")->required();
  p->add_option("--max-docs", ppl.max_docs, "first N documents only (0: all)");
  p->add_option("--slots", ppl.slots, "documents in flight")->capture_default_str();
  p->add_option("--chunk", ppl.opt.chunk_tokens, "tokens per document per forward")
      ->capture_default_str();
  AddCommon(p, common);
  CLI::App* s = app.add_subcommand("speculative", "acceptance statistics of a target/draft pair");
  s->add_option("--target", spec.target, "target model directory")->required();
  s->add_option("--draft", spec.draft, "draft model directory")->required();
  s->add_option("--prompts", spec.prompts, "text file; prompts are document openings")->required();
  s->add_option("--num-prompts", spec.num_prompts)->capture_default_str();
  s->add_option("--prompt-tokens", spec.prompt_tokens)->capture_default_str();
  s->add_option("--max-new-tokens", spec.max_new_tokens)->capture_default_str();
  s->add_option("--k-max", spec.k_max, "k = 1..k_max (and k = 0 baseline)")->capture_default_str();
  s->add_option("--batch", spec.batch, "sequences decoded concurrently")->capture_default_str();
  s->add_option("--temperatures", spec.temperatures)->delimiter(',')->capture_default_str();
  s->add_option("--seed", spec.seed)->capture_default_str();
  s->add_option("--warmup", spec.warmup, "run every step shape once before timing")
      ->capture_default_str();
  AddCommon(s, common);
  CLI11_PARSE(app, argc, argv);
  const absl::Status st = p->parsed() ? RunPerplexity(ppl, common) : RunSpec(spec, common);
  if (!st.ok()) {
    std::fprintf(stderr, "linspec-eval: %s\n", std::string(st.ToString()).c_str());
    return 1;
  }
  return 0;
}
