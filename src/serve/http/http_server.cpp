#include "serve/http/http_server.h"

#include <csignal>

#include "serve/http/event_loop.h"

namespace nova::serve::http {

HttpServer::HttpServer(ServerConfig config, Router router)
    : loop_(std::make_unique<EventLoop>(std::move(config), std::move(router))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start(const std::string& host, uint16_t port) { port_ = loop_->start(host, port); }

void HttpServer::request_stop() noexcept { loop_->request_stop(); }

void HttpServer::wait() { loop_->wait(); }

HttpServer::Stats HttpServer::stats() const {
  Stats s;
  s.open_connections = loop_->open_connections.load();
  s.accepted = loop_->accepted.load();
  s.requests = loop_->requests.load();
  s.cancelled = loop_->cancelled.load();
  return s;
}

namespace {
std::atomic<HttpServer*> g_signal_server{nullptr};

extern "C" void on_drain_signal(int) {
  if (HttpServer* s = g_signal_server.load()) s->request_stop();  // async-signal-safe
}
}  // namespace

void install_drain_signals(HttpServer& server) {
  g_signal_server.store(&server);
  struct sigaction sa {};
  sa.sa_handler = on_drain_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
}

void uninstall_drain_signals() {
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_DFL);
  g_signal_server.store(nullptr);
}

}  // namespace nova::serve::http
