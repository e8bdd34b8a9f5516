// The HTTP/1.1 server: one epoll event-loop thread owns every socket; route handlers run on a
// small worker pool (or inline on the loop when cheap) and answer through ResponseWriter from
// any thread. Thousands of idle or streaming connections cost a little memory each, no thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "serve/http/response_writer.h"
#include "serve/http/router.h"
#include "serve/http/server_config.h"

namespace nova::serve::http {

class EventLoop;

class HttpServer {
 public:
  HttpServer(ServerConfig config, Router router);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; port 0 picks an ephemeral port (see port()). Throws nova::Error.
  void start(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }

  // Begins the graceful drain: stop accepting, close idle connections, let in-flight responses
  // finish until config.drain_timeout, then cancel and close the rest. Async-signal-safe.
  void request_stop() noexcept;
  // Blocks until the drain is over and every thread has exited.
  void wait();
  void stop() {
    request_stop();
    wait();
  }

  struct Stats {
    uint64_t open_connections = 0;
    uint64_t accepted = 0;
    uint64_t requests = 0;   // dispatched to a handler or answered with an error
    uint64_t cancelled = 0;  // responses cut short by a disconnect
  };
  Stats stats() const;

 private:
  std::unique_ptr<EventLoop> loop_;
  uint16_t port_ = 0;
};

// SIGTERM/SIGINT -> server.request_stop() (one server per process). uninstall restores SIG_DFL.
void install_drain_signals(HttpServer& server);
void uninstall_drain_signals();

}  // namespace nova::serve::http
