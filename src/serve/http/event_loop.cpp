#include "serve/http/event_loop.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "serve/http/response_writer.h"
#include "serve/http/status.h"

namespace nova::serve::http {

using detail::Clock;
using detail::Connection;

namespace {

constexpr int kTickMs = 50;               // timeout sweep granularity
constexpr int kMaxReadsPerWake = 4;       // fairness: LT epoll brings us back for the rest
constexpr size_t kReadBuffer = 64 * 1024;

std::string_view error_code(int status) {
  switch (status) {
    case 408: return "request_timeout";
    case 413: return "request_too_large";
    case 414: return "uri_too_long";
    case 417: return "expectation_failed";
    case 431: return "headers_too_large";
    case 501: return "not_implemented";
    case 505: return "http_version_not_supported";
    default: return "bad_request";
  }
}

template <class Fn>
void run_guarded(Fn&& fn, const ResponseWriterPtr& w) {
  // Nothing thrown by a handler may reach the loop or a worker thread.
  try {
    fn();
  } catch (const nova::Error& e) {
    if (!w->started()) w->send_error(400, e.what());
    else w->abort();
  } catch (const std::exception& e) {
    if (!w->started()) w->send_error(500, std::string("internal error: ") + e.what(), "internal_error");
    else w->abort();
  } catch (...) {
    if (!w->started()) w->send_error(500, "internal error", "internal_error");
    else w->abort();
  }
}

}  // namespace

EventLoop::EventLoop(ServerConfig config, Router router)
    : config_(std::move(config)), router_(std::move(router)), cors_(config_.cors) {}

EventLoop::~EventLoop() {
  request_stop();
  wait();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

uint16_t EventLoop::start(const std::string& host, uint16_t port) {
  require(!thread_.joinable() && epoll_fd_ < 0, "http server", "already started");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_str = std::to_string(port);
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port_str.c_str(), &hints, &res);
  require(rc == 0, "http server", "cannot resolve '" + host + "': " + gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai && listen_fd_ < 0; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, config_.listen_backlog) == 0) {
      listen_fd_ = fd;
    } else {
      last_error = std::strerror(errno);
      ::close(fd);
    }
  }
  ::freeaddrinfo(res);
  require(listen_fd_ >= 0, "http server", "cannot listen on " + host + ":" + port_str + ": " + last_error);

  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  const uint16_t bound = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);

  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  require(epoll_fd_ >= 0 && efd >= 0, "http server", std::string("epoll/eventfd: ") + std::strerror(errno));
  waker_ = std::make_shared<detail::LoopWaker>(efd);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.fd = efd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, efd, &ev);

  workers_ = std::make_unique<WorkerPool>(config_.worker_threads);
  thread_ = std::thread([this] { run(); });
  return bound;
}

void EventLoop::request_stop() noexcept {
  stop_requested_.store(true);
  if (waker_) waker_->wake();
}

void EventLoop::wait() {
  if (thread_.joinable()) thread_.join();
  // Handlers still queued or running now see closed connections; let them return.
  if (workers_) workers_->shutdown();
}

void EventLoop::run() {
  epoll_event events[256];
  auto last_sweep = Clock::now();
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events, 256, kTickMs);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        accept_all();
      } else if (fd == waker_->fd()) {
        uint64_t count;
        [[maybe_unused]] ssize_t r = ::read(fd, &count, sizeof count);
        for (auto& c : waker_->take())
          if (!c->gone) flush(c);
      } else if (auto it = conns_.find(fd); it != conns_.end()) {
        ConnPtr c = it->second;  // keeps it alive while closing
        on_event(c, events[i].events);
      }
    }
    if (stop_requested_.load() && !draining_) begin_drain();
    const auto now = Clock::now();
    if (now - last_sweep >= std::chrono::milliseconds(kTickMs)) {
      last_sweep = now;
      sweep_timeouts();
    }
    if (accept_paused_ && !draining_ && now >= accept_resume_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = listen_fd_;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
      accept_paused_ = false;
    }
    if (draining_ && (conns_.empty() || now >= drain_deadline_)) break;
  }
  // Past the drain deadline (or a fatal epoll error): cancel and close whatever is left.
  std::vector<ConnPtr> rest;
  for (auto& [fd, c] : conns_) rest.push_back(c);
  for (auto& c : rest) close_conn(c);
  waker_->close();
}

