// Tokenizer benchmark: encode throughput (MB/s) of our tokenizer.json implementation versus
// the reference Hugging Face JS tokenizers, run side by side on the same text, plus our
// decode throughput. Prints a table and writes bench/results/tokenizer.json.
//
//   linspec-bench-tokenizer [--mb 4] [--out bench/results/tokenizer.json] [--no-js]
//
// The text is deterministic: synthetic English prose over words from the GPT-2 vocabulary
// (Zipf-like), synthetic code, and the multilingual stress corpus, cut into ~2 KB chunks
// (each chunk is one Encode call, as for a prompt). The JS side needs
// `npm ci` in tools/tokenizer_golden and node on PATH; it is skipped with a note otherwise.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace {

using linspec::engine::EncodeOptions;
using linspec::engine::TokenId;
using linspec::engine::Tokenizer;
namespace fs = std::filesystem;

const std::string kSource = LINSPEC_SOURCE_DIR;
const std::string kData = kSource + "/tests/testdata/tokenizers";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Words() {
  const auto j = nlohmann::json::parse(ReadFile(kData + "/gpt2/tokenizer.json"));
  std::vector<std::pair<int, std::string>> words;
  for (const auto& [token, id] : j["model"]["vocab"].items()) {
    if (token.rfind("\xC4\xA0", 0) != 0 || token.size() < 4) continue;
    const std::string w = token.substr(2);
    bool alpha = true;
    for (char c : w) alpha = alpha && c >= 'a' && c <= 'z';
    if (alpha) words.emplace_back(id.get<int>(), w);
  }
  std::sort(words.begin(), words.end());
  std::vector<std::string> out;
  for (auto& [id, w] : words) out.push_back(std::move(w));
  return out;
}

std::vector<std::string> MakeChunks(size_t target_bytes) {
  const std::vector<std::string> words = Words();
  const auto corpus =
      nlohmann::json::parse(ReadFile(kData + "/corpus.json")).get<std::vector<std::string>>();
  std::mt19937 rng(20261122);
  auto uniform = [&] { return static_cast<double>(rng()) / 4294967296.0; };
  auto word = [&] {
    return words[static_cast<size_t>(words.size() * uniform() * uniform() * uniform())];
  };
  std::vector<std::string> chunks;
  size_t total = 0;
  while (total < target_bytes) {
    std::string chunk;
    const uint32_t kind = rng() % 10;
    while (chunk.size() < 2000) {
      if (kind < 7) {  // prose
        std::string s = word();
        s[0] = static_cast<char>(s[0] - 'a' + 'A');
        const int n = 5 + rng() % 15;
        for (int i = 0; i < n; ++i) {
          s += (rng() % 12 == 0 ? ", " : " ") + word();
          if (rng() % 40 == 0) s += " " + std::to_string(rng() % 100000);
        }
        chunk += s + (rng() % 5 == 0 ? ".\n\n" : ". ");
      } else if (kind < 9) {  // code
        const std::string a = word(), b = word();
        chunk += "    for (int " + a + " = 0; " + a + " < " + b + "_count; ++" + a +
                 ") {\n        " + b + "[" + a + "] += compute_" + word() + "(" + a + ", 0x" +
                 std::to_string(rng() % 4096) + ");  // " + word() + " " + word() + "\n    }\n";
      } else {  // multilingual stress corpus
        chunk += corpus[rng() % corpus.size()] + "\n";
      }
    }
    total += chunk.size();
    chunks.push_back(std::move(chunk));
  }
  return chunks;
}

struct Result {
  std::string tokenizer;
  double encode_mb_per_s = 0;
  double decode_mb_per_s = 0;
  size_t tokens = 0;
  uint32_t checksum = 0;
};

