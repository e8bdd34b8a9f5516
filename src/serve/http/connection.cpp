#include "serve/http/connection.h"

#include <unistd.h>

namespace nova::serve::http::detail {

LoopWaker::~LoopWaker() { ::close(fd_); }

void LoopWaker::post(std::shared_ptr<Connection> conn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    pending_.push_back(std::move(conn));
  }
  wake();
}

void LoopWaker::wake() noexcept {
  const uint64_t one = 1;
  // A full counter (EAGAIN) still means "wake up", so the result does not matter.
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
}

std::vector<std::shared_ptr<Connection>> LoopWaker::take() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Connection>> out;
  out.swap(pending_);
  return out;
}

void LoopWaker::close() {
  std::vector<std::shared_ptr<Connection>> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  dropped.swap(pending_);
}

std::function<void()> Connection::mark_closed_locked() {
  std::function<void()> cb;
  if (!closed) {
    closed = true;
    if (exchange_open && phase != Phase::kDone) cb = std::move(on_cancel);
  }
  on_cancel = nullptr;  // also breaks a writer <-> connection reference cycle
  out.clear();
  out_off = 0;
  writable.notify_all();
  return cb;
}

}  // namespace nova::serve::http::detail