void EventLoop::accept_all() {
  for (int i = 0; i < 256; ++i) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the pending connection would wake a level-triggered loop
        // forever, so stop listening for a moment instead of spinning.
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        accept_paused_ = true;
        accept_resume_ = Clock::now() + std::chrono::milliseconds(100);
      }
      return;
    }
    if (conns_.size() >= config_.max_connections) {
      static constexpr char kBusy[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      [[maybe_unused]] ssize_t w = ::send(fd, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // SSE tokens go out at once
    auto c = std::make_shared<Connection>(fd, waker_, config_.max_output_queue_bytes, config_.limits);
    c->peer = detail::peer_address(peer);
    c->idle_since = c->request_started = Clock::now();
    epoll_event ev{};
    ev.events = c->events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      ::close(fd);
      continue;
    }
    conns_.emplace(fd, std::move(c));
    open_connections.fetch_add(1);
    accepted.fetch_add(1);
  }
}

void EventLoop::on_event(const ConnPtr& c, uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) return close_conn(c);
  if (events & EPOLLOUT) flush(c);
  if (!c->gone && (events & EPOLLIN)) on_readable(c);
  // The peer closed its side: for us that is a disconnect (HTTP clients do not half-close),
  // so a response in progress is cancelled right now rather than at the next failed write.
  if (!c->gone && (events & EPOLLRDHUP)) close_conn(c);
}

void EventLoop::on_readable(const ConnPtr& c) {
  char buf[kReadBuffer];
  for (int i = 0; i < kMaxReadsPerWake; ++i) {
    const ssize_t n = ::recv(c->fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (!c->lingering) c->in.append(buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof buf) break;
    } else if (n == 0) {
      return close_conn(c);
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      return close_conn(c);
    }
  }
  if (!c->lingering) process_input(c);
}

void EventLoop::process_input(const ConnPtr& c) {
  while (!c->gone && !c->in_flight && !c->lingering && !c->in.empty()) {
    const bool was_started = c->parser.started();
    const size_t used = c->parser.feed(c->in);
    c->in.erase(0, used);
    if (!was_started && c->parser.started() && !c->fresh) c->request_started = Clock::now();
    if (c->parser.failed()) {
      const ParseError& e = c->parser.error();
      return reply_and_close(c, e.status, e.message, c->parser.request().version_minor);
    }
    if (c->parser.headers_complete() && !c->headers_seen) {
      c->headers_seen = true;
      c->headers_done = Clock::now();
    }
    if (c->parser.complete()) {
      dispatch(c, c->parser.take());
      continue;  // in_flight now: the loop ends, leftovers wait for the response
    }
    if (c->parser.body_pending() && c->parser.request().expect_continue && !c->sent_continue) {
      // The head passed every limit, so invite the body (RFC 9110 10.1.1).
      c->sent_continue = true;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        c->out.append("HTTP/1.1 100 Continue\r\n\r\n");
      }
      flush(c);
    }
    break;  // need more bytes
  }
}

