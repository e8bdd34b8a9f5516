#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "serve/http/request_parser.h"
#include "support/fixtures.h"

namespace nova::serve::http {
namespace {

struct Outcome {
  std::vector<HttpRequest> requests;
  int error = 0;
  std::string error_message;
  size_t leftover = 0;  // bytes neither consumed nor erroring (incomplete tail)
};

// Feeds `data` in pieces of `step` bytes (0: all at once), collecting pipelined requests.
Outcome parse(const std::string& data, size_t step = 0, ParserLimits limits = {}) {
  RequestParser p(limits);
  Outcome out;
  std::string buf;  // delivered, not yet consumed
  size_t pos = 0;   // bytes of `data` delivered
  for (;;) {
    if (pos < data.size() && (step == 0 || buf.size() < step)) {
      const size_t n = step ? std::min(step, data.size() - pos) : data.size() - pos;
      buf.append(data, pos, n);
      pos += n;
    }
    const size_t used = p.feed(buf);
    EXPECT_LE(used, buf.size());
    buf.erase(0, used);
    if (p.failed()) {
      out.error = p.error().status;
      out.error_message = p.error().message;
      return out;
    }
    if (p.complete()) {
      out.requests.push_back(p.take());
      continue;
    }
    if (used == 0 && pos >= data.size()) break;  // incomplete and no more input
  }
  out.leftover = buf.size();
  return out;
}

void expect_same(const Outcome& a, const Outcome& b) {
  ASSERT_EQ(a.error, b.error);
  ASSERT_EQ(a.requests.size(), b.requests.size());
  for (size_t i = 0; i < a.requests.size(); ++i) {
    const auto& x = a.requests[i];
    const auto& y = b.requests[i];
    EXPECT_EQ(x.method, y.method);
    EXPECT_EQ(x.target, y.target);
    EXPECT_EQ(x.path, y.path);
    EXPECT_EQ(x.query, y.query);
    EXPECT_EQ(x.headers, y.headers);
    EXPECT_EQ(x.body, y.body);
    EXPECT_EQ(x.keep_alive, y.keep_alive);
    EXPECT_EQ(x.version_minor, y.version_minor);
  }
}

// One-shot and every small split must agree exactly.
Outcome parse_all_ways(const std::string& data, ParserLimits limits = {}) {
  Outcome one = parse(data, 0, limits);
  for (size_t step : {1, 2, 3, 7, 64}) {
    SCOPED_TRACE("step " + std::to_string(step));
    expect_same(one, parse(data, step, limits));
  }
  return one;
}

TEST(HttpParser, SimpleGet) {
  auto o = parse_all_ways("GET /v1/models HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n");
  ASSERT_EQ(o.error, 0);
  ASSERT_EQ(o.requests.size(), 1u);
  const auto& r = o.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/v1/models");
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.header("user-agent").value_or(""), "t");
  EXPECT_EQ(r.header("USER-AGENT").value_or(""), "t");
  EXPECT_FALSE(r.header("accept").has_value());
  EXPECT_TRUE(r.body.empty());
}

TEST(HttpParser, ContentLengthBodyAndOws) {
  auto o = parse_all_ways("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-length:  5 \r\n\r\nhello");
  ASSERT_EQ(o.error, 0);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, "hello");
  EXPECT_EQ(o.requests[0].headers[1].second, "5");
}

TEST(HttpParser, ChunkedBodyWithExtensionsAndTrailers) {
  auto o = parse_all_ways(
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=v\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: 1\r\n\r\n");
  ASSERT_EQ(o.error, 0);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, "hello, world!!!");
}

TEST(HttpParser, PipelinedRequestsStaySeparate) {
  const std::string a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string b = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  const std::string c = "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto o = parse_all_ways(a + b + "\r\n" + c);
  ASSERT_EQ(o.error, 0);
  ASSERT_EQ(o.requests.size(), 3u);
  EXPECT_EQ(o.requests[0].path, "/a");
  EXPECT_EQ(o.requests[1].body, "abc");
  EXPECT_EQ(o.requests[2].path, "/c");
  EXPECT_FALSE(o.requests[2].keep_alive);
}

