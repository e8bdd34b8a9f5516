#include "serve/http/request_parser.h"

#include <algorithm>
#include <cstring>

namespace nova::serve::http {

namespace {

// RFC 9110 token characters (method and field names).
bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// Field values: visible ASCII, obs-text, space and tab; no other control bytes.
bool is_field_value(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_known_method(std::string_view m) {
  for (const char* k : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
    if (m == k) return true;
  return false;
}

// Calls fn(token) for each comma-separated, OWS-trimmed, non-empty list element.
template <class Fn>
void for_each_list_item(std::string_view v, Fn&& fn) {
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    if (comma == std::string_view::npos) comma = v.size();
    const std::string_view item = trim_ows(v.substr(start, comma - start));
    if (!item.empty()) fn(item);
    start = comma + 1;
  }
}

constexpr size_t kMaxChunkLine = 4096;  // chunk size + extensions; longer is abuse
constexpr size_t kMaxBlankLines = 8;     // tolerated CRLFs before a request line (RFC 9112 2.2)

}  // namespace

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

void RequestParser::reset() {
  state_ = State::kRequestLine;
  req_ = HttpRequest{};
  error_ = ParseError{};
  line_.clear();
  line_done_ = false;
  header_bytes_ = 0;
  remaining_ = 0;
  started_ = false;
}

HttpRequest RequestParser::take() {
  HttpRequest out = std::move(req_);
  reset();
  return out;
}

void RequestParser::fail(int status, std::string message) {
  state_ = State::kError;
  error_.status = status;
  error_.message = std::move(message);
}

size_t RequestParser::feed(std::string_view data) {
  size_t used = 0;
  while (used < data.size() && state_ != State::kComplete && state_ != State::kError) {
    const std::string_view rest = data.substr(used);
    if (state_ == State::kRequestLine) started_ = true;
    if (state_ == State::kBody || state_ == State::kChunkData) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
      req_.body.append(rest.data(), take);
      used += take;
      remaining_ -= take;
      if (remaining_ == 0) state_ = state_ == State::kBody ? State::kComplete : State::kChunkDataEnd;
      continue;
    }
    // Every other state reads a line: accumulate up to '\n', then interpret it.
    const size_t nl = rest.find('\n');
    const size_t take = nl == std::string_view::npos ? rest.size() : nl;
    line_.append(rest.data(), take);
    used += take;
    // Limits are checked while the line grows so an endless line never buffers unbounded.
    switch (state_) {
      case State::kRequestLine:
        if (line_.size() > limits_.max_request_line) return fail(414, "request line too long"), used;
        [[fallthrough]];
      case State::kHeaders:
      case State::kTrailers:
        if (header_bytes_ + line_.size() > limits_.max_header_bytes)
          return fail(431, "request header block too large"), used;
        break;
      case State::kChunkSize:
        if (line_.size() > kMaxChunkLine) return fail(400, "chunk size line too long"), used;
        break;
      case State::kChunkDataEnd:
        if (line_.size() > 1) return fail(400, "chunk data longer than its declared size"), used;
        break;
      default: break;
    }
    if (nl == std::string_view::npos) break;
    ++used;  // the '\n'
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.find('\r') != std::string::npos) {
      fail(400, "bare CR in request head");
      break;
    }
    on_line();
    line_.clear();
  }
  return used;
}

void RequestParser::on_line() {
  const std::string_view line = line_;
  switch (state_) {
    case State::kRequestLine:
      header_bytes_ += line.size() + 2;
      if (line.empty()) {  // stray CRLF between pipelined requests
        if (header_bytes_ > 2 * kMaxBlankLines) fail(400, "too many blank lines before request");
        return;
      }
      return on_request_line(line);
    case State::kHeaders:
      header_bytes_ += line.size() + 2;
      if (line.empty()) return on_headers_done();
      return on_header_line(line);
    case State::kChunkSize: return on_chunk_size(line);
    case State::kChunkDataEnd:
      if (!line.empty()) return fail(400, "chunk data longer than its declared size");
      state_ = State::kChunkSize;
      return;
    case State::kTrailers:
      header_bytes_ += line.size() + 2;
      if (line.empty()) {
        state_ = State::kComplete;
        return;
      }
      return on_trailer_line(line);
    default: return;
  }
}

