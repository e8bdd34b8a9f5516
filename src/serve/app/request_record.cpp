#include "serve/app/request_record.h"

namespace nova::serve::app {

RequestRecord::RequestRecord(const Telemetry& telemetry, std::string endpoint, std::string request_id,
                             std::string client)
    : telemetry_(telemetry), start_(Clock::now()) {
  entry_.client = std::move(client);
  entry_.endpoint = std::move(endpoint);
  entry_.request_id = std::move(request_id);
  entry_.model = telemetry.model;
}

void RequestRecord::set_key_id(std::string id) {
  std::lock_guard lock(mu_);
  entry_.key_id = std::move(id);
}

void RequestRecord::set_request_id(std::string id) {
  std::lock_guard lock(mu_);
  entry_.request_id = std::move(id);
}

void RequestRecord::set_prompt(std::string text, int64_t tokens) {
  std::lock_guard lock(mu_);
  entry_.prompt = std::move(text);
  entry_.prompt_tokens = tokens;
}

void RequestRecord::set_completion(std::string text, int64_t tokens, std::string finish_reason) {
  std::lock_guard lock(mu_);
  entry_.completion = std::move(text);
  entry_.completion_tokens = tokens;
  entry_.finish_reason = std::move(finish_reason);
}

void RequestRecord::mark_first_token() {
  std::lock_guard lock(mu_);
  if (first_token_) return;
  first_token_ = Clock::now();
  if (telemetry_.metrics)
    telemetry_.metrics->time_to_first_token_seconds.observe(std::chrono::duration<double>(*first_token_ - start_).count());
}

bool RequestRecord::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

void RequestRecord::finish(int status, std::string error) {
  logging::RequestLogEntry e;
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    const auto now = Clock::now();
    entry_.status = status;
    entry_.error = std::move(error);
    entry_.total_seconds = std::chrono::duration<double>(now - start_).count();
    if (first_token_) entry_.ttft_seconds = std::chrono::duration<double>(*first_token_ - start_).count();
    e = entry_;
  }
  if (auto* m = telemetry_.metrics) {
    m->count_request(e.endpoint, status);
    m->e2e_request_latency_seconds.observe(e.total_seconds);
    if (status == 200) {
      m->prompt_tokens_total.inc(static_cast<double>(e.prompt_tokens));
    }
  }
  if (telemetry_.log) telemetry_.log->log(e);
}

void answer_error(http::ResponseWriter& w, RequestRecord& record, int status, const std::string& message,
                  const std::string& code, const std::string& param, const http::Headers& headers) {
  // Recorded first, so a client that reads the answer and then scrapes /metrics sees it counted.
  record.finish(status, message);
  w.send_error(status, message, code.empty() ? std::nullopt : std::optional<std::string_view>(code),
               param.empty() ? std::nullopt : std::optional<std::string_view>(param), headers);
}

}  // namespace nova::serve::app
