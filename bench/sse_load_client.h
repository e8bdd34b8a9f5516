// A load generator's HTTP/1.1 client: one thread, non-blocking sockets on epoll, `concurrency`
// keep-alive connections that each send the next request body as soon as their previous
// response has ended (a closed loop), and record every Server-Sent Event with the time its bytes
// arrived. One thread so that, on a small machine, the client takes as little CPU from the
// server as possible; events are stored raw and parsed only after the run.
#pragma once

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"

namespace nova::bench {

struct SseEvent {
  double t = 0;      // now_seconds() when the bytes completing it were read
  std::string data;  // the "data:" lines, joined by '\n'
};

struct SseResponse {
  int status = 0;      // HTTP status; 0 when no response head arrived
  std::string error;   // transport failure, or the body of a non-200 answer
  double t_sent = 0;   // when the request's first byte was written
  double t_done = 0;   // when the response ended
  std::vector<SseEvent> events;
  bool ok() const { return status == 200 && error.empty(); }
};

class SseLoadClient {
 public:
  SseLoadClient(std::string host, int port) : host_(std::move(host)), port_(port) {}

  // POSTs every body to `path` over `concurrency` connections; results in body order. Requests
  // still unanswered when `timeout_s` has passed end with an error.
  std::vector<SseResponse> run(const std::string& path, const std::vector<std::string>& bodies, int concurrency,
                               double timeout_s) {
    results_.assign(bodies.size(), {});
    bodies_ = &bodies;
    path_ = path;
    next_ = 0;
    done_ = 0;
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<Conn> conns(static_cast<size_t>(std::max(1, concurrency)));
    for (auto& c : conns) start_next(ep, c);
    const double deadline = now_seconds() + timeout_s;
    epoll_event evs[256];
    while (done_ < bodies.size() && now_seconds() < deadline) {
      const int n = ::epoll_wait(ep, evs, 256, 100);
      for (int i = 0; i < n; ++i) {
        Conn& c = *static_cast<Conn*>(evs[i].data.ptr);
        if (evs[i].events & EPOLLOUT) flush(ep, c);
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) receive(ep, c);
      }
    }
    for (auto& c : conns)
      if (c.request >= 0) fail(ep, c, "timed out");
    for (size_t i = next_; i < bodies.size(); ++i) results_[i].error = "not sent before the timeout";
    ::close(ep);
    return std::move(results_);
  }

 private:
  enum class Phase { kHead, kChunkSize, kChunkData, kChunkEnd, kTrailer, kBody, kUntilClose };
  struct Conn {
    int fd = -1;
    long request = -1;  // index into bodies, -1 when idle
    std::string out;
    size_t out_off = 0;
    std::string in;  // unparsed response bytes
    std::string sse;  // de-chunked body not yet split into events
    Phase phase = Phase::kHead;
    size_t remaining = 0;  // bytes left of the current chunk / body
    bool close_after = false;
    bool want_out = false;
  };

