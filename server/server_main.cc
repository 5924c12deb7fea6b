#include "server/server_main.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "scheduler/scheduler.h"
#include "server/request_log.h"
#include "server/server.h"
#include "server/slot_budget.h"

namespace linspec::server {
namespace {

namespace fs = std::filesystem;

struct Flags {
  std::string model, draft_model, drafter = "auto", device = "auto", model_name;
  int num_draft_tokens = 4, num_slots = 8, max_queue = 256, threads = 0;
  int64_t memory_budget_mb = 0;
  std::string host = "127.0.0.1";
  int grpc_port = 50051, http_port = 8000, http_threads = 2;
  int max_prompt_tokens = 4096, max_tokens_limit = 4096, max_n = 8;
  int default_chat_max_tokens = 256, prefill_token_budget = 512;
  size_t max_body_bytes = 1 << 20;
  std::string api_key, api_key_file, auth_exempt = "/health,/metrics";
  std::string log_level = "info";
  bool log_json = false;
  bool host_sampling = false;
  double drain_timeout = 30, sse_keepalive = 10;
  uint64_t seed = 0;
};

void AddModelFlags(CLI::App& app, Flags& f) {
  app.add_option("--model", f.model,
                 "model directory (default: models/default of the repo or "
                 "the installed share dir)");
  app.add_option("--draft-model", f.draft_model,
                 "draft model directory (same tokenizer; default with the bundled model: its "
                 "sibling draft/)");
  app.add_option("--drafter", f.drafter,
                 "auto | draft_model | ngram | none (auto: draft_model "
                 "when --draft-model is given, else none)")
      ->check(CLI::IsMember({"auto", "draft_model", "ngram", "none"}))
      ->capture_default_str();
  app.add_option("--num-draft-tokens,-k", f.num_draft_tokens,
                 "speculative tokens per step "
                 "(upper bound, adaptive)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app.add_flag("--host-sampling", f.host_sampling,
               "sample and accept on the host from copied logits even when the engine can do "
               "it on its device (comparison runs)");
  app.add_option("--device", f.device, "auto | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--num-slots", f.num_slots, "recurrent-state slots (concurrent sequences)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--memory-budget-mb", f.memory_budget_mb,
                 "state memory budget in MiB; "
                 "overrides --num-slots when > 0")
      ->capture_default_str();
  app.add_option("--max-queue", f.max_queue, "waiting requests; more get 429")
      ->capture_default_str();
  app.add_option("--threads", f.threads, "CPU engine threads (0: all cores)")
      ->capture_default_str();
  app.add_option("--prefill-token-budget", f.prefill_token_budget, "prompt tokens per step")
      ->capture_default_str();
}

void AddNetworkFlags(CLI::App& app, Flags& f) {
  app.add_option("--host", f.host, "listen address")->capture_default_str();
  app.add_option("--grpc-port", f.grpc_port, "gRPC port (0: ephemeral)")->capture_default_str();
  app.add_option("--http-port", f.http_port, "HTTP port (0: ephemeral)")->capture_default_str();
  app.add_option("--http-threads", f.http_threads, "HTTP I/O threads")->capture_default_str();
  app.add_option("--max-prompt-tokens", f.max_prompt_tokens, "longer prompts get 400")
      ->capture_default_str();
  app.add_option("--max-tokens-limit", f.max_tokens_limit, "largest max_tokens accepted")
      ->capture_default_str();
  app.add_option("--max-n", f.max_n, "largest n (choices per prompt)")->capture_default_str();
  app.add_option("--default-chat-max-tokens", f.default_chat_max_tokens,
                 "max_tokens of chat requests that set none")
      ->capture_default_str();
  app.add_option("--max-body-bytes", f.max_body_bytes, "HTTP body limit; larger gets 413")
      ->capture_default_str();
}

void AddAuthAndLogFlags(CLI::App& app, Flags& f) {
  app.add_option("--api-key", f.api_key,
                 "require 'Authorization: Bearer <key>' (HTTP) / "
                 "metadata authorization (gRPC)");
  app.add_option("--api-key-file", f.api_key_file, "read the API key from the first line");
  app.add_option("--auth-exempt", f.auth_exempt, "comma-separated HTTP paths without auth")
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace | debug | info | warn | error | off")
      ->capture_default_str();
  app.add_flag("--log-json", f.log_json, "one JSON object per log line");
  app.add_option("--model-name", f.model_name, "served model name (default: model dir name)");
  app.add_option("--drain-timeout", f.drain_timeout, "seconds running requests get on shutdown")
      ->capture_default_str();
  app.add_option("--sse-keepalive-seconds", f.sse_keepalive, "SSE keep-alive comment interval")
      ->capture_default_str();
  app.add_option("--seed", f.seed, "seed for requests that set none")->capture_default_str();
}

std::string ExeDir() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.parent_path().string();
}

// --model, else the first models/default that exists; empty (with a message) when none.
std::string ResolveModelDir(const std::string& flag) {
  if (!flag.empty()) {
    std::error_code ec;
    if (fs::exists(fs::path(flag) / "config.json", ec)) return flag;
    std::fprintf(stderr, "linspec-server: --model %s has no config.json (not a model directory)\n",
                 flag.c_str());
    return "";
  }
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("LINSPEC_MODEL_DIR")) candidates.push_back(env);
  candidates.push_back(std::string(LINSPEC_REPO_DIR) + "/models/default");
  if (std::string exe = ExeDir(); !exe.empty()) {
    candidates.push_back(exe + "/../share/linspec/models/default");
  }
  candidates.push_back(std::string(LINSPEC_INSTALL_DATADIR) + "/models/default");
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::exists(fs::path(c) / "config.json", ec)) return c;
  }
  std::fprintf(stderr, "linspec-server: no model found. Looked for config.json in:\n");
  for (const auto& c : candidates) std::fprintf(stderr, "  %s\n", c.c_str());
  std::fprintf(stderr,
               "Build the bundled reference model (see models/README.md), write a random one "
               "with `linspec-make-model --out DIR`, or pass --model DIR.\n");
  return "";
}