Result RunOurs(const std::string& name, const std::vector<std::string>& chunks, size_t bytes) {
  auto tok = linspec::engine::LoadTokenizer(kData + "/" + name);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), tok.status().ToString().c_str());
    std::exit(1);
  }
  EncodeOptions options;
  options.add_special_tokens = false;
  Result r{name};
  std::vector<std::vector<TokenId>> all;
  for (const std::string& c : chunks) {  // warm-up pass, also the checksum
    all.push_back(*(*tok)->Encode(c, options));
    for (TokenId id : all.back()) r.checksum = r.checksum * 1000003u + static_cast<uint32_t>(id);
    r.tokens += all.back().size();
  }
  const int passes = 3;
  auto start = std::chrono::steady_clock::now();
  for (int p = 0; p < passes; ++p) {
    for (const std::string& c : chunks) (void)(*tok)->Encode(c, options);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.encode_mb_per_s = bytes / 1e6 / (seconds / passes);
  start = std::chrono::steady_clock::now();
  for (const auto& ids : all) (void)(*tok)->Decode(ids, false);
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.decode_mb_per_s = bytes / 1e6 / seconds;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double mb = 4;
  std::string out = kSource + "/bench/results/tokenizer.json";
  bool js = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mb" && i + 1 < argc)
      mb = std::atof(argv[++i]);
    else if (a == "--out" && i + 1 < argc)
      out = argv[++i];
    else if (a == "--no-js")
      js = false;
  }
  // Other work on the machine slows both implementations alike; recorded for context.
  const std::string load_average = ReadFile("/proc/loadavg").substr(0, 14);
  const std::vector<std::string> names = {"gpt2", "llama2", "llama3", "qwen3"};
  const auto chunks = MakeChunks(static_cast<size_t>(mb * 1e6));
  size_t bytes = 0;
  for (const auto& c : chunks) bytes += c.size();

  nlohmann::json js_results;
  std::string js_note = "skipped (--no-js)";
  if (js) {
    const fs::path tmp =
        fs::temp_directory_path() / ("linspec_tok_bench_" + std::to_string(getpid()));
    fs::create_directories(tmp);
    std::ofstream(tmp / "chunks.json") << nlohmann::json(chunks).dump();
    std::string cmd = "node " + kSource + "/tools/tokenizer_golden/bench.mjs " +
                      (tmp / "chunks.json").string() + " " + (tmp / "js.json").string() + " " +
                      kData;
    for (const auto& n : names) cmd += " " + n;
    if (std::system(cmd.c_str()) == 0) {
      js_results = nlohmann::json::parse(ReadFile((tmp / "js.json").string()), nullptr, false);
      js_note =
          js_results.value("implementation", "js") + " on node " + js_results.value("node", "?");
    } else {
      js_note = "not run: node or tools/tokenizer_golden/node_modules missing (npm ci)";
    }
    fs::remove_all(tmp);
  }

  nlohmann::json rows = nlohmann::json::array();
  std::printf("\ntext: %.2f MB in %zu chunks; single thread; load average %s; JS: %s\n\n",
              bytes / 1e6, chunks.size(), load_average.c_str(), js_note.c_str());
  std::printf(
      "| tokenizer | tokens | linspec encode MB/s | JS encode MB/s | speedup | ids match JS | "
      "linspec decode MB/s |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const auto& name : names) {
    const Result r = RunOurs(name, chunks, bytes);
    nlohmann::json row = {{"tokenizer", name},
                          {"tokens", r.tokens},
                          {"encode_mb_per_s", r.encode_mb_per_s},
                          {"decode_mb_per_s", r.decode_mb_per_s},
                          {"checksum", r.checksum}};
    std::string js_mbps = "-", speedup = "-", match = "-";
    if (js_results.is_object()) {
      for (const auto& jr : js_results["results"]) {
        if (jr["tokenizer"] != name) continue;
        const double jm = jr["mb_per_s"].get<double>();
        const bool same =
            jr["tokens"].get<size_t>() == r.tokens && jr["checksum"].get<uint32_t>() == r.checksum;
        row["js_encode_mb_per_s"] = jm;
        row["ids_match_js"] = same;
        js_mbps = std::to_string(jm).substr(0, 6);
        speedup = std::to_string(r.encode_mb_per_s / jm).substr(0, 5) + "x";
        match = same ? "yes" : "NO";
      }
    }
    std::printf("| %s | %zu | %.2f | %s | %s | %s | %.1f |\n", name.c_str(), r.tokens,
                r.encode_mb_per_s, js_mbps.c_str(), speedup.c_str(), match.c_str(),
                r.decode_mb_per_s);
    rows.push_back(row);
  }
  const nlohmann::json result = {
      {"benchmark", "tokenizer"},
      {"text_bytes", bytes},
      {"chunks", chunks.size()},
      {"threads", 1},
      {"hardware_threads", std::thread::hardware_concurrency()},
      {"load_average_at_start", load_average},
      {"js", js_note},
      {"command", "build/bench/linspec-bench-tokenizer --mb " + std::to_string(mb).substr(0, 4)},
      {"results", rows}};
  std::ofstream(out) << result.dump(2) << "\n";
  std::printf("\nwrote %s\n", out.c_str());
  return 0;
}
