// linspec: command-line client for linspec-server's gRPC API.
//   linspec generate "Once upon a time" --max-tokens 32
//   linspec stream "Once upon a time" --temperature 0.8 --seed 1
//   linspec tokenize "hello world"
//   linspec info
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/linspec_client.h"

namespace {

using linspec::client::Client;
using linspec::client::ClientOptions;

struct GenFlags {
  std::string prompt;
  int max_tokens = 64;
  float temperature = 1.0f;
  float top_p = 1.0f;
  int top_k = 0;
  long long seed = -1;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool no_bos = false;
};

void AddGenFlags(CLI::App* cmd, GenFlags& g) {
  cmd->add_option("prompt", g.prompt, "prompt text")->required();
  cmd->add_option("--max-tokens,-n", g.max_tokens, "tokens to generate")->capture_default_str();
  cmd->add_option("--temperature,-t", g.temperature, "0: greedy")->capture_default_str();
  cmd->add_option("--top-p", g.top_p)->capture_default_str();
  cmd->add_option("--top-k", g.top_k, "0: disabled")->capture_default_str();
  cmd->add_option("--seed", g.seed, "reproducible sampling (-1: server's choice)");
  cmd->add_option("--stop", g.stop, "stop string (repeatable)");
  cmd->add_flag("--ignore-eos", g.ignore_eos, "keep generating after EOS");
  cmd->add_flag("--no-bos", g.no_bos, "do not add the tokenizer's special tokens");
}

linspec::v1::GenerateRequest MakeRequest(const GenFlags& g) {
  linspec::v1::GenerateRequest r;
  r.set_text(g.prompt);
  r.set_add_special_tokens(!g.no_bos);
  auto* s = r.mutable_sampling();
  s->set_max_tokens(g.max_tokens);
  s->set_temperature(g.temperature);
  s->set_top_p(g.top_p);
  s->set_top_k(g.top_k);
  if (g.seed >= 0) s->set_seed(static_cast<uint64_t>(g.seed));
  for (const auto& st : g.stop) s->add_stop(st);
  s->set_ignore_eos(g.ignore_eos);
  return r;
}

const char* FinishName(linspec::v1::FinishReason r) {
  return linspec::v1::FinishReason_Name(r).c_str();
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "linspec: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linspec: client for linspec-server (gRPC)"};
  ClientOptions opts;
  if (const char* key = std::getenv("LINSPEC_API_KEY")) opts.api_key = key;
  app.add_option("--target", opts.target, "server host:port")->capture_default_str();
  app.add_option("--api-key", opts.api_key, "API key (default: $LINSPEC_API_KEY)");
  app.add_option("--timeout", opts.timeout_seconds, "per-call deadline in seconds (0: none)");
  app.require_subcommand(1);
  GenFlags gen, stream;
  auto* gen_cmd = app.add_subcommand("generate", "generate a completion (unary)");
  AddGenFlags(gen_cmd, gen);
  auto* stream_cmd = app.add_subcommand("stream", "generate and print tokens as they arrive");
  AddGenFlags(stream_cmd, stream);
  std::string tok_text;
  bool tok_special = true;
  auto* tok_cmd = app.add_subcommand("tokenize", "print token ids and strings");
  tok_cmd->add_option("text", tok_text)->required();
  tok_cmd->add_option("--add-special-tokens", tok_special)->capture_default_str();
  auto* info_cmd = app.add_subcommand("info", "print model information");
  CLI11_PARSE(app, argc, argv);

  auto client = Client::Create(opts);
  if (!client.ok()) return Fail(client.status());
  Client& c = **client;
  if (*gen_cmd) {
    auto r = c.Generate(MakeRequest(gen));
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n", r->text().c_str());
    std::fprintf(stderr, "[%s] prompt_tokens=%d completion_tokens=%d ttft=%.1fms e2e=%.1fms\n",
                 FinishName(r->finish_reason()), r->usage().prompt_tokens(),
                 r->usage().completion_tokens(), r->time_to_first_token_seconds() * 1e3,
                 r->e2e_seconds() * 1e3);
  } else if (*stream_cmd) {
    linspec::v1::GenerateStreamResponse last;
    absl::Status s = c.GenerateStream(MakeRequest(stream), [&](const auto& m) {
      std::fputs(m.text().c_str(), stdout);
      std::fflush(stdout);
      last = m;
      return true;
    });
    std::printf("\n");
    if (!s.ok()) return Fail(s);
    std::fprintf(stderr, "[%s] completion_tokens=%d draft=%d accepted=%d\n",
                 FinishName(last.finish_reason()), last.usage().completion_tokens(),
                 last.usage().draft_tokens(), last.usage().accepted_tokens());
  } else if (*tok_cmd) {
    auto r = c.Tokenize(tok_text, tok_special);
    if (!r.ok()) return Fail(r.status());
    for (int i = 0; i < r->token_ids_size(); ++i) {
      std::printf("%d\t%s\n", r->token_ids(i), r->tokens(i).c_str());
    }
  } else if (*info_cmd) {
    auto r = c.GetModelInfo();
    if (!r.ok()) return Fail(r.status());
    std::printf("%s", r->DebugString().c_str());
  }
  return 0;
}
