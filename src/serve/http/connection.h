// Internal to the HTTP server: the state of one client connection, split between the part the
// event loop alone touches and the part response writers on other threads share (under `mu`).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/http/request_parser.h"

namespace nova::serve::http::detail {

using Clock = std::chrono::steady_clock;
struct Connection;

// How writers on any thread get the loop's attention: queue the connection, poke the eventfd.
// It owns the eventfd and closes it only when the last writer lets go, so a late wake never
// writes into a recycled descriptor.
class LoopWaker {
 public:
  explicit LoopWaker(int event_fd) : fd_(event_fd) {}
  ~LoopWaker();
  LoopWaker(const LoopWaker&) = delete;
  LoopWaker& operator=(const LoopWaker&) = delete;
  int fd() const { return fd_; }
  void post(std::shared_ptr<Connection> conn);
  // Async-signal-safe: only a write(2) to the eventfd.
  void wake() noexcept;
  std::vector<std::shared_ptr<Connection>> take();
  void close();  // the loop is gone: later posts are dropped

  std::atomic<bool> draining{false};  // responses from now on say Connection: close

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<Connection>> pending_;
  bool stopped_ = false;
  const int fd_;
};

// "127.0.0.1:50412" / "[::1]:50412" for an accepted socket's address ("" for other families).
std::string peer_address(const sockaddr_storage& addr);

enum class Phase : uint8_t { kIdle, kStreaming, kDone };

struct Connection {
  Connection(int fd_, std::shared_ptr<LoopWaker> waker_, size_t max_queue_, ParserLimits limits)
      : fd(fd_), waker(std::move(waker_)), max_queue(max_queue_), parser(limits) {}

  // ---- fixed after accept
  const int fd;
  const std::shared_ptr<LoopWaker> waker;
  const size_t max_queue;
  std::string peer;  // the client's "address:port", set once right after accept

  // ---- shared with writers, guarded by mu
  std::mutex mu;
  std::condition_variable writable;  // queue drained below the low watermark, or closed
  std::string out;                   // bytes not yet written; out_off of them already sent
  size_t out_off = 0;
  bool closed = false;        // client gone or connection closing: writes are no-ops
  bool cut = false;           // a writer overran the queue: the loop must close
  bool flush_posted = false;  // already in the waker's queue
  uint64_t seq = 0;           // current exchange; writers of older ones are stale
  bool exchange_open = false; // a request is being answered
  Phase phase = Phase::kIdle;
  bool close_after = false;   // the response said Connection: close (or was aborted)
  std::function<void()> on_cancel;
  // A deferred stream's producer: run on the loop thread by flush() after a writer's
  // request_pull(), it renders what was queued since its last run and appends it (see
  // ResponseWriter::set_pull). Cleared like on_cancel when the exchange ends.
  std::function<void()> pull;
  int waiters = 0;            // threads in wait_writable

  // ---- any thread, lock-free: a pull is due (set by request_pull, cleared by the loop)
  std::atomic<bool> pull_posted{false};

  size_t queued() const { return out.size() - out_off; }
  // Marks the connection closed. Moves the cancellation callback into `cb`; returns whether
  // to run it (a response was still being produced). The caller runs *and destroys* it after
  // unlocking: the callback may own the last reference to a writer, whose destructor locks mu.
  bool mark_closed_locked(std::function<void()>& cb);

  // ---- event-loop thread only
  RequestParser parser;
  std::string in;               // received, not yet parsed
  bool in_flight = false;       // a request was dispatched and is not fully answered yet
  bool lingering = false;       // half-closed after an error; discarding input until EOF
  bool sent_continue = false;
  bool headers_seen = false;    // headers_done is set for the current request
  bool gone = false;            // closed and removed from the loop
  uint32_t events = 0;          // current epoll interest
  Clock::time_point idle_since;       // accept or end of the previous response
  Clock::time_point request_started;  // first byte of the current request
  Clock::time_point headers_done;
  Clock::time_point blocked_since;    // output pending and the socket full
  bool blocked = false;
  bool fresh = true;                  // no request yet: the header timeout applies from accept
  Clock::time_point linger_since;
};

}  // namespace nova::serve::http::detail