// The bundled pair: serving the default model without --model and --draft-model (and with
// --drafter auto) speculates with the sibling draft/ model when it is there.
void MaybeUseBundledDraft(const std::string& model_dir, Flags* f) {
  if (!f->model.empty() || !f->draft_model.empty() || f->drafter != "auto") return;
  const fs::path draft = fs::path(model_dir).parent_path() / "draft";
  std::error_code ec;
  if (fs::exists(draft / "config.json", ec)) f->draft_model = draft.string();
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

engine::Device ParseDevice(const std::string& d) {
  if (d == "cpu") return engine::Device::kCpu;
  if (d == "cuda") return engine::Device::kCuda;
  return engine::Device::kAuto;
}

scheduler::DrafterKind ParseDrafter(const Flags& f) {
  std::string d = f.drafter;
  if (d == "auto") d = f.draft_model.empty() ? "none" : "draft_model";
  if (d == "draft_model") return scheduler::DrafterKind::kDraftModel;
  if (d == "ngram") return scheduler::DrafterKind::kNgram;
  return scheduler::DrafterKind::kNone;
}

std::string DirName(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::path(dir), ec);
  if (ec) p = fs::path(dir);
  std::string name = p.filename().string();
  if (name.empty()) name = p.parent_path().filename().string();
  return name.empty() ? "linspec" : name;
}

// The loaded model stack; members are destroyed in reverse order (scheduler first).
struct Backend {
  std::unique_ptr<engine::Tokenizer> tokenizer;
  std::unique_ptr<engine::Engine> target;
  std::unique_ptr<engine::Engine> draft;
  std::unique_ptr<GatedObserver> observer;  // closed during warm-up; outlives the scheduler
  std::unique_ptr<scheduler::Scheduler> scheduler;
};

// A sequence holds a slot in the target and, with a draft model, one in the draft.
absl::StatusOr<int> SlotsFromBudget(const Flags& f, const std::string& model_dir,
                                    scheduler::DrafterKind drafter) {
  auto config = engine::LoadModelConfig(model_dir);
  if (!config.ok()) return config.status();
  int64_t per_sequence = EstimateSlotBytes(*config, f.num_draft_tokens);
  if (drafter == scheduler::DrafterKind::kDraftModel) {
    auto draft_config = engine::LoadModelConfig(f.draft_model);
    if (!draft_config.ok()) return draft_config.status();
    per_sequence += EstimateSlotBytes(*draft_config, f.num_draft_tokens);
  }
  return SlotsForBudget(f.memory_budget_mb << 20, per_sequence);
}

