// Internal to HttpServer: the epoll loop that owns all sockets.
//
// Level-triggered epoll, on purpose: the loop deliberately leaves bytes unread (it reads a
// bounded amount per wake-up, and stops reading a connection while its request is being
// answered so pipelined requests cannot pile up), and level-triggering keeps reporting such
// sockets without us tracking readiness by hand, as edge-triggering would require.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <unordered_map>

#include "serve/http/connection.h"
#include "serve/http/cors.h"
#include "serve/http/router.h"
#include "serve/http/server_config.h"
#include "serve/http/worker_pool.h"

namespace nova::serve::http {

class EventLoop {
 public:
  EventLoop(ServerConfig config, Router router);
  ~EventLoop();

  // Binds, listens and starts the loop thread; returns the bound port.
  uint16_t start(const std::string& host, uint16_t port);
  void request_stop() noexcept;
  void wait();

  std::atomic<uint64_t> open_connections{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> cancelled{0};

 private:
  using ConnPtr = std::shared_ptr<detail::Connection>;

  void run();
  void accept_all();
  void on_event(const ConnPtr& c, uint32_t events);
  void on_readable(const ConnPtr& c);
  void process_input(const ConnPtr& c);
  void dispatch(const ConnPtr& c, HttpRequest req);
  void reply_and_close(const ConnPtr& c, int status, const std::string& message, int version_minor);
  void flush(const ConnPtr& c);
  void complete_exchange(const ConnPtr& c, bool close_after);
  void start_linger(const ConnPtr& c);
  void close_conn(const ConnPtr& c);
  void set_interest(const ConnPtr& c, bool want_out);
  void sweep_timeouts();
  void begin_drain();

  ServerConfig config_;
  Router router_;
  CorsPolicy cors_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  std::shared_ptr<detail::LoopWaker> waker_;
  std::unordered_map<int, ConnPtr> conns_;
  std::unique_ptr<WorkerPool> workers_;
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  bool draining_ = false;
  detail::Clock::time_point drain_deadline_;
  bool accept_paused_ = false;
  detail::Clock::time_point accept_resume_;
};

}  // namespace nova::serve::http
