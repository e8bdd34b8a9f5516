// One parsed HTTP/1.x request: what the parser produces and what route handlers read.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nova::serve::http {

// Header fields in arrival order. Names keep their original spelling; lookups ignore case.
using Headers = std::vector<std::pair<std::string, std::string>>;

bool iequals(std::string_view a, std::string_view b);

// The value of the first field named `name` (case-insensitive), if any.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

struct HttpRequest {
  std::string method;   // "GET", "POST", ... (case-sensitive per RFC 9110)
  std::string target;   // the raw request-target: "/v1/models?x=1"
  std::string path;     // percent-decoded path: "/v1/models"
  std::string raw_query;                                   // after '?', undecoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded key/value pairs
  int version_minor = 1;  // HTTP/1.<minor>: 0 or 1
  Headers headers;
  std::string body;  // de-chunked when the request used chunked transfer coding
  bool keep_alive = true;       // what the client asked for (version default + Connection)
  bool expect_continue = false; // "Expect: 100-continue" was sent
  std::string peer;             // the client's "address:port" (set by the server, for logs)

  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
  // The decoded value of the first query parameter named `key`, if any.
  std::optional<std::string_view> query_param(std::string_view key) const;
};

// Decodes %XX escapes. `plus_is_space` for query components (application/x-www-form-urlencoded).
// Returns nullopt on a malformed escape or when the result would contain a NUL byte.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space);

// Splits "a=1&b=&c" into decoded pairs; nullopt when a component has a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view raw);

}  // namespace nova::serve::http
