// Replays the committed seed corpus (tests/testdata/tokenizers/fuzz/) through the tokenizer
// fuzz entry points, plus deterministic mutations of each seed, so every compiler (and the
// ASan/UBSan CI build) exercises them without libFuzzer.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/tokenizer_fuzz_targets.h"

namespace linspec::fuzz {
namespace {

std::vector<std::string> Seeds(const std::string& subdir) {
  std::vector<std::string> out;
  const std::filesystem::path dir = std::filesystem::path(LINSPEC_TESTDATA_DIR) / "fuzz" / subdir;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    out.push_back(s.str());
  }
  return out;
}

std::string Mutate(std::string s, std::mt19937& rng) {
  const int edits = 1 + rng() % 4;
  for (int e = 0; e < edits; ++e) {
    const size_t pos = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 3) {
      case 0:
        if (!s.empty()) s[pos] = static_cast<char>(rng());
        break;
      case 1:
        s.insert(pos, 1, static_cast<char>(rng()));
        break;
      default:
        if (!s.empty()) s.erase(pos, 1 + rng() % 8);
        break;
    }
  }
  return s;
}

void Replay(const std::string& subdir, int (*target)(const uint8_t*, size_t), int mutations) {
  const auto seeds = Seeds(subdir);
  ASSERT_FALSE(seeds.empty());
  std::mt19937 rng(12345);  // fixed: the replay is a regression test, not a search
  for (const std::string& seed : seeds) {
    target(reinterpret_cast<const uint8_t*>(seed.data()), seed.size());
    for (int i = 0; i < mutations; ++i) {
      const std::string m = Mutate(seed, rng);
      target(reinterpret_cast<const uint8_t*>(m.data()), m.size());
    }
  }
}

TEST(TokenizerFuzzReplayTest, EncodeDecodeSeeds) {
  Replay("encode", FuzzTokenizerEncodeDecode, 20);
}

TEST(TokenizerFuzzReplayTest, JsonLoaderSeeds) { Replay("json", FuzzTokenizerJsonLoader, 30); }

}  // namespace
}  // namespace linspec::fuzz
