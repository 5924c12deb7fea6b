// A small fixed thread pool for data-parallel loops of the CPU backend.
//
// ParallelFor(n, fn) runs fn(i) for every i in [0, n) on the workers plus the calling thread
// and returns when all are done. Work items are claimed dynamically, so callers must make
// each item independent of which thread runs it (the CPU backend's results do not depend on
// the thread count). Thread-safety: one ParallelFor at a time per pool (the engine is
// single-threaded); fn must not call ParallelFor on the same pool.
#ifndef LINSPEC_ENGINE_CPU_THREAD_POOL_H_
#define LINSPEC_ENGINE_CPU_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace linspec::engine::cpu {

class ThreadPool {
 public:
  // num_threads counts the caller: 1 means no worker threads.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }
  void ParallelFor(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  void WorkerLoop();
  void RunItems();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  int64_t generation_ = 0;
  int active_ = 0;
  bool stop_ = false;
};

}  // namespace linspec::engine::cpu

#endif  // LINSPEC_ENGINE_CPU_THREAD_POOL_H_
