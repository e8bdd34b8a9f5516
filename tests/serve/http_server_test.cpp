// Real-socket tests of the HTTP server, on 127.0.0.1 only.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/error.h"
#include "serve/http/http_server.h"
#include "serve/http_test_client.h"

namespace nova::serve::http {
namespace {

using namespace std::chrono_literals;
using test::TestClient;
using Clock = std::chrono::steady_clock;

// A one-shot gate a handler can wait on (bounded) until the test opens it.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void release() {
    std::lock_guard<std::mutex> l(mu);
    open = true;
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds ms = 3000ms) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, ms, [&] { return open; });
  }
};

// State shared by the /hold route and a test: the held writer and when cancellation fired.
struct Held {
  std::mutex mu;
  std::condition_variable cv;
  ResponseWriterPtr writer;
  std::optional<Clock::time_point> cancelled_at;
  ResponseWriterPtr wait_writer() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, 3s, [&] { return writer != nullptr; });
    return writer;
  }
  bool wait_cancel(std::chrono::milliseconds ms) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, ms, [&] { return cancelled_at.has_value(); });
  }
};

std::string http_get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

std::string http_post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "\r\n" + body;
}

// Next chunk's payload; "" for the terminating chunk; nullopt on timeout or bad framing.
std::optional<std::string> read_chunk(TestClient& c, int ms = 3000) {
  const std::string size_line = c.read_until("\r\n", ms);
  if (size_line.empty()) return std::nullopt;
  const size_t n = std::stoul(size_line, nullptr, 16);
  const std::string data = c.read_exact(n + 2, ms);
  if (data.size() != n + 2 || data.substr(n) != "\r\n") return std::nullopt;
  return data.substr(0, n);
}

std::string header_value(const std::string& head, const std::string& name) {
  const std::string h = TestClient::lower(head);
  const size_t at = h.find("\r\n" + TestClient::lower(name) + ":");
  if (at == std::string::npos) return "";
  size_t start = at + name.size() + 3;
  while (start < head.size() && head[start] == ' ') ++start;
  return head.substr(start, head.find("\r\n", start) - start);
}

Router make_router(std::shared_ptr<Held> held, std::shared_ptr<Gate> gate) {
  Router r;
  r.add("GET", "/hello", [](const HttpRequest&, ResponseWriterPtr w) { w->send(200, "text/plain", "hi"); },
        Dispatch::kInline);
  r.add("POST", "/echo", [](const HttpRequest& req, ResponseWriterPtr w) {
    w->send(200, "application/octet-stream", req.body, {{"X-Query", std::string(req.query_param("q").value_or(""))}});
  });
  r.add("GET", "/sse", [gate](const HttpRequest& req, ResponseWriterPtr w) {
    const int n = std::stoi(std::string(req.query_param("n").value_or("3")));
    w->start_sse();
    for (int i = 0; i < n; ++i) {
      w->write_event("{\"i\":" + std::to_string(i) + "}\nline2");
      if (i == 0 && gate) gate->wait();  // the client must see event 0 before the rest exist
    }
    w->write_event("[DONE]");
    w->finish();
  });
  r.add("GET", "/hold", [held](const HttpRequest&, ResponseWriterPtr w) {
    w->start_sse();
    w->write_event("first");
    w->on_cancel([held] {
      std::lock_guard<std::mutex> l(held->mu);
      held->cancelled_at = Clock::now();
      held->cv.notify_all();
    });
    std::lock_guard<std::mutex> l(held->mu);
    held->writer = w;
    held->cv.notify_all();
  });
  r.add("GET", "/flood", [held](const HttpRequest&, ResponseWriterPtr w) {
    w->start_sse();
    const std::string payload(4096, 'x');
    int writes = 0;
    while (writes < 100000 && w->write_event(payload)) ++writes;
    std::lock_guard<std::mutex> l(held->mu);
    held->writer = w;
    held->cv.notify_all();
  });
  r.add("GET", "/paced", [](const HttpRequest&, ResponseWriterPtr w) {
    // A well-behaved producer: waits for the client instead of overrunning the queue.
    w->start_stream(200, "application/octet-stream");
    const std::string block(16 * 1024, 'p');
    for (int i = 0; i < 128; ++i) {
      if (w->slow() && !w->wait_writable(5000ms)) return;
      if (!w->write_chunk(block)) return;
    }
    w->finish();
  });
  r.add("GET", "/selfref", [held](const HttpRequest& req, ResponseWriterPtr w) {
    // The callback owns the writer: releasing it must not deadlock the loop.
    w->start_sse();
    w->on_cancel([w, held] {
      w->write_event("ignored");
      std::lock_guard<std::mutex> l(held->mu);
      held->cancelled_at = Clock::now();
      held->cv.notify_all();
    });
    if (req.query_param("finish")) {
      w->write_event("done");
      w->finish();
    } else {
      w->write_event("waiting");
    }
  });
  r.add("GET", "/bad-input", [](const HttpRequest&, ResponseWriterPtr) { nova::fail("body", "not json"); });
  r.add("GET", "/boom", [](const HttpRequest&, ResponseWriterPtr) { throw std::runtime_error("kaput"); });
  r.add("GET", "/silent", [](const HttpRequest&, ResponseWriterPtr) {});
  r.add_prefix("GET", "/files/", [](const HttpRequest& req, ResponseWriterPtr w) {
    w->send(200, "text/plain", req.path.substr(7));
  });
  return r;
}