void EventLoop::dispatch(const ConnPtr& c, HttpRequest req) {
  req.peer = c->peer;
  c->in_flight = true;
  c->fresh = false;
  c->sent_continue = false;
  c->headers_seen = false;
  requests.fetch_add(1);
  uint64_t seq;
  std::function<void()> stale, stale_pull;  // destroyed after unlocking (see mark_closed_locked)
  {
    std::lock_guard<std::mutex> lock(c->mu);
    seq = ++c->seq;
    c->exchange_open = true;
    c->phase = detail::Phase::kIdle;
    c->close_after = false;
    stale = std::move(c->on_cancel);
    c->on_cancel = nullptr;
    stale_pull = std::move(c->pull);
    c->pull = nullptr;
  }
  set_interest(c, false);  // stop reading until this response is out
  ResponseWriter::Context ctx;
  ctx.conn = c;
  ctx.seq = seq;
  ctx.version_minor = req.version_minor;
  ctx.keep_alive = req.keep_alive && !draining_;
  ctx.head = req.method == "HEAD";
  ctx.extra = cors_.response_headers(req);
  auto writer = std::make_shared<ResponseWriter>(std::move(ctx));

  if (cors_.is_preflight(req)) {
    if (auto h = cors_.preflight_headers(req)) writer->send(204, "", "", *h);
    else writer->send_error(403, "origin not allowed", "cors_origin_not_allowed");
    return;
  }
  const Router::Match m = router_.match(req.method, req.path);
  if (m.status == 404) {
    writer->send_error(404, "Invalid URL (" + req.method + " " + req.path + ")");
    return;
  }
  if (m.status == 405) {
    writer->send_error(405, "Method " + req.method + " is not allowed for " + req.path, std::nullopt, std::nullopt,
                       {{"Allow", m.allow}});
    return;
  }
  const Route& route = *m.route;
  if (route.dispatch == Dispatch::kInline) {
    run_guarded([&] { route.handler(req, writer); }, writer);
    return;
  }
  auto task = [handler = route.handler, req = std::move(req), writer]() mutable {
    run_guarded([&] { handler(req, writer); }, writer);
  };
  if (!workers_->submit(std::move(task))) writer->send_error(503, "server is shutting down", "unavailable");
}

void EventLoop::reply_and_close(const ConnPtr& c, int status, const std::string& message, int version_minor) {
  c->in.clear();
  c->in_flight = true;
  requests.fetch_add(1);
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    seq = ++c->seq;
    c->exchange_open = true;
    c->phase = detail::Phase::kIdle;
  }
  set_interest(c, false);
  ResponseWriter::Context ctx;
  ctx.conn = c;
  ctx.seq = seq;
  ctx.version_minor = version_minor;
  ctx.keep_alive = false;
  // Transport-level refusals are the client's doing, 5xx statuses (501, 505) included.
  ResponseWriter(std::move(ctx)).send_json(status, openai_error_json(message, "invalid_request_error", std::nullopt,
                                                                     error_code(status)));
}

void EventLoop::flush(const ConnPtr& c) {
  if (c->gone) return;
  if (c->pull_posted.exchange(false, std::memory_order_acq_rel)) {
    std::function<void()> pull;
    {
      std::lock_guard<std::mutex> lock(c->mu);
      if (!c->closed) pull = c->pull;
    }
    if (pull) pull();  // appends the deferred stream's pending bytes (write_pulled)
  }
  bool dead = false;
  bool done = false;
  bool close_after = false;
  size_t left = 0;
  bool progress = false;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->flush_posted = false;
    dead = c->cut || c->closed;
    while (!dead && c->queued() > 0) {
      const ssize_t n = ::send(c->fd, c->out.data() + c->out_off, c->queued(), MSG_NOSIGNAL);
      if (n > 0) {
        c->out_off += static_cast<size_t>(n);
        progress = true;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        dead = true;  // EPIPE/ECONNRESET: the client is gone
      }
    }
    if (c->out_off == c->out.size()) {
      c->out.clear();
      c->out_off = 0;
    } else if (c->out_off > (64u << 10) && c->out_off * 2 > c->out.size()) {
      c->out.erase(0, c->out_off);
      c->out_off = 0;
    }
    left = c->queued();
    if (progress && c->waiters > 0) c->writable.notify_all();
    if (!dead && left == 0 && c->exchange_open && c->phase == detail::Phase::kDone) {
      done = true;
      close_after = c->close_after;
    }
  }
  if (dead) return close_conn(c);
  if (left > 0) {
    if (!c->blocked || progress) c->blocked_since = Clock::now();
    c->blocked = true;
  } else {
    c->blocked = false;
  }
  set_interest(c, left > 0);
  if (done) complete_exchange(c, close_after);
}