  int connect_fd() const {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (::getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res) != 0 || !res) return -1;
    const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
      ::close(fd);
      ::freeaddrinfo(res);
      return -1;
    }
    ::freeaddrinfo(res);
    const int one = 1;
    if (fd >= 0) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }

  void start_next(int ep, Conn& c) {
    if (next_ >= bodies_->size()) return;
    c.request = static_cast<long>(next_++);
    const std::string& body = (*bodies_)[static_cast<size_t>(c.request)];
    c.out = "POST " + path_ + " HTTP/1.1\r\nHost: " + host_ + "\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
    c.out_off = 0;
    c.in.clear();
    c.sse.clear();
    c.phase = Phase::kHead;
    SseResponse& r = results_[static_cast<size_t>(c.request)];
    r.t_sent = now_seconds();
    if (c.fd < 0) {
      c.fd = connect_fd();
      if (c.fd < 0) return fail(ep, c, "connect failed");
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT;
      ev.data.ptr = &c;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      c.want_out = true;
      return;  // written once the connect completes (EPOLLOUT)
    }
    flush(ep, c);
  }

  void set_out_interest(int ep, Conn& c, bool on) {
    if (c.want_out == on) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.ptr = &c;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_out = on;
  }

  void flush(int ep, Conn& c) {
    while (c.out_off < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)) {
        return set_out_interest(ep, c, true);
      } else {
        return fail(ep, c, std::string("send: ") + std::strerror(errno));
      }
    }
    set_out_interest(ep, c, false);
  }

  void receive(int ep, Conn& c) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof buf) break;
      } else if (n == 0) {
        if (c.request >= 0 && c.phase == Phase::kUntilClose) {
          parse(ep, c, now_seconds());
          return end_response(ep, c, /*closed=*/true);
        }
        return fail(ep, c, "connection closed by the server");
      } else {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return fail(ep, c, std::string("recv: ") + std::strerror(errno));
      }
    }
    if (c.request >= 0) parse(ep, c, now_seconds());
  }

  // Consumes what `c.in` holds: the head, then chunked / sized / close-delimited body bytes.
  void parse(int ep, Conn& c, double t) {
    for (;;) {
      if (c.request < 0) return;
      SseResponse& r = results_[static_cast<size_t>(c.request)];
      switch (c.phase) {
        case Phase::kHead: {
          const size_t end = c.in.find("\r\n\r\n");
          if (end == std::string::npos) return;
          const std::string head = lower(c.in.substr(0, end));
          c.in.erase(0, end + 4);
          r.status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
          c.close_after = head.find("\nconnection: close") != std::string::npos;
          if (head.find("\ntransfer-encoding: chunked") != std::string::npos) {
            c.phase = Phase::kChunkSize;
          } else if (const size_t cl = head.find("\ncontent-length:"); cl != std::string::npos) {
            c.remaining = std::strtoull(head.c_str() + cl + 16, nullptr, 10);
            c.phase = Phase::kBody;
          } else {
            c.phase = Phase::kUntilClose;
          }
          break;
        }
        case Phase::kChunkSize: {
          const size_t eol = c.in.find("\r\n");
          if (eol == std::string::npos) return;
          c.remaining = std::strtoull(c.in.c_str(), nullptr, 16);
          c.in.erase(0, eol + 2);
          c.phase = c.remaining == 0 ? Phase::kTrailer : Phase::kChunkData;
          break;
        }
        case Phase::kChunkData: {
          const size_t take = std::min(c.remaining, c.in.size());
          body_bytes(c, r, std::string_view(c.in).substr(0, take), t);
          c.in.erase(0, take);
          c.remaining -= take;
          if (c.remaining > 0) return;
          c.phase = Phase::kChunkEnd;
          break;
        }
        case Phase::kChunkEnd:
          if (c.in.size() < 2) return;
          c.in.erase(0, 2);
          c.phase = Phase::kChunkSize;
          break;
        case Phase::kTrailer: {
          const size_t eol = c.in.find("\r\n");
          if (eol == std::string::npos) return;
          c.in.erase(0, eol + 2);
          if (eol == 0) return end_response(ep, c, false);  // the empty line after the last chunk
          break;
        }
        case Phase::kBody: {
          const size_t take = std::min(c.remaining, c.in.size());
          body_bytes(c, r, std::string_view(c.in).substr(0, take), t);
          c.in.erase(0, take);
          c.remaining -= take;
          if (c.remaining > 0) return;
          return end_response(ep, c, false);
        }
        case Phase::kUntilClose:
          body_bytes(c, r, c.in, t);
          c.in.clear();
          return;
      }
    }
  }

  // SSE framing: events end with a blank line; "data:" lines carry the payload.
  void body_bytes(Conn& c, SseResponse& r, std::string_view bytes, double t) {
    if (r.status != 200) {
      r.error.append(bytes);
      return;
    }
    c.sse.append(bytes);
    size_t start = 0;
    for (;;) {
      const size_t end = c.sse.find("\n\n", start);
      if (end == std::string::npos) break;
      SseEvent ev{t, {}};
      std::string_view block(c.sse.data() + start, end - start);
      while (!block.empty()) {
        const size_t nl = block.find('\n');
        std::string_view line = block.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.rfind("data:", 0) == 0) {
          line.remove_prefix(line.size() > 5 && line[5] == ' ' ? 6 : 5);
          if (!ev.data.empty()) ev.data += '\n';
          ev.data.append(line);
        }
        block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
      }
      r.events.push_back(std::move(ev));
      start = end + 2;
    }
    c.sse.erase(0, start);
  }

  void end_response(int ep, Conn& c, bool closed) {
    SseResponse& r = results_[static_cast<size_t>(c.request)];
    r.t_done = now_seconds();
    if (r.status != 200 && r.error.empty()) r.error = "HTTP " + std::to_string(r.status);
    c.request = -1;
    ++done_;
    if (closed || c.close_after) close_conn(ep, c);
    start_next(ep, c);
  }

  void fail(int ep, Conn& c, const std::string& why) {
    if (c.request >= 0) {
      SseResponse& r = results_[static_cast<size_t>(c.request)];
      r.error = why;
      r.t_done = now_seconds();
      c.request = -1;
      ++done_;
    }
    close_conn(ep, c);
    if (why != "timed out") start_next(ep, c);
  }

  void close_conn(int ep, Conn& c) {
    if (c.fd >= 0) {
      ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    c.fd = -1;
    c.want_out = false;
  }

  static std::string lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }

  std::string host_;
  int port_;
  std::string path_;
  const std::vector<std::string>* bodies_ = nullptr;
  std::vector<SseResponse> results_;
  size_t next_ = 0, done_ = 0;
};

}  // namespace nova::bench