struct ServerFixture {
  std::shared_ptr<Held> held = std::make_shared<Held>();
  std::shared_ptr<Gate> gate;
  std::unique_ptr<HttpServer> server;
  explicit ServerFixture(ServerConfig cfg = {}, bool gated = false) {
    if (gated) gate = std::make_shared<Gate>();
    cfg.worker_threads = 2;
    server = std::make_unique<HttpServer>(cfg, make_router(held, gate));
    server->start("127.0.0.1", 0);
  }
  uint16_t port() const { return server->port(); }
};

TEST(HttpServer, GetAndPostRoundTrip) {
  ServerFixture f;
  ASSERT_NE(f.port(), 0);
  TestClient c(f.port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(http_get("/hello")));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hi");
  EXPECT_EQ(header_value(r.head, "Content-Type"), "text/plain");
  EXPECT_FALSE(header_value(r.head, "Date").empty());

  const std::string body = std::string("binary\0body", 11) + std::string(100000, 'z');
  ASSERT_TRUE(c.send(http_post("/echo?q=a%20b", body)));
  r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(header_value(r.head, "X-Query"), "a b");

  ASSERT_TRUE(c.send(http_get("/files/a/b.txt")));
  EXPECT_EQ(c.read_response().body, "a/b.txt");
}

TEST(HttpServer, ChunkedRequestBody) {
  ServerFixture f;
  TestClient c(f.port());
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "abcde");
}

TEST(HttpServer, NotFoundAndMethodNotAllowedInOpenAiShape) {
  ServerFixture f;
  TestClient c(f.port());
  ASSERT_TRUE(c.send(http_get("/v1/nope")));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 404);
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"]["message"], "Invalid URL (GET /v1/nope)");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_TRUE(j["error"]["code"].is_null());
  ASSERT_TRUE(c.send(http_post("/hello", "x")));  // same connection still usable
  r = c.read_response();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(header_value(r.head, "Allow"), "GET");
  EXPECT_TRUE(nlohmann::json::parse(r.body)["error"].contains("message"));
}

TEST(HttpServer, KeepAliveAndPipelining) {
  ServerFixture f;
  TestClient c(f.port());
  ASSERT_TRUE(c.send(http_get("/hello") + http_post("/echo", "one") + http_get("/nope") + http_post("/echo", "two")));
  EXPECT_EQ(c.read_response().body, "hi");
  EXPECT_EQ(c.read_response().body, "one");
  EXPECT_EQ(c.read_response().status, 404);
  EXPECT_EQ(c.read_response().body, "two");
  ASSERT_TRUE(c.send(http_get("/hello", "Connection: close\r\n")));
  auto r = c.read_response();
  EXPECT_EQ(r.body, "hi");
  EXPECT_EQ(header_value(r.head, "Connection"), "close");
  EXPECT_TRUE(c.closed_within(2000));
  EXPECT_EQ(f.server->stats().accepted, 1u);
}

