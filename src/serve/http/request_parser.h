// Incremental HTTP/1.x request parser: a pure state machine (no sockets, no clocks) so it can
// be unit-tested and fuzzed on its own. Feed it bytes in any split; it stops right after one
// complete request, leaving pipelined bytes to the caller, or at the first error, which
// carries the status code the server should answer with (400, 413, 431, 501, 505, ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "serve/http/http_request.h"

namespace nova::serve::http {

struct ParserLimits {
  size_t max_request_line = 8 * 1024;    // longer -> 414
  size_t max_header_bytes = 32 * 1024;   // request line + header block (and trailers) -> 431
  size_t max_headers = 100;              // field count -> 431
  size_t max_body_bytes = 16 * 1024 * 1024;  // declared or de-chunked body -> 413
};

struct ParseError {
  int status = 0;       // HTTP status to answer with
  std::string message;  // human-readable reason (goes into the JSON error body)
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});

  // Consumes a prefix of `data` and returns its length. Stops after a complete request (the
  // rest belongs to the next, pipelined request) or at an error; returns 0 in those states.
  size_t feed(std::string_view data);

  bool started() const { return started_; }                // a byte of this request arrived
  bool headers_complete() const { return state_ >= State::kBody && state_ != State::kError; }
  bool complete() const { return state_ == State::kComplete; }
  bool failed() const { return state_ == State::kError; }
  bool body_pending() const { return headers_complete() && !complete(); }

  // Valid once headers_complete() (the body fills in until complete()).
  const HttpRequest& request() const { return req_; }
  const ParseError& error() const { return error_; }

  // Hands out the complete request and resets for the next one on the same connection.
  HttpRequest take();
  void reset();

 private:
  enum class State : uint8_t {
    kRequestLine, kHeaders,
    // header block done from here on
    kBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kComplete, kError
  };

  size_t feed_line(std::string_view data, size_t limit, int over_status, const char* over_what);
  void on_line();
  void on_request_line(std::string_view line);
  void on_header_line(std::string_view line);
  void on_headers_done();
  void on_chunk_size(std::string_view line);
  void on_trailer_line(std::string_view line);
  void fail(int status, std::string message);

  ParserLimits limits_;
  State state_ = State::kRequestLine;
  HttpRequest req_;
  ParseError error_;
  std::string line_;          // current line without its terminator, across feeds
  bool line_done_ = false;    // line_ holds a whole line
  size_t header_bytes_ = 0;   // bytes of request line + headers (or trailers) so far
  uint64_t remaining_ = 0;    // body or chunk bytes still to read
  bool started_ = false;
};

}  // namespace nova::serve::http
