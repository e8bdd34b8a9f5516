#include "serve/http/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

namespace nova::serve::http::detail {

std::string peer_address(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    if (!::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host)) return {};
    return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    if (!::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host)) return {};
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a.sin6_port));
  }
  return {};
}

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

bool Connection::mark_closed_locked(std::function<void()>& cb) {
  const bool fire = !closed && exchange_open && phase != Phase::kDone;
  closed = true;
  cb = std::move(on_cancel);  // also breaks a writer -> callback -> writer reference cycle
  on_cancel = nullptr;
  pull = nullptr;
  out.clear();
  out_off = 0;
  writable.notify_all();
  return fire;
}

}  // namespace nova::serve::http::detail