absl::Status LoadBackend(const Flags& f, const std::string& model_dir, ServerMetrics* metrics,
                         Backend* b) {
  b->observer = std::make_unique<GatedObserver>(metrics);
  auto tok = engine::LoadTokenizer(model_dir);
  if (!tok.ok()) return tok.status();
  b->tokenizer = std::move(*tok);
  const scheduler::DrafterKind drafter = ParseDrafter(f);
  if (drafter == scheduler::DrafterKind::kDraftModel && f.draft_model.empty()) {
    return absl::InvalidArgumentError("--drafter draft_model needs --draft-model DIR");
  }
  engine::EngineOptions eo;
  eo.model_dir = model_dir;
  eo.device = ParseDevice(f.device);
  eo.num_slots = f.num_slots;
  eo.max_draft_tokens = f.num_draft_tokens;
  eo.num_threads = f.threads;
  if (f.memory_budget_mb > 0) {
    auto slots = SlotsFromBudget(f, model_dir, drafter);
    if (!slots.ok()) return slots.status();
    eo.num_slots = *slots;
  }
  auto target = engine::CreateEngine(eo);
  if (!target.ok()) return target.status();
  b->target = std::move(*target);
  if (drafter == scheduler::DrafterKind::kDraftModel) {
    eo.model_dir = f.draft_model;
    auto draft = engine::CreateEngine(eo);
    if (!draft.ok()) return draft.status();
    b->draft = std::move(*draft);
  }
  scheduler::SchedulerOptions so;
  so.max_queue = f.max_queue;
  so.max_prompt_tokens = f.max_prompt_tokens;
  so.max_tokens_limit = f.max_tokens_limit;
  so.prefill_token_budget = f.prefill_token_budget;
  so.drafter = drafter;
  so.num_draft_tokens = f.num_draft_tokens;
  so.seed = f.seed;
  so.device_sampling = !f.host_sampling;
  auto sched = scheduler::Scheduler::Create(so, b->target.get(), b->draft.get(), b->tokenizer.get(),
                                            b->observer.get());
  if (!sched.ok()) return sched.status();
  b->scheduler = std::move(*sched);
  return absl::OkStatus();
}

// Runs one tiny greedy request so the first client does not pay for lazy initialisation.
class WarmupSink : public scheduler::RequestSink {
 public:
  void OnDelta(const scheduler::TokenDelta&) override {}
  void OnFinish(const scheduler::FinalResult& r) override { done.set_value(r); }
  std::promise<scheduler::FinalResult> done;
};

absl::Status Warmup(Backend& b) {
  scheduler::GenerateRequest req;
  req.request_id = "warmup";
  auto ids = b.tokenizer->Encode("Hello", engine::EncodeOptions());
  if (!ids.ok() || ids->empty()) {
    req.prompt = {0};
  } else {
    req.prompt = *ids;
  }
  req.sampling.temperature = 0;
  req.sampling.max_tokens = 2;
  auto sink = std::make_shared<WarmupSink>();
  auto fut = sink->done.get_future();
  req.sink = sink;
  auto id = b.scheduler->Submit(std::move(req));
  if (!id.ok()) return id.status();
  if (fut.wait_for(std::chrono::minutes(5)) != std::future_status::ready) {
    return absl::DeadlineExceededError("warm-up request did not finish within 5 minutes");
  }
  const scheduler::FinalResult r = fut.get();
  if (r.finish_reason == scheduler::FinishReason::kError) return r.status;
  return absl::OkStatus();
}

absl::StatusOr<ServerOptions> BuildServerOptions(const Flags& f, const std::string& model_dir) {
  ServerOptions o;
  o.serving.model_name = f.model_name.empty() ? DirName(model_dir) : f.model_name;
  o.serving.max_prompt_tokens = f.max_prompt_tokens;
  o.serving.limits.max_n = f.max_n;
  o.serving.limits.max_tokens_limit = f.max_tokens_limit;
  o.serving.limits.default_chat_max_tokens = f.default_chat_max_tokens;
  o.serving.api_key = f.api_key;
  if (!f.api_key_file.empty()) {
    std::string error;
    o.serving.api_key = ReadApiKeyFile(f.api_key_file, &error);
    if (!error.empty()) return absl::InvalidArgumentError(error);
  }
  o.serving.auth_exempt_paths.clear();
  for (absl::string_view p : absl::StrSplit(f.auth_exempt, ',', absl::SkipWhitespace())) {
    o.serving.auth_exempt_paths.emplace_back(p);
  }
  o.http.host = f.host;
  o.http.port = f.http_port;
  o.http.num_threads = f.http_threads;
  o.http.session.max_body_bytes = f.max_body_bytes;
  o.http.session.sse_keepalive_seconds = f.sse_keepalive;
  o.grpc.host = f.host;
  o.grpc.port = f.grpc_port;
  o.drain_timeout_seconds = f.drain_timeout;
  return o;
}