TEST(HttpParser, StopsRightAfterOneRequest) {
  RequestParser p;
  const std::string a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string data = a + "GET /b";
  EXPECT_EQ(p.feed(data), a.size());
  EXPECT_TRUE(p.complete());
  EXPECT_EQ(p.feed("more"), 0u);  // nothing consumed until take()
  EXPECT_EQ(p.take().path, "/a");
  EXPECT_FALSE(p.started());
}

TEST(HttpParser, KeepAliveDefaults) {
  auto o = parse_all_ways("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
                          "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 3u);
  EXPECT_FALSE(o.requests[0].keep_alive);
  EXPECT_EQ(o.requests[0].version_minor, 0);
  EXPECT_TRUE(o.requests[1].keep_alive);
  EXPECT_FALSE(o.requests[2].keep_alive);
}

TEST(HttpParser, ExpectContinueReportedAfterHeaders) {
  RequestParser p;
  const std::string head = "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
  EXPECT_EQ(p.feed(head), head.size());
  EXPECT_TRUE(p.headers_complete());
  EXPECT_TRUE(p.body_pending());
  EXPECT_TRUE(p.request().expect_continue);
  EXPECT_EQ(p.feed("data"), 4u);
  EXPECT_TRUE(p.complete());
  EXPECT_EQ(p.take().body, "data");
  EXPECT_EQ(parse_all_ways("POST /x HTTP/1.1\r\nHost: x\r\nExpect: fancy\r\n\r\n").error, 417);
}

TEST(HttpParser, PercentDecodingAndQuery) {
  auto o = parse_all_ways("GET /v1/a%20b/%C3%A9?x=1&y=a+b%26c&flag&=v&e= HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(o.error, 0);
  const auto& r = o.requests.at(0);
  EXPECT_EQ(r.path, "/v1/a b/\xC3\xA9");
  EXPECT_EQ(r.raw_query, "x=1&y=a+b%26c&flag&=v&e=");
  const std::vector<std::pair<std::string, std::string>> want = {
      {"x", "1"}, {"y", "a b&c"}, {"flag", ""}, {"", "v"}, {"e", ""}};
  EXPECT_EQ(r.query, want);
  EXPECT_EQ(r.query_param("y").value_or("?"), "a b&c");
  EXPECT_FALSE(r.query_param("nope"));
  // '+' is a space only in the query.
  EXPECT_EQ(parse_all_ways("GET /a+b HTTP/1.1\r\nHost: x\r\n\r\n").requests.at(0).path, "/a+b");
  EXPECT_EQ(parse_all_ways("GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n").error, 400);
  EXPECT_EQ(parse_all_ways("GET /a%2 HTTP/1.1\r\nHost: x\r\n\r\n").error, 400);
  EXPECT_EQ(parse_all_ways("GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n").error, 400);
  EXPECT_EQ(parse_all_ways("GET /?a=%g0 HTTP/1.1\r\nHost: x\r\n\r\n").error, 400);
}

TEST(HttpParser, AbsoluteFormAndAsterisk) {
  auto o = parse_all_ways("GET http://example.com:8080/v1/models?a=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(o.error, 0);
  EXPECT_EQ(o.requests.at(0).path, "/v1/models");
  EXPECT_EQ(o.requests.at(0).query_param("a").value_or(""), "1");
  EXPECT_EQ(parse_all_ways("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").requests.at(0).path, "*");
  EXPECT_EQ(parse_all_ways("GET * HTTP/1.1\r\nHost: x\r\n\r\n").error, 400);
}

TEST(HttpParser, BadSyntaxIs400) {
  for (const char* bad : {
           "GET\r\n\r\n",
           "GET / \r\n\r\n",
           "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET / HTTP/1.1 x\r\nHost: x\r\n\r\n",
           "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET / HTTX/1.1\r\nHost: x\r\n\r\n",
           "GET / HTTP/1.12\r\nHost: x\r\n\r\n",
           "GET nopath HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n folded\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nA: b\x01\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n",
           "GET / HTTP/1.1\r\n\r\n",                          // no Host
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",    // two Hosts
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab",
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
       }) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(parse_all_ways(bad).error, 400);
  }
}

TEST(HttpParser, UnsupportedMethodVersionCoding) {
  EXPECT_EQ(parse_all_ways("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n").error, 501);
  EXPECT_EQ(parse_all_ways("GET / HTTP/2.0\r\nHost: x\r\n\r\n").error, 505);
  EXPECT_EQ(parse_all_ways("GET / HTTP/0.9\r\n\r\n").error, 505);
  EXPECT_EQ(parse_all_ways("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n").error, 501);
  EXPECT_EQ(parse_all_ways("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n").error, 501);
  // HTTP/1.x beyond 1.1 is served as 1.1.
  EXPECT_EQ(parse_all_ways("GET / HTTP/1.2\r\nHost: x\r\n\r\n").requests.at(0).version_minor, 1);
}

TEST(HttpParser, Limits) {
  ParserLimits lim;
  lim.max_request_line = 64;
  lim.max_header_bytes = 256;
  lim.max_headers = 4;
  lim.max_body_bytes = 10;
  EXPECT_EQ(parse_all_ways("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", lim).error, 414);
  EXPECT_EQ(parse_all_ways("GET / HTTP/1.1\r\nHost: x\r\nA: " + std::string(300, 'v') + "\r\n\r\n", lim).error, 431);
  EXPECT_EQ(parse_all_ways("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", lim).error, 431);
  EXPECT_EQ(parse_all_ways("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", lim).error, 0);
  EXPECT_EQ(parse_all_ways("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", lim).error, 413);
  EXPECT_EQ(parse_all_ways("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", lim).error, 0);
  EXPECT_EQ(parse_all_ways("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", lim).error,
            413);
  const std::string chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(parse_all_ways(chunked + "6\r\nabcdef\r\n5\r\nabcde\r\n0\r\n\r\n", lim).error, 413);
  EXPECT_EQ(parse_all_ways(chunked + "6\r\nabcdef\r\n4\r\nabcd\r\n0\r\n\r\n", lim).error, 0);
  EXPECT_EQ(parse_all_ways(chunked + "fffffffffffffffffffffff\r\n", lim).error, 413);
  // An endless header line is refused while it grows, not after it ends.
  RequestParser p(lim);
  p.feed("GET / HTTP/1.1\r\nHost: x\r\nA: ");
  for (int i = 0; i < 100 && !p.failed(); ++i) p.feed(std::string(16, 'v'));
  EXPECT_EQ(p.error().status, 431);
  // Endless blank lines before a request are cut off too.
  EXPECT_EQ(parse_all_ways(std::string(2000, '\n'), lim).error, 400);
}

TEST(HttpParser, BareLfLineEndingsAccepted) {
  auto o = parse_all_ways("GET / HTTP/1.1\nHost: x\n\n");
  ASSERT_EQ(o.error, 0);
  EXPECT_EQ(o.requests.size(), 1u);
}

TEST(HttpParser, PercentDecodeHelpers) {
  EXPECT_EQ(percent_decode("a%41%7a", false).value_or("?"), "aAz");
  EXPECT_EQ(percent_decode("a+b", true).value_or("?"), "a b");
  EXPECT_FALSE(percent_decode("%", false));
  EXPECT_FALSE(percent_decode("%4", false));
  EXPECT_FALSE(percent_decode("%4g", false));
  auto q = parse_query("&&a=1&&");
  ASSERT_TRUE(q);
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].first, "a");
}

// Mutated requests must end in a request, an error status, or a wait for more bytes, and the
// same bytes split differently must give the same outcome.
TEST(HttpParser, MutationFuzz) {
  ParserLimits lim;
  lim.max_body_bytes = 1 << 16;
  lim.max_header_bytes = 4096;
  const std::vector<std::string> seeds = {
      "GET /v1/models?x=%41&y=b+c HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 27\r\n"
      "Expect: 100-continue\r\n\r\n{\"model\":\"m\",\"stream\":true}",
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nwiki\r\n5\r\npedia\r\n0\r\nT: v\r\n\r\n"
      "GET /next HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  };
  uint32_t rng = 1;
  int cases = 0;
  for (const auto& seed : seeds) {
    nova::test::mutate_each(seed, 1500, rng++, [&](const std::string& s) {
      ++cases;
      const Outcome one = parse(s, 0, lim);
      if (one.error) {
        EXPECT_TRUE(one.error >= 400 && one.error <= 505) << one.error;
      }
      if ((cases % 5) == 0) expect_same(one, parse(s, 1 + cases % 7, lim));
    });
  }
  EXPECT_EQ(cases, 4500);
}

}  // namespace
}  // namespace nova::serve::http