void RequestParser::on_request_line(std::string_view line) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);

  if (!is_token(method)) return fail(400, "malformed method");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return fail(400, "malformed HTTP version");
  if (version[5] != '1') return fail(505, "HTTP version not supported");
  req_.version_minor = version[7] == '0' ? 0 : 1;  // 1.x with x > 1 is answered as 1.1
  req_.keep_alive = req_.version_minor == 1;
  // 501 (not 400): the method is well-formed, we just do not implement it (RFC 9110 9.1).
  if (!is_known_method(method)) return fail(501, "method not implemented");
  req_.method = std::string(method);

  if (target.empty()) return fail(400, "empty request target");
  for (unsigned char c : target)
    if (c <= 0x20 || c >= 0x7f || c == '#') return fail(400, "invalid character in request target");
  req_.target = std::string(target);
  // absolute-form (RFC 9112 3.2.2): keep only the path and query.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
      const size_t slash = target.find_first_of("/?", scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      if (target.front() == '?') return fail(400, "absolute-form target without a path");
      break;
    }
  }
  if (target == "*") {
    if (method != "OPTIONS") return fail(400, "asterisk target is only valid for OPTIONS");
    req_.path = "*";
  } else {
    if (target.front() != '/') return fail(400, "request target must start with '/'");
    const size_t q = target.find('?');
    auto path = percent_decode(target.substr(0, q), false);
    if (!path) return fail(400, "malformed percent-encoding in path");
    req_.path = std::move(*path);
    if (q != std::string_view::npos) {
      req_.raw_query = std::string(target.substr(q + 1));
      auto query = parse_query(req_.raw_query);
      if (!query) return fail(400, "malformed percent-encoding in query string");
      req_.query = std::move(*query);
    }
  }
  state_ = State::kHeaders;
}

void RequestParser::on_header_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') return fail(400, "obsolete header line folding");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return fail(400, "header line without ':'");
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return fail(400, "malformed header name");
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (!is_field_value(value)) return fail(400, "control character in header value");
  if (req_.headers.size() >= limits_.max_headers) return fail(431, "too many header fields");
  req_.headers.emplace_back(std::string(name), std::string(value));
}

void RequestParser::on_headers_done() {
  bool chunked = false;
  bool has_te = false;
  bool has_length = false;
  uint64_t length = 0;
  size_t hosts = 0;
  for (const auto& [name, value] : req_.headers) {
    if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "transfer-encoding")) {
      has_te = true;
      // Only "chunked" is implemented; it must be the final coding and appear once.
      bool bad = false;
      for_each_list_item(value, [&](std::string_view item) {
        if (chunked || !iequals(item, "chunked")) bad = true;
        chunked = true;
      });
      if (bad || !chunked) return fail(501, "unsupported transfer coding");
    } else if (iequals(name, "content-length")) {
      bool bad = false;
      bool any = false;
      for_each_list_item(value, [&](std::string_view item) {
        uint64_t v = 0;
        bool too_big = false;
        for (char c : item) {
          if (c < '0' || c > '9') {
            bad = true;
            return;
          }
          if (v > (UINT64_MAX - 9) / 10) too_big = true;
          else v = v * 10 + static_cast<uint64_t>(c - '0');
        }
        if (too_big) v = UINT64_MAX;
        if ((has_length || any) && v != length) bad = true;
        length = v;
        any = true;
      });
      if (bad || !any) return fail(400, "invalid Content-Length");
      has_length = true;
    } else if (iequals(name, "connection")) {
      for_each_list_item(value, [&](std::string_view item) {
        if (iequals(item, "close")) req_.keep_alive = false;
        else if (iequals(item, "keep-alive") && req_.version_minor == 0) req_.keep_alive = true;
      });
    } else if (iequals(name, "expect")) {
      if (!iequals(value, "100-continue")) return fail(417, "unsupported expectation");
      req_.expect_continue = req_.version_minor == 1;
    }
  }
  if (req_.version_minor == 1 && hosts != 1) return fail(400, "HTTP/1.1 request needs exactly one Host header");
  if (hosts > 1) return fail(400, "duplicate Host header");
  // Both framings at once is the classic request-smuggling vector: refuse outright.
  if (has_te && has_length) return fail(400, "both Transfer-Encoding and Content-Length");
  if (has_te && req_.version_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (chunked) {
    state_ = State::kChunkSize;
    return;
  }
  if (length > limits_.max_body_bytes) return fail(413, "request body too large");
  remaining_ = length;
  if (length == 0) req_.expect_continue = false;
  state_ = length == 0 ? State::kComplete : State::kBody;
}

void RequestParser::on_chunk_size(std::string_view line) {
  const std::string_view size = trim_ows(line.substr(0, line.find(';')));
  if (size.empty()) return fail(400, "empty chunk size");
  uint64_t v = 0;
  for (char c : size) {
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') d = (c | 0x20) - 'a' + 10;
    if (d < 0) return fail(400, "malformed chunk size");
    if (v > (limits_.max_body_bytes >> 4) + 1) return fail(413, "request body too large");
    v = v * 16 + static_cast<uint64_t>(d);
  }
  if (!is_field_value(line)) return fail(400, "control character in chunk extension");
  if (v > limits_.max_body_bytes - req_.body.size()) return fail(413, "request body too large");
  if (v == 0) {
    header_bytes_ = 0;  // trailers get their own header-sized budget
    state_ = State::kTrailers;
    return;
  }
  remaining_ = v;
  state_ = State::kChunkData;
}

void RequestParser::on_trailer_line(std::string_view line) {
  // Trailer fields are validated but dropped: nothing downstream consumes them.
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon)) ||
      !is_field_value(line.substr(colon + 1)))
    fail(400, "malformed trailer field");
}

}  // namespace nova::serve::http