ModelInfo MakeModelInfo(const Flags& f, const Backend& b) {
  ModelInfo info;
  const auto& c = b.target->config();
  info.model_type = c.model_type;
  info.vocab_size = c.vocab_size;
  info.num_state_slots = b.target->num_slots();
  info.state_slot_bytes = b.target->slot_size_bytes();
  info.device = engine::DeviceName(b.target->device());
  info.drafter = scheduler::DrafterKindName(ParseDrafter(f));
  info.draft_model_name = b.draft ? DirName(f.draft_model) : "";
  info.max_draft_tokens = ParseDrafter(f) == scheduler::DrafterKind::kNone ? 0 : f.num_draft_tokens;
  return info;
}

int WaitForSignal(const sigset_t& set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

int Serve(const Flags& f, const std::string& model_dir, const sigset_t& signals) {
  auto options = BuildServerOptions(f, model_dir);
  if (!options.ok()) {
    std::fprintf(stderr, "linspec-server: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  auto server = Server::Start(*options);
  if (!server.ok()) {
    std::fprintf(stderr, "linspec-server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  Server& s = **server;
  std::printf("linspec: listening grpc=%s:%d http=%s:%d\n", f.host.c_str(), s.grpc_port(),
              f.host.c_str(), s.http_port());
  std::fflush(stdout);
  Backend backend;
  absl::Status st = LoadBackend(f, model_dir, &s.ctx().metrics(), &backend);
  if (st.ok()) {
    s.ctx().Attach(
        backend.scheduler.get(), backend.tokenizer.get(), MakeModelInfo(f, backend),
        ChatTemplate::FromTokenizerConfig(ReadFileOrEmpty(model_dir + "/tokenizer_config.json")),
        [sched = backend.scheduler.get()] { return sched->Stats().healthy; });
    st = Warmup(backend);
    backend.observer->set_open(true);
  }
  if (!st.ok()) {
    s.ctx().SetState(ServingState::kFailed);
    LogText(LogLevel::kError, absl::StrCat("loading ", model_dir, " failed: ", st.ToString()));
    s.Shutdown();
    return 1;
  }
  s.SetReady();
  const ModelInfo& info = s.ctx().info();
  LogText(LogLevel::kInfo,
          absl::StrCat("serving model ", s.ctx().options().model_name, " from ", model_dir, " on ",
                       info.device, ": ", info.num_state_slots, " state slots of ",
                       info.state_slot_bytes, " bytes, drafter ", info.drafter,
                       info.draft_model_name.empty() ? "" : " (" + f.draft_model + ")",
                       info.max_draft_tokens > 0 ? absl::StrCat(", k <= ", info.max_draft_tokens)
                                                 : std::string()));
  std::printf("linspec: ready model=%s\n", s.ctx().options().model_name.c_str());
  std::printf(
      "try: curl -s http://%s:%d/v1/completions -H 'Content-Type: application/json' "
      "-d '{\"prompt\": \"Hello\", \"max_tokens\": 16}'\n",
      f.host.c_str(), s.http_port());
  std::fflush(stdout);
  const int sig = WaitForSignal(signals);
  LogText(LogLevel::kInfo, absl::StrCat("received ", strsignal(sig), "; draining"));
  s.Shutdown();
  backend.scheduler.reset();
  LogText(LogLevel::kInfo, "shutdown complete");
  return 0;
}

}  // namespace

int ServerMain(int argc, char** argv) {
  // Block the shutdown signals before any thread starts so that only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  CLI::App app{
      "linspec-server: serves a linear-attention model over gRPC and OpenAI-compatible "
      "HTTP with speculative decoding."};
  Flags flags;
  AddModelFlags(app, flags);
  AddNetworkFlags(app, flags);
  AddAuthAndLogFlags(app, flags);
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = InitLogging(flags.log_level, flags.log_json); !s.ok()) {
    std::fprintf(stderr, "linspec-server: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  SetJsonLogs(flags.log_json);
  const std::string model_dir = ResolveModelDir(flags.model);
  if (model_dir.empty()) return 2;
  MaybeUseBundledDraft(model_dir, &flags);
  return Serve(flags, model_dir, signals);
}

}  // namespace linspec::server
