#include "serve/http/router.h"

#include "core/error.h"

namespace nova::serve::http {

Router& Router::add(std::string method, std::string path, Handler handler, Dispatch dispatch) {
  require(!path.empty() && path.front() == '/', "router", "route path must start with '/': " + path);
  routes_.push_back(Route{std::move(method), std::move(path), false, std::move(handler), dispatch});
  return *this;
}

Router& Router::add_prefix(std::string method, std::string prefix, Handler handler, Dispatch dispatch) {
  require(!prefix.empty() && prefix.front() == '/', "router", "route prefix must start with '/': " + prefix);
  routes_.push_back(Route{std::move(method), std::move(prefix), true, std::move(handler), dispatch});
  return *this;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  // The best route for `path` regardless of method decides 404 vs 405; among routes of the
  // same specificity (exact, or same prefix length) the method picks one.
  auto specificity = [&](const Route& r) -> long {
    if (!r.prefix) return r.path == path ? 1L << 40 : -1;
    return path.substr(0, r.path.size()) == r.path ? static_cast<long>(r.path.size()) : -1;
  };
  long best = -1;
  for (const auto& r : routes_) best = std::max(best, specificity(r));
  Match m;
  if (best < 0) return m;
  const Route* get_route = nullptr;
  for (const auto& r : routes_) {
    if (specificity(r) != best) continue;
    if (r.method == method) {
      m.route = &r;
      m.status = 200;
      return m;
    }
    if (r.method == "GET") get_route = &r;
    if (m.allow.find(r.method) == std::string::npos) m.allow += (m.allow.empty() ? "" : ", ") + r.method;
  }
  if (method == "HEAD" && get_route) {
    m.route = get_route;
    m.status = 200;
    m.allow.clear();
    return m;
  }
  m.status = 405;
  return m;
}

}  // namespace nova::serve::http
