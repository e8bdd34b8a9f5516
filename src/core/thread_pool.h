// A fixed pool of worker threads for data-parallel loops. The calling thread takes part,
// so a pool of N threads runs N-1 workers. Nested parallel_for calls run serially.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nova {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads = 0);  // 0: hardware concurrency (or $NOVA_THREADS)
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Calls fn(begin, end) over disjoint chunks covering [0, n); blocks until all are done.
  // `grain` is the smallest chunk worth handing to another thread.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain = 1);

  // The process-wide pool.
  static ThreadPool& global();

 private:
  void worker_loop(int index);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  bool busy_ = false;
};

}  // namespace nova
