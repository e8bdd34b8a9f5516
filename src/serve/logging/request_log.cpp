#include "serve/logging/request_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace nova::serve::logging {

namespace {

std::string utc_now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

std::unique_ptr<RequestLogger> RequestLogger::open_file(const std::string& path, bool log_prompts) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) fail(path, std::string("cannot open request log: ") + std::strerror(errno));
  return std::unique_ptr<RequestLogger>(new RequestLogger(fd, true, log_prompts));
}

std::unique_ptr<RequestLogger> RequestLogger::to_stderr(bool log_prompts) {
  return std::unique_ptr<RequestLogger>(new RequestLogger(STDERR_FILENO, false, log_prompts));
}

RequestLogger::~RequestLogger() {
  if (owns_fd_) ::close(fd_);
}

std::string RequestLogger::format(const RequestLogEntry& e) const {
  nlohmann::ordered_json j;
  j["time"] = utc_now_rfc3339();
  j["request_id"] = e.request_id;
  j["key_id"] = e.key_id;
  j["model"] = e.model;
  j["endpoint"] = e.endpoint;
  j["status"] = e.status;
  j["prompt_tokens"] = e.prompt_tokens;
  j["completion_tokens"] = e.completion_tokens;
  j["ttft_s"] = e.ttft_seconds ? nlohmann::ordered_json(*e.ttft_seconds) : nlohmann::ordered_json(nullptr);
  j["total_s"] = e.total_seconds;
  j["finish_reason"] = e.finish_reason.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.finish_reason);
  j["client"] = e.client;
  if (!e.error.empty()) j["error"] = e.error;
  if (log_prompts_) {
    j["prompt"] = e.prompt;
    j["completion"] = e.completion;
  } else {
    j["prompt_chars"] = e.prompt.size();
    j["completion_chars"] = e.completion.size();
  }
  // dump() escapes '\n' inside strings, so the record is exactly one line; `replace` keeps a
  // prompt with invalid UTF-8 from throwing.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

void RequestLogger::log(const RequestLogEntry& entry) {
  std::string line;
  try {
    line = format(entry);
  } catch (...) {
    std::lock_guard lock(mu_);
    ++failed_writes_;
    return;
  }
  std::lock_guard lock(mu_);
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ++failed_writes_;
      return;
    }
    off += static_cast<size_t>(n);
  }
}

uint64_t RequestLogger::failed_writes() const {
  std::lock_guard lock(mu_);
  return failed_writes_;
}

}  // namespace nova::serve::logging
