// How a handler answers one request, from any thread and at any later time: either one full
// response, or a stream (chunked, e.g. Server-Sent Events) of writes closed by finish().
// Bytes are queued on the connection and flushed by the event loop. Every call returns false
// once the client is gone (or the response is over), so producers can stop; on_cancel fires
// on the loop thread the moment a disconnect is seen while the response is unfinished.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "serve/http/http_request.h"

namespace nova::serve::http {

namespace detail {
struct Connection;
}

class ResponseWriter {
 public:
  // What the server knows about the request when it creates the writer.
  struct Context {
    std::shared_ptr<detail::Connection> conn;
    uint64_t seq = 0;
    int version_minor = 1;
    bool keep_alive = true;
    bool head = false;   // HEAD: headers only
    Headers extra;       // added to every response head (CORS)
  };
  explicit ResponseWriter(Context ctx);
  // An unanswered request gets a 500; an unfinished stream is cut without its terminator so
  // the client can tell it was truncated.
  ~ResponseWriter();
  ResponseWriter(const ResponseWriter&) = delete;
  ResponseWriter& operator=(const ResponseWriter&) = delete;

  // ---- one full response (Content-Length set here)
  bool send(int status, std::string_view content_type, std::string_view body, const Headers& headers = {});
  bool send_json(int status, std::string_view json, const Headers& headers = {});
  // {"error": {"message", "type", "param", "code"}}; type follows the status (4xx/5xx).
  bool send_error(int status, std::string_view message, std::optional<std::string_view> code = std::nullopt,
                  std::optional<std::string_view> param = std::nullopt, const Headers& headers = {});

  // ---- streaming: chunked on HTTP/1.1, close-delimited on HTTP/1.0
  bool start_stream(int status, std::string_view content_type, const Headers& headers = {});
  // text/event-stream with caching and proxy buffering off.
  bool start_sse(const Headers& headers = {});
  bool write_chunk(std::string_view data);
  // One SSE event: optional "event:"/"id:" lines, then each line of `data` as a "data:" line.
  bool write_event(std::string_view data, std::string_view event = {}, std::string_view id = {});
  bool write_comment(std::string_view text);  // ": text" keep-alive ping
  // Deferred streaming, for producers on a latency-critical thread (the engine's step loop):
  // they queue their data themselves and call request_pull() (an atomic flag and at most one
  // eventfd wake per flush), and the event loop runs `pull` before it next writes to the
  // socket; `pull` formats everything queued since its last run and hands it to
  // write_pulled(), so tokens that pile up between wake-ups leave in one write. Set after
  // the stream head; `pull` must not block on anything the producer holds while it calls
  // request_pull() or finish().
  void set_pull(std::function<void()> pull);
  void request_pull();
  // write_chunk for `pull` (on the loop thread): queues without scheduling another flush.
  bool write_pulled(std::string_view data);
  bool finish();
  // Ends the stream without its terminator and closes the connection after the queued bytes.
  void abort();

  // ---- client state and back-pressure
  bool started() const;    // a head went out (or the response is over)
  bool finished() const;   // finish()/send() done or aborted
  bool cancelled() const;  // the client went away before the response was finished
  bool is_open() const { return !cancelled() && !finished(); }
  // Runs once, on the loop thread, when the client disconnects before the response is
  // finished; runs at once on the caller's thread if that already happened.
  void on_cancel(std::function<void()> fn);
  size_t queued_bytes() const;
  bool slow() const;  // more than half of the per-connection output queue is unread
  // Blocks until the queue is at most half full; false on timeout, disconnect or finish.
  // Never call it from an inline (loop-thread) handler: the loop is what drains the queue.
  bool wait_writable(std::chrono::milliseconds timeout);

 private:
  std::string head(int status, std::string_view content_type, const Headers& headers,
                   std::optional<size_t> content_length, bool chunked, bool close) const;
  bool push(std::string_view bytes, bool bounded, bool last, bool wake = true);
  bool begin(int status, std::string_view content_type, const Headers& headers, std::string_view body,
             bool stream);

  Context ctx_;
  bool head_only_stream_ = false;  // HEAD (or 204/304) stream: writes are accepted and dropped
  bool chunked_ = false;  // guarded by the connection's mutex, like the rest of the state
  bool started_ = false;
  bool finished_ = false;
};

using ResponseWriterPtr = std::shared_ptr<ResponseWriter>;

}  // namespace nova::serve::http
