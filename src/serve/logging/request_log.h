// The request log: one JSON object per line per finished request, e.g.
//   {"time":"2025-01-02T03:04:05.678Z","request_id":"chatcmpl-…","key_id":"nova-Ab3x9QzK",
//    "model":"qwen3","endpoint":"/v1/chat/completions","status":200,"prompt_tokens":12,
//    "completion_tokens":30,"ttft_s":0.041,"total_s":0.62,"finish_reason":"stop",
//    "client":"127.0.0.1:50412","prompt_chars":48,"completion_chars":120}
// Only the key id is ever logged, never a key. Prompts and completions are redacted (only
// their lengths appear) unless log_prompts is set. Each line goes out in one write(2) on an
// O_APPEND descriptor under a mutex, so concurrent requests never interleave within a line.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace nova::serve::logging {

struct RequestLogEntry {
  std::string request_id;
  std::string key_id;      // "" when the request never authenticated
  std::string model;
  std::string endpoint;
  int status = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::optional<double> ttft_seconds;  // unset when no token was produced
  double total_seconds = 0;
  std::string finish_reason;  // "" when none (errors)
  std::string client;         // "address:port"
  std::string error;          // short error message for non-2xx answers
  std::string prompt;         // written only with log_prompts
  std::string completion;     // written only with log_prompts
};

class RequestLogger {
 public:
  // Appends to `path` (created with mode 0600: it may hold prompts). Throws nova::Error.
  static std::unique_ptr<RequestLogger> open_file(const std::string& path, bool log_prompts);
  static std::unique_ptr<RequestLogger> to_stderr(bool log_prompts);
  ~RequestLogger();
  RequestLogger(const RequestLogger&) = delete;
  RequestLogger& operator=(const RequestLogger&) = delete;

  // Never throws: a failed write is counted, not propagated into the request.
  void log(const RequestLogEntry& entry);
  // The line log() writes, with its trailing '\n' (time taken from the clock now).
  std::string format(const RequestLogEntry& entry) const;

  bool log_prompts() const { return log_prompts_; }
  uint64_t failed_writes() const;

 private:
  RequestLogger(int fd, bool owns_fd, bool log_prompts) : fd_(fd), owns_fd_(owns_fd), log_prompts_(log_prompts) {}

  int fd_;
  bool owns_fd_;
  bool log_prompts_;
  mutable std::mutex mu_;
  uint64_t failed_writes_ = 0;
};

}  // namespace nova::serve::logging
