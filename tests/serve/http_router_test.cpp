#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/http/cors.h"
#include "serve/http/router.h"
#include "serve/http/status.h"

namespace nova::serve::http {
namespace {

Handler tagged(int* hit, int tag) {
  return [hit, tag](const HttpRequest&, ResponseWriterPtr) { *hit = tag; };
}

TEST(HttpRouter, ExactBeatsPrefixAndLongestPrefixWins) {
  int hit = 0;
  Router r;
  r.add("GET", "/v1/models", tagged(&hit, 1));
  r.add_prefix("GET", "/v1/", tagged(&hit, 2));
  r.add_prefix("GET", "/v1/models/", tagged(&hit, 3));
  r.add("POST", "/v1/chat/completions", tagged(&hit, 4));
  auto call = [&](const std::string& m, const std::string& p) {
    hit = 0;
    const auto match = r.match(m, p);
    if (match.status != 200) return -match.status;
    match.route->handler(HttpRequest{}, nullptr);
    return hit;
  };
  EXPECT_EQ(call("GET", "/v1/models"), 1);
  EXPECT_EQ(call("GET", "/v1/models/qwen"), 3);
  EXPECT_EQ(call("GET", "/v1/other"), 2);
  EXPECT_EQ(call("POST", "/v1/chat/completions"), 4);
  EXPECT_EQ(call("HEAD", "/v1/models"), 1);  // HEAD falls back to GET
  EXPECT_EQ(call("GET", "/v2/x"), -404);
  EXPECT_EQ(call("GET", "/v1"), -404);
  EXPECT_EQ(call("DELETE", "/nothing"), -404);
}

TEST(HttpRouter, MethodNotAllowedListsAllow) {
  Router r;
  int hit = 0;
  r.add("GET", "/x", tagged(&hit, 1));
  r.add("POST", "/x", tagged(&hit, 2));
  const auto m = r.match("DELETE", "/x");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET, POST");
  // GET-only prefix route: POST under it is 405 too.
  r.add_prefix("GET", "/files/", tagged(&hit, 3));
  EXPECT_EQ(r.match("POST", "/files/a").status, 405);
  EXPECT_THROW(r.add("GET", "no-slash", tagged(&hit, 0)), nova::Error);
}

TEST(HttpStatus, OpenAiErrorShape) {
  const auto j = nlohmann::json::parse(openai_error_json("bad \"thing\"", "invalid_request_error", "model", "x"));
  EXPECT_EQ(j.size(), 1u);
  EXPECT_EQ(j["error"].size(), 4u);
  EXPECT_EQ(j["error"]["message"], "bad \"thing\"");
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_EQ(j["error"]["code"], "x");
  const auto k = nlohmann::json::parse(openai_error_json("\xff\xfe invalid utf8", "server_error"));
  EXPECT_TRUE(k["error"]["param"].is_null());
  EXPECT_TRUE(k["error"]["code"].is_null());
  EXPECT_EQ(status_reason(413), "Content Too Large");
  EXPECT_EQ(error_type_for_status(404), "invalid_request_error");
  EXPECT_EQ(error_type_for_status(503), "server_error");
}

HttpRequest with_headers(std::string method, Headers h) {
  HttpRequest r;
  r.method = std::move(method);
  r.headers = std::move(h);
  return r;
}

TEST(HttpCors, DisabledByDefault) {
  CorsPolicy p(CorsConfig{});
  EXPECT_FALSE(p.enabled());
  auto req = with_headers("OPTIONS", {{"Origin", "https://a"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_FALSE(p.is_preflight(req));
  EXPECT_TRUE(p.response_headers(req).empty());
}

TEST(HttpCors, WildcardAndCredentials) {
  CorsConfig c;
  c.allowed_origins = {"*"};
  CorsPolicy any(c);
  auto req = with_headers("GET", {{"origin", "https://a"}});
  auto h = any.response_headers(req);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].second, "*");
  c.allow_credentials = true;
  CorsPolicy cred(c);
  h = cred.response_headers(req);
  EXPECT_EQ(find_header(h, "Access-Control-Allow-Origin").value_or(""), "https://a");
  EXPECT_EQ(find_header(h, "Access-Control-Allow-Credentials").value_or(""), "true");
  EXPECT_EQ(find_header(h, "Vary").value_or(""), "Origin");
}

TEST(HttpCors, PreflightEchoesRequestedHeadersWhenUnconfigured) {
  CorsConfig c;
  c.allowed_origins = {"https://ok"};
  c.allowed_headers = "";
  CorsPolicy p(c);
  auto req = with_headers("OPTIONS", {{"Origin", "https://ok"},
                                      {"Access-Control-Request-Method", "POST"},
                                      {"Access-Control-Request-Headers", "x-custom"}});
  ASSERT_TRUE(p.is_preflight(req));
  auto h = p.preflight_headers(req);
  ASSERT_TRUE(h);
  EXPECT_EQ(find_header(*h, "Access-Control-Allow-Headers").value_or(""), "x-custom");
  req.headers[0].second = "https://nope";
  EXPECT_FALSE(p.preflight_headers(req));
}

}  // namespace
}  // namespace nova::serve::http
