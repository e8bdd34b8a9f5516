#include "serve/limits/redis_url.h"

#include <charconv>

#include "core/error.h"

namespace nova::serve::limits {

namespace {
constexpr std::string_view kScheme = "redis://";
}

RedisOptions parse_redis_url(const std::string& url) {
  const std::string where = "--redis";
  if (url.rfind(kScheme, 0) != 0) fail(where, "expected a URL like redis://127.0.0.1:6379, got '" + redact_redis_url(url) + "'");
  std::string rest = url.substr(kScheme.size());
  RedisOptions o;
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    if (!db.empty() && db != "0") fail(where, "only database 0 is supported, got /" + db);
    rest.resize(slash);
  }
  if (const auto at = rest.rfind('@'); at != std::string::npos) {
    const std::string userinfo = rest.substr(0, at);
    const auto colon = userinfo.find(':');
    if (colon == std::string::npos) fail(where, "credentials must be ':PASSWORD@' or 'USER:PASSWORD@'");
    o.password = userinfo.substr(colon + 1);
    rest = rest.substr(at + 1);
  }
  std::string host = rest;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const auto close = rest.find(']');
    if (close == std::string::npos) fail(where, "unterminated '[' in the host");
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') fail(where, "unexpected text after the host");
    if (!rest.empty()) rest = rest.substr(1);
    else rest.clear();
    if (!rest.empty()) {
      int port = 0;
      const auto r = std::from_chars(rest.data(), rest.data() + rest.size(), port);
      if (r.ec != std::errc() || r.ptr != rest.data() + rest.size() || port < 1 || port > 65535)
        fail(where, "the port must be a number in [1, 65535], got '" + rest + "'");
      o.port = port;
    }
  } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    const std::string p = rest.substr(colon + 1);
    int port = 0;
    const auto r = std::from_chars(p.data(), p.data() + p.size(), port);
    if (r.ec != std::errc() || r.ptr != p.data() + p.size() || port < 1 || port > 65535)
      fail(where, "the port must be a number in [1, 65535], got '" + p + "'");
    o.port = port;
  }
  if (host.empty()) fail(where, "the URL names no host");
  o.host = host;
  return o;
}

std::string redact_redis_url(const std::string& url) {
  const auto at = url.rfind('@');
  const auto scheme_end = url.find("://");
  if (at == std::string::npos || scheme_end == std::string::npos || at < scheme_end) return url;
  const auto colon = url.find(':', scheme_end + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace nova::serve::limits
