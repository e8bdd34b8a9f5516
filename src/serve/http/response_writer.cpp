#include "serve/http/response_writer.h"

#include <ctime>

#include "core/error.h"
#include "serve/http/connection.h"
#include "serve/http/status.h"

namespace nova::serve::http {

namespace {

void check_header(std::string_view name, std::string_view value) {
  // Handlers may echo client data into headers; CR/LF there would let it inject a response.
  auto bad = [](std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos; };
  require(!name.empty() && !bad(name) && name.find(':') == std::string_view::npos && !bad(value),
          "response header", "invalid header field '" + std::string(name) + "'");
}

std::string http_date() {
  char buf[64];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  const size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

std::string chunk(std::string_view data) {
  char size[24];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out;
  out.reserve(static_cast<size_t>(n) + data.size() + 2);
  out.append(size, static_cast<size_t>(n)).append(data).append("\r\n");
  return out;
}

bool has_body(int status) { return status >= 200 && status != 204 && status != 304; }

}  // namespace

ResponseWriter::ResponseWriter(Context ctx) : ctx_(std::move(ctx)) {}

ResponseWriter::~ResponseWriter() {
  bool started = false;
  bool finished = false;
  {
    std::lock_guard<std::mutex> lock(ctx_.conn->mu);
    started = started_;
    finished = finished_;
  }
  if (finished) return;
  if (!started) send_error(500, "the request handler produced no response", "internal_error");
  else abort();
}

std::string ResponseWriter::head(int status, std::string_view content_type, const Headers& headers,
                                 std::optional<size_t> content_length, bool chunked, bool close) const {
  std::string h;
  h.reserve(256);
  h.append(ctx_.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
      .append(std::to_string(status))
      .append(" ")
      .append(status_reason(status))
      .append("\r\nDate: ")
      .append(http_date())
      .append("\r\n");
  if (!content_type.empty() && has_body(status)) h.append("Content-Type: ").append(content_type).append("\r\n");
  if (content_length) h.append("Content-Length: ").append(std::to_string(*content_length)).append("\r\n");
  if (chunked) h.append("Transfer-Encoding: chunked\r\n");
  if (close) h.append("Connection: close\r\n");
  else if (ctx_.version_minor == 0) h.append("Connection: keep-alive\r\n");
  for (const auto* list : {&ctx_.extra, &headers})
    for (const auto& [k, v] : *list) h.append(k).append(": ").append(v).append("\r\n");
  h.append("\r\n");
  return h;
}

bool ResponseWriter::begin(int status, std::string_view content_type, const Headers& headers,
                           std::string_view body, bool stream) {
  require(status >= 200 && status <= 999, "response", "invalid status " + std::to_string(status));
  for (const auto& [k, v] : headers) check_header(k, v);
  detail::Connection& c = *ctx_.conn;
  bool post = false;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (started_ || finished_) return false;
    started_ = true;
    if (c.closed || c.seq != ctx_.seq) {
      finished_ = true;
      return false;
    }
    const bool body_allowed = has_body(status) && !ctx_.head;
    // HTTP/1.0 has no chunked coding: such a stream is delimited by closing the connection.
    const bool close = !ctx_.keep_alive || c.waker->draining.load() || (stream && ctx_.version_minor == 0);
    chunked_ = stream && ctx_.version_minor == 1 && has_body(status);
    std::optional<size_t> length;
    if (!stream && has_body(status)) length = body.size();
    c.out += head(status, content_type, headers, length, chunked_, close);
    if (!stream && body_allowed) c.out.append(body);
    if (!body_allowed) chunked_ = false;
    c.close_after = c.close_after || close;
    c.phase = stream ? detail::Phase::kStreaming : detail::Phase::kDone;
    if (!stream) finished_ = true;
    head_only_stream_ = stream && !body_allowed;
    if (!c.flush_posted) c.flush_posted = post = true;
  }
  if (post) c.waker->post(ctx_.conn);
  return true;
}

bool ResponseWriter::push(std::string_view bytes, bool bounded, bool last, bool wake) {
  detail::Connection& c = *ctx_.conn;
  bool post = false;
  bool overflow = false;
  bool fire = false;
  std::function<void()> cancel;  // declared before the lock: destroyed after unlocking
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (!started_ || finished_) return false;
    if (c.closed || c.seq != ctx_.seq) return false;
    if (bounded && c.queued() + bytes.size() > c.max_queue) {
      // The client reads slower than we produce: cut it rather than buffer without bound.
      c.cut = overflow = true;
      fire = c.mark_closed_locked(cancel);
      if (!c.flush_posted) c.flush_posted = post = true;
    } else {
      if (!head_only_stream_) c.out.append(bytes);
      if (last) {
        finished_ = true;
        c.phase = detail::Phase::kDone;
      }
      if (wake && !c.flush_posted) c.flush_posted = post = true;
    }
  }
  if (post) c.waker->post(ctx_.conn);
  if (fire && cancel) cancel();
  return !overflow;
}

bool ResponseWriter::send(int status, std::string_view content_type, std::string_view body, const Headers& headers) {
  return begin(status, content_type, headers, body, false);
}

bool ResponseWriter::send_json(int status, std::string_view json, const Headers& headers) {
  return begin(status, "application/json", headers, json, false);
}

bool ResponseWriter::send_error(int status, std::string_view message, std::optional<std::string_view> code,
                                std::optional<std::string_view> param, const Headers& headers) {
  return send_json(status, openai_error_json(message, error_type_for_status(status), param, code), headers);
}

bool ResponseWriter::start_stream(int status, std::string_view content_type, const Headers& headers) {
  return begin(status, content_type, headers, {}, true);
}

bool ResponseWriter::start_sse(const Headers& headers) {
  Headers h = headers;
  h.emplace_back("Cache-Control", "no-cache");
  h.emplace_back("X-Accel-Buffering", "no");  // reverse proxies must not batch events
  return start_stream(200, "text/event-stream; charset=utf-8", h);
}

bool ResponseWriter::write_chunk(std::string_view data) {
  if (data.empty()) return is_open();  // an empty chunk would terminate the stream
  return push(chunked_ ? std::string_view(chunk(data)) : data, true, false);
}

bool ResponseWriter::write_pulled(std::string_view data) {
  if (data.empty()) return is_open();
  return push(chunked_ ? std::string_view(chunk(data)) : data, true, false, /*wake=*/false);
}

void ResponseWriter::set_pull(std::function<void()> pull) {
  std::function<void()> replaced;  // destroyed after unlocking
  std::lock_guard<std::mutex> lock(ctx_.conn->mu);
  if (finished_ || ctx_.conn->closed || ctx_.conn->seq != ctx_.seq) return;
  replaced = std::move(ctx_.conn->pull);
  ctx_.conn->pull = std::move(pull);
}

void ResponseWriter::request_pull() {
  detail::Connection& c = *ctx_.conn;
  if (!c.pull_posted.exchange(true, std::memory_order_acq_rel)) c.waker->post(ctx_.conn);
}

bool ResponseWriter::write_event(std::string_view data, std::string_view event, std::string_view id) {
  auto one_line = [](std::string_view s) { return s.find_first_of("\r\n") == std::string_view::npos; };
  require(one_line(event) && one_line(id), "sse", "event name and id must be single lines");
  std::string e;
  e.reserve(data.size() + event.size() + id.size() + 32);
  if (!event.empty()) e.append("event: ").append(event).append("\n");
  if (!id.empty()) e.append("id: ").append(id).append("\n");
  // Each line of the payload becomes its own data: line; the client rejoins them with '\n'.
  size_t start = 0;
  for (;;) {
    size_t nl = data.find('\n', start);
    std::string_view line = data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    e.append("data: ").append(line).append("\n");
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  e.append("\n");
  return write_chunk(e);
}

bool ResponseWriter::write_comment(std::string_view text) {
  require(text.find_first_of("\r\n") == std::string_view::npos, "sse", "comment must be a single line");
  return write_chunk(": " + std::string(text) + "\n\n");
}

bool ResponseWriter::finish() {
  bool stream = false;
  {
    std::lock_guard<std::mutex> lock(ctx_.conn->mu);
    stream = started_ && !finished_;
  }
  if (!stream) return false;
  return push(chunked_ ? std::string_view("0\r\n\r\n") : std::string_view(), false, true);
}

void ResponseWriter::abort() {
  detail::Connection& c = *ctx_.conn;
  bool post = false;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (finished_) return;
    finished_ = started_ = true;
    if (c.closed || c.seq != ctx_.seq) return;
    c.close_after = true;
    c.phase = detail::Phase::kDone;
    if (!c.flush_posted) c.flush_posted = post = true;
  }
  if (post) c.waker->post(ctx_.conn);
}

bool ResponseWriter::started() const {
  std::lock_guard<std::mutex> lock(ctx_.conn->mu);
  return started_;
}

bool ResponseWriter::finished() const {
  std::lock_guard<std::mutex> lock(ctx_.conn->mu);
  return finished_;
}

bool ResponseWriter::cancelled() const {
  std::lock_guard<std::mutex> lock(ctx_.conn->mu);
  return !finished_ && (ctx_.conn->closed || ctx_.conn->seq != ctx_.seq);
}

void ResponseWriter::on_cancel(std::function<void()> fn) {
  std::function<void()> replaced;  // destroyed after unlocking (see mark_closed_locked)
  {
    std::lock_guard<std::mutex> lock(ctx_.conn->mu);
    if (finished_) return;  // nothing left to cancel
    if (!ctx_.conn->closed && ctx_.conn->seq == ctx_.seq) {
      replaced = std::move(ctx_.conn->on_cancel);
      ctx_.conn->on_cancel = std::move(fn);
      return;
    }
  }
  fn();
}

size_t ResponseWriter::queued_bytes() const {
  std::lock_guard<std::mutex> lock(ctx_.conn->mu);
  return ctx_.conn->queued();
}

bool ResponseWriter::slow() const {
  std::lock_guard<std::mutex> lock(ctx_.conn->mu);
  return ctx_.conn->queued() > ctx_.conn->max_queue / 2;
}

bool ResponseWriter::wait_writable(std::chrono::milliseconds timeout) {
  detail::Connection& c = *ctx_.conn;
  std::unique_lock<std::mutex> lock(c.mu);
  ++c.waiters;
  const bool ok = c.writable.wait_for(lock, timeout, [&] {
    return c.closed || c.seq != ctx_.seq || finished_ || c.queued() <= c.max_queue / 2;
  });
  --c.waiters;
  return ok && !c.closed && c.seq == ctx_.seq && !finished_;
}

}  // namespace nova::serve::http