TEST(HttpServer, Http10ClosesUnlessKeepAlive) {
  ServerFixture f;
  TestClient a(f.port());
  ASSERT_TRUE(a.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto r = a.read_response();
  EXPECT_EQ(r.head.substr(0, 12), "HTTP/1.0 200");
  EXPECT_EQ(header_value(r.head, "Connection"), "keep-alive");
  ASSERT_TRUE(a.send("GET /hello HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(a.read_response().body, "hi");
  EXPECT_TRUE(a.closed_within(2000));
}

TEST(HttpServer, HeadHasNoBody) {
  ServerFixture f;
  TestClient c(f.port());
  ASSERT_TRUE(c.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n" + http_get("/hello")));
  const std::string head = c.read_until("\r\n\r\n");
  EXPECT_EQ(header_value(head, "Content-Length"), "2");
  auto r = c.read_response();  // the next bytes must be the second response, not a body
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hi");
}

TEST(HttpServer, SseStreamIsReadIncrementally) {
  ServerFixture f({}, /*gated=*/true);
  TestClient c(f.port());
  ASSERT_TRUE(c.send(http_get("/sse?n=3")));
  const std::string head = c.read_until("\r\n\r\n");
  EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 200");
  EXPECT_EQ(header_value(head, "Content-Type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(header_value(head, "Transfer-Encoding"), "chunked");
  EXPECT_EQ(header_value(head, "Cache-Control"), "no-cache");
  // Event 0 arrives while the handler is still blocked before writing event 1.
  EXPECT_EQ(read_chunk(c).value_or("?"), "data: {\"i\":0}\ndata: line2\n\n");
  f.gate->release();
  EXPECT_EQ(read_chunk(c).value_or("?"), "data: {\"i\":1}\ndata: line2\n\n");
  EXPECT_EQ(read_chunk(c).value_or("?"), "data: {\"i\":2}\ndata: line2\n\n");
  EXPECT_EQ(read_chunk(c).value_or("?"), "data: [DONE]\n\n");
  EXPECT_EQ(read_chunk(c).value_or("?"), "");  // terminating chunk
  ASSERT_TRUE(c.send(http_get("/hello")));     // and the connection is reusable
  EXPECT_EQ(c.read_response().body, "hi");
}

TEST(HttpServer, DisconnectMidStreamCancelsWithin100ms) {
  ServerFixture f;
  for (bool abortive : {false, true}) {
    SCOPED_TRACE(abortive ? "RST" : "FIN");
    {
      std::lock_guard<std::mutex> l(f.held->mu);
      f.held->writer.reset();
      f.held->cancelled_at.reset();
    }
    TestClient c(f.port());
    ASSERT_TRUE(c.send(http_get("/hold")));
    ASSERT_FALSE(c.read_until("data: first\n\n").empty());
    ResponseWriterPtr w = f.held->wait_writer();
    ASSERT_TRUE(w);
    EXPECT_TRUE(w->is_open());
    const auto t0 = Clock::now();
    if (abortive) c.reset();
    else c.close();
    ASSERT_TRUE(f.held->wait_cancel(2000ms));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*f.held->cancelled_at - t0).count();
    EXPECT_LT(ms, 100);
    EXPECT_TRUE(w->cancelled());
    EXPECT_FALSE(w->is_open());
    EXPECT_FALSE(w->write_event("after close"));
    EXPECT_FALSE(w->finish());
    bool late = false;  // registering after the fact runs at once
    w->on_cancel([&] { late = true; });
    EXPECT_TRUE(late);
  }
  EXPECT_GE(f.server->stats().cancelled, 2u);
}

TEST(HttpServer, CancelCallbackOwningTheWriterIsReleasedSafely) {
  ServerFixture f;
  {
    TestClient c(f.port());
    ASSERT_TRUE(c.send(http_get("/selfref?finish=1")));
    ASSERT_FALSE(c.read_until("data: done\n\n\r\n0\r\n\r\n").empty());
    ASSERT_TRUE(c.send(http_get("/hello")));  // the loop is alive after dropping the callback
    EXPECT_EQ(c.read_response().body, "hi");
  }
  {
    TestClient c(f.port());
    ASSERT_TRUE(c.send(http_get("/selfref")));
    ASSERT_FALSE(c.read_until("data: waiting\n\n").empty());
    c.close();
    EXPECT_TRUE(f.held->wait_cancel(2000ms));
  }
  TestClient c(f.port());
  ASSERT_TRUE(c.send(http_get("/hello")));
  EXPECT_EQ(c.read_response().body, "hi");
}

TEST(HttpServer, SlowReaderIsCutAtTheQueueLimit) {
  ServerConfig cfg;
  cfg.max_output_queue_bytes = 256 * 1024;
  ServerFixture f(cfg);
  TestClient c(f.port());
  ASSERT_TRUE(c.send(http_get("/flood")));  // and never read
  ResponseWriterPtr w = f.held->wait_writer();
  ASSERT_TRUE(w);
  EXPECT_TRUE(w->cancelled());
  EXPECT_FALSE(w->write_event("x"));
}

TEST(HttpServer, BackPressureWithWaitWritableDeliversEverything) {
  ServerConfig cfg;
  cfg.max_output_queue_bytes = 64 * 1024;  // far below the 2 MiB the handler streams
  ServerFixture f(cfg);
  TestClient c(f.port());
  ASSERT_TRUE(c.send(http_get("/paced")));
  ASSERT_FALSE(c.read_until("\r\n\r\n").empty());
  std::this_thread::sleep_for(50ms);  // let the producer hit the limit first
  size_t total = 0;
  for (;;) {
    auto piece = read_chunk(c);
    ASSERT_TRUE(piece.has_value());
    if (piece->empty()) break;
    total += piece->size();
  }
  EXPECT_EQ(total, 128u * 16 * 1024);
  EXPECT_EQ(f.server->stats().cancelled, 0u);
}

TEST(HttpServer, Http10StreamIsCloseDelimited) {
  ServerFixture f;
  TestClient c(f.port());
  ASSERT_TRUE(c.send("GET /sse?n=1 HTTP/1.0\r\n\r\n"));
  const std::string head = c.read_until("\r\n\r\n");
  EXPECT_EQ(header_value(head, "Transfer-Encoding"), "");
  EXPECT_EQ(header_value(head, "Connection"), "close");
  EXPECT_TRUE(c.closed_within(3000));
  EXPECT_EQ(c.buffered(), "data: {\"i\":0}\ndata: line2\n\ndata: [DONE]\n\n");
}

TEST(HttpServer, OversizedBodyIs413) {
  ServerConfig cfg;
  cfg.limits.max_body_bytes = 1024;
  ServerFixture f(cfg);
  {  // Declared too large with Expect: refused before any body is sent, no 100 Continue.
    TestClient c(f.port());
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 413);
    const auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["error"]["code"], "request_too_large");
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
    EXPECT_TRUE(c.closed_within(3000));
  }
  {  // The client pushes the whole body anyway: it still reads the 413 (no reset).
    TestClient c(f.port());
    c.send(http_post("/echo", std::string(200000, 'b')));
    EXPECT_EQ(c.read_response().status, 413);
  }
  {  // Chunked bodies are counted as they arrive.
    TestClient c(f.port());
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" +
                       std::string(1024, 'a') + "\r\n1\r\na\r\n0\r\n\r\n"));
    EXPECT_EQ(c.read_response().status, 413);
  }
}

TEST(HttpServer, ExpectContinue) {
  ServerFixture f;
  TestClient c(f.port());
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(c.read_until("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.send("abcd"));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "abcd");
}

TEST(HttpServer, GarbageIs400AndCloses) {
  ServerFixture f;
  for (const std::string& junk : {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15),
                                  std::string("GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n"),
                                  std::string("GET / HTTP/3.0\r\nHost: t\r\n\r\n")}) {
    TestClient c(f.port());
    ASSERT_TRUE(c.send(junk));
    auto r = c.read_response();
    EXPECT_TRUE(r.status == 400 || r.status == 505) << r.status;
    EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["type"], "invalid_request_error");
    EXPECT_TRUE(c.closed_within(3000));
  }
  TestClient ok(f.port());  // the server is unharmed
  ASSERT_TRUE(ok.send(http_get("/hello")));
  EXPECT_EQ(ok.read_response().body, "hi");
}

TEST(HttpServer, HandlerFailuresBecomeErrorResponses) {
  ServerFixture f;
  TestClient c(f.port());
  ASSERT_TRUE(c.send(http_get("/bad-input")));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["message"], "body: not json");
  ASSERT_TRUE(c.send(http_get("/boom")));
  r = c.read_response();
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["type"], "server_error");
  ASSERT_TRUE(c.send(http_get("/silent")));
  EXPECT_EQ(c.read_response().status, 500);
}