void EventLoop::complete_exchange(const ConnPtr& c, bool close_after) {
  std::function<void()> unused, unused_pull;  // destroyed after unlocking (see mark_closed_locked)
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->exchange_open = false;
    c->phase = detail::Phase::kIdle;
    unused = std::move(c->on_cancel);
    c->on_cancel = nullptr;
    unused_pull = std::move(c->pull);
    c->pull = nullptr;
  }
  c->in_flight = false;
  if (close_after || draining_) return start_linger(c);
  c->idle_since = c->request_started = Clock::now();
  set_interest(c, false);
  process_input(c);  // a pipelined request may already be buffered
}

void EventLoop::start_linger(const ConnPtr& c) {
  // Half-close and read until the client closes too, so a client still sending (say, the body
  // we refused with 413) reads our answer instead of a connection reset.
  c->lingering = true;
  c->linger_since = Clock::now();
  c->in.clear();
  if (::shutdown(c->fd, SHUT_WR) != 0) return close_conn(c);
  set_interest(c, false);
}

void EventLoop::close_conn(const ConnPtr& c) {
  if (c->gone) return;
  c->gone = true;
  std::function<void()> cancel;
  bool fire = false;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    fire = c->mark_closed_locked(cancel);
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  ::close(c->fd);
  conns_.erase(c->fd);
  open_connections.fetch_sub(1);
  if (fire) cancelled.fetch_add(1);
  if (fire && cancel) {
    try {
      cancel();
    } catch (...) {  // a throwing callback must not take the loop down
    }
  }
}

void EventLoop::set_interest(const ConnPtr& c, bool want_out) {
  uint32_t ev = EPOLLRDHUP;
  if (!c->in_flight || c->lingering) ev |= EPOLLIN;
  if (want_out) ev |= EPOLLOUT;
  if (ev == c->events) return;
  epoll_event e{};
  e.events = c->events = ev;
  e.data.fd = c->fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &e);
}

void EventLoop::sweep_timeouts() {
  const auto now = Clock::now();
  std::vector<std::pair<ConnPtr, int>> victims;  // 0: close silently, 408: answer then close
  for (auto& [fd, c] : conns_) {
    if (c->lingering) {
      if (now - c->linger_since > config_.linger_timeout) victims.emplace_back(c, 0);
    } else if (c->in_flight) {
      if (c->blocked && now - c->blocked_since > config_.write_timeout) victims.emplace_back(c, 0);
    } else if (c->parser.headers_complete()) {
      if (now - c->headers_done > config_.body_timeout) victims.emplace_back(c, 408);
    } else if (c->parser.started() || c->fresh) {
      if (now - c->request_started > config_.header_timeout) victims.emplace_back(c, c->parser.started() ? 408 : 0);
    } else if (now - c->idle_since > config_.idle_timeout) {
      victims.emplace_back(c, 0);
    }
  }
  for (auto& [c, status] : victims) {
    if (c->gone) continue;
    if (status == 0) close_conn(c);
    else reply_and_close(c, status, "request not received in time", c->parser.request().version_minor);
  }
}

void EventLoop::begin_drain() {
  draining_ = true;
  waker_->draining.store(true);
  drain_deadline_ = Clock::now() + config_.drain_timeout;
  if (!accept_paused_) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  ::close(listen_fd_);
  listen_fd_ = -1;
  std::vector<ConnPtr> idle;
  for (auto& [fd, c] : conns_)
    if (!c->in_flight && !c->lingering) idle.push_back(c);
  for (auto& c : idle) close_conn(c);
}

}  // namespace nova::serve::http
