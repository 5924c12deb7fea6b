// Shared helpers of the engine unit tests: seeds and temporary model directories.
#ifndef LINSPEC_TESTS_UNIT_ENGINE_TEST_UTIL_H_
#define LINSPEC_TESTS_UNIT_ENGINE_TEST_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace linspec::engine::testing {

// LINSPEC_SEED overrides; the seed is printed so a failure can be replayed.
inline uint64_t TestSeed(const char* what) {
  uint64_t seed;
  if (const char* env = std::getenv("LINSPEC_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = std::random_device{}();
  }
  std::printf("[seed] %s: LINSPEC_SEED=%llu\n", what, static_cast<unsigned long long>(seed));
  return seed;
}

// A fresh directory under the test temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("linspec_engine_" + std::to_string(::getpid()) + "_" +
             (info ? std::string(info->name()) : "x") + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace linspec::engine::testing

#endif  // LINSPEC_TESTS_UNIT_ENGINE_TEST_UTIL_H_
