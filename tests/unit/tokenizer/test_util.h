// Helpers shared by the tokenizer tests: test-data paths, golden files, seeds.
#ifndef LINSPEC_TESTS_UNIT_TOKENIZER_TEST_UTIL_H_
#define LINSPEC_TESTS_UNIT_TOKENIZER_TEST_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/types.h"
#include "nlohmann/json.hpp"

namespace linspec::engine::testing {

inline std::string TestDataDir() { return std::string(LINSPEC_TESTDATA_DIR); }

inline std::string ReadTestFile(const std::string& relative) {
  std::ifstream in(TestDataDir() + "/" + relative, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct GoldenCase {
  std::string text;
  std::vector<TokenId> ids;
  std::vector<TokenId> ids_no_special;
  std::string decoded;
};

inline std::vector<GoldenCase> LoadGolden(const std::string& name) {
  const auto j = nlohmann::json::parse(ReadTestFile(name + ".golden.json"));
  std::vector<GoldenCase> cases;
  for (const auto& c : j.at("cases")) {
    cases.push_back({c.at("text").get<std::string>(), c.at("ids").get<std::vector<TokenId>>(),
                     c.at("ids_no_special").get<std::vector<TokenId>>(),
                     c.at("decoded").get<std::string>()});
  }
  return cases;
}

inline std::vector<std::string> LoadCorpus() {
  return nlohmann::json::parse(ReadTestFile("corpus.json")).get<std::vector<std::string>>();
}

// Seed for randomized tests: LINSPEC_SEED overrides; always printed for reproduction.
inline uint64_t TestSeed(const char* test_name) {
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("LINSPEC_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::printf("%s: seed %llu (set LINSPEC_SEED to reproduce)\n", test_name,
              static_cast<unsigned long long>(seed));
  return seed;
}

}  // namespace linspec::engine::testing

#endif  // LINSPEC_TESTS_UNIT_TOKENIZER_TEST_UTIL_H_
