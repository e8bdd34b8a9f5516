#include "core/thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace nova {

namespace {
thread_local bool t_inside_pool = false;

int default_threads() {
  if (const char* env = std::getenv("NOVA_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

void run_chunk(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int chunks, int i) {
  const int64_t begin = n * i / chunks, end = n * (i + 1) / chunks;
  if (begin < end) fn(begin, end);
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads > 0 ? num_threads : default_threads()) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool;
  return pool;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  t_inside_pool = true;
  for (;;) {
    const std::function<void(int64_t, int64_t)>* job;
    int64_t n;
    int chunks;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_work_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      n = job_n_;
      chunks = job_chunks_;
    }
    if (index < chunks) run_chunk(*job, n, chunks, index);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) cv_done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int chunks = static_cast<int>(std::min<int64_t>(num_threads_, (n + grain - 1) / grain));
  if (chunks <= 1 || t_inside_pool || workers_.empty()) {
    fn(0, n);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (busy_) {  // another thread is already using the pool: don't wait, run here
    lock.unlock();
    fn(0, n);
    return;
  }
  busy_ = true;
  job_ = &fn;
  job_n_ = n;
  job_chunks_ = chunks;
  pending_ = static_cast<int>(workers_.size());
  ++generation_;
  lock.unlock();
  cv_work_.notify_all();

  t_inside_pool = true;
  run_chunk(fn, n, chunks, 0);
  t_inside_pool = false;

  lock.lock();
  cv_done_.wait(lock, [&] { return pending_ == 0; });
  busy_ = false;
  job_ = nullptr;
}

}  // namespace nova
