// The bookkeeping of one API request from arrival to its last byte: who asked (key id), what it
// cost (tokens), how long it took (TTFT, end to end), how it ended (status). finish() is called
// exactly once — by whoever answers last — and turns the record into the /metrics updates and
// the one JSON request-log line. Thread-safe: a record is finished from a worker thread or the
// engine's step thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "serve/http/response_writer.h"
#include "serve/logging/request_log.h"
#include "serve/metrics/server_metrics.h"

namespace nova::serve::app {

// Where finished records go; `log` may be null (no request log).
struct Telemetry {
  metrics::ServerMetrics* metrics = nullptr;
  logging::RequestLogger* log = nullptr;
  std::string model;
};

// nginx's "client closed request": logged when the client left before any answer went out.
inline constexpr int kStatusClientClosed = 499;

class RequestRecord {
 public:
  using Clock = std::chrono::steady_clock;
  RequestRecord(const Telemetry& telemetry, std::string endpoint, std::string request_id, std::string client = {});

  const std::string& request_id() const { return entry_.request_id; }
  Clock::time_point start() const { return start_; }
  void set_key_id(std::string id);
  void set_request_id(std::string id);
  void set_prompt(std::string text, int64_t tokens);
  void set_completion(std::string text, int64_t tokens, std::string finish_reason);
  void mark_first_token();  // the first generated token: TTFT (only the first call counts)

  // Counts the request by endpoint and status, observes end-to-end latency and logs the line.
  // Later calls do nothing.
  void finish(int status, std::string error = {});
  bool finished() const;

 private:
  const Telemetry& telemetry_;
  const Clock::time_point start_;
  mutable std::mutex mu_;
  logging::RequestLogEntry entry_;
  std::optional<Clock::time_point> first_token_;
  bool finished_ = false;
};

// record.finish(status, message) + send_error: every error answer of the app goes through here.
// Records are always finished just before the answer is handed to the connection, so what a
// client has received is already in /metrics.
void answer_error(http::ResponseWriter& w, RequestRecord& record, int status, const std::string& message,
                  const std::string& code, const std::string& param = {}, const http::Headers& headers = {});

}  // namespace nova::serve::app