TEST(HttpServer, SlowlorisHeadersTimeOut) {
  ServerConfig cfg;
  cfg.header_timeout = 300ms;
  ServerFixture f(cfg);
  TestClient c(f.port());
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: t\r\n"));
  bool closed = false;
  for (int i = 0; i < 30 && !closed; ++i) {  // one header line every 50 ms, never finishing
    c.send("X-" + std::to_string(i) + ": y\r\n");
    closed = c.closed_within(50);
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_TRUE(closed);
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 1200);
  EXPECT_NE(c.buffered().find("408"), std::string::npos);

  TestClient silent(f.port());  // connects and never sends a byte
  EXPECT_TRUE(silent.closed_within(1500));
}

TEST(HttpServer, IdleKeepAliveTimesOut) {
  ServerConfig cfg;
  cfg.idle_timeout = 200ms;
  ServerFixture f(cfg);
  TestClient c(f.port());
  ASSERT_TRUE(c.send(http_get("/hello")));
  EXPECT_EQ(c.read_response().body, "hi");
  EXPECT_TRUE(c.closed_within(1500));
}

TEST(HttpServer, Cors) {
  ServerConfig cfg;
  cfg.cors.allowed_origins = {"https://ok.example"};
  ServerFixture f(cfg);
  TestClient c(f.port());
  ASSERT_TRUE(c.send(http_get("/hello", "Origin: https://ok.example\r\n")));
  auto r = c.read_response();
  EXPECT_EQ(header_value(r.head, "Access-Control-Allow-Origin"), "https://ok.example");
  EXPECT_EQ(header_value(r.head, "Vary"), "Origin");
  ASSERT_TRUE(c.send(http_get("/hello", "Origin: https://evil.example\r\n")));
  r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(header_value(r.head, "Access-Control-Allow-Origin"), "");
  ASSERT_TRUE(c.send("OPTIONS /echo HTTP/1.1\r\nHost: t\r\nOrigin: https://ok.example\r\n"
                     "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n"));
  r = c.read_response();
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(header_value(r.head, "Access-Control-Allow-Origin"), "https://ok.example");
  EXPECT_NE(header_value(r.head, "Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_FALSE(header_value(r.head, "Access-Control-Max-Age").empty());
  ASSERT_TRUE(c.send("OPTIONS /echo HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n"
                     "Access-Control-Request-Method: POST\r\n\r\n"));
  EXPECT_EQ(c.read_response().status, 403);
}

TEST(HttpServer, GracefulStopFinishesInFlightStream) {
  ServerConfig cfg;
  cfg.drain_timeout = 3000ms;
  ServerFixture f(cfg);
  TestClient streaming(f.port());
  TestClient idle(f.port());
  ASSERT_TRUE(idle.send(http_get("/hello")));
  EXPECT_EQ(idle.read_response().body, "hi");
  ASSERT_TRUE(streaming.send(http_get("/hold")));
  ASSERT_FALSE(streaming.read_until("\r\n\r\n").empty());
  EXPECT_EQ(read_chunk(streaming).value_or("?"), "data: first\n\n");
  ResponseWriterPtr w = f.held->wait_writer();
  ASSERT_TRUE(w);

  const auto t0 = Clock::now();
  auto stopped = std::async(std::launch::async, [&] { f.server->stop(); });
  EXPECT_TRUE(idle.closed_within(1000));  // idle keep-alive connections go at once
  // No new connections once draining.
  bool refused = false;
  for (int i = 0; i < 40 && !refused; ++i) {
    TestClient late(f.port());
    refused = !late.ok() || (late.send(http_get("/hello")) && late.closed_within(200) && late.buffered().empty());
    if (!refused) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(refused);
  // The in-flight stream keeps working until it finishes on its own.
  EXPECT_EQ(stopped.wait_for(100ms), std::future_status::timeout);
  EXPECT_TRUE(w->write_event("during drain"));
  EXPECT_TRUE(w->finish());
  EXPECT_EQ(read_chunk(streaming).value_or("?"), "data: during drain\n\n");
  EXPECT_EQ(read_chunk(streaming).value_or("?"), "");
  EXPECT_TRUE(streaming.closed_within(2000));
  streaming.close();  // the server lingers for our FIN after its own
  ASSERT_EQ(stopped.wait_for(2s), std::future_status::ready);
  EXPECT_LT(Clock::now() - t0, 2500ms);  // well before the drain deadline
}

TEST(HttpServer, DrainDeadlineCancelsUnfinishedStreams) {
  ServerConfig cfg;
  cfg.drain_timeout = 300ms;
  ServerFixture f(cfg);
  TestClient streaming(f.port());
  ASSERT_TRUE(streaming.send(http_get("/hold")));
  ResponseWriterPtr w = f.held->wait_writer();
  ASSERT_TRUE(w);
  const auto t0 = Clock::now();
  f.server->stop();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 1500);
  EXPECT_TRUE(f.held->wait_cancel(100ms));
  EXPECT_FALSE(w->write_event("too late"));
  EXPECT_TRUE(streaming.closed_within(1000));
}

TEST(HttpServer, SigtermStartsTheDrain) {
  ServerFixture f;
  install_drain_signals(*f.server);
  std::raise(SIGTERM);
  auto done = std::async(std::launch::async, [&] { f.server->wait(); });
  EXPECT_EQ(done.wait_for(3s), std::future_status::ready);
  uninstall_drain_signals();
}

TEST(HttpServer, StartFailsCleanly) {
  ServerFixture f;
  HttpServer other(ServerConfig{}, Router{});
  EXPECT_THROW(other.start("127.0.0.1", f.port()), nova::Error);  // port in use
  HttpServer bad(ServerConfig{}, Router{});
  EXPECT_THROW(bad.start("not a host name!", 0), nova::Error);
}

}  // namespace
}  // namespace nova::serve::http
