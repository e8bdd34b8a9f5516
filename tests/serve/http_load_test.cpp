// Many concurrent streams and hostile bytes against the server, over 127.0.0.1 only.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "serve/http/http_server.h"
#include "serve/http_test_client.h"
#include "support/fixtures.h"

namespace nova::serve::http {
namespace {

using namespace std::chrono_literals;
using test::TestClient;

bool raise_fd_limit(rlim_t want) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur >= want) return true;
  if (lim.rlim_max < want) return false;
  lim.rlim_cur = want;
  return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

size_t thread_count() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Reads one chunk payload; "" for the terminator; "?" on failure.
std::string chunk(TestClient& c) {
  const std::string size_line = c.read_until("\r\n", 5000);
  if (size_line.empty()) return "?";
  const size_t n = std::stoul(size_line, nullptr, 16);
  const std::string data = c.read_exact(n + 2, 5000);
  return data.size() == n + 2 ? data.substr(0, n) : "?";
}

TEST(HttpLoad, ThousandConcurrentSseStreams) {
  constexpr size_t kClients = 1000;
  if (!raise_fd_limit(2 * kClients + 256)) GTEST_SKIP() << "RLIMIT_NOFILE too low for " << kClients << " clients";

  std::mutex mu;
  std::condition_variable cv;
  std::vector<ResponseWriterPtr> writers;
  Router r;
  r.add("GET", "/stream", [&](const HttpRequest&, ResponseWriterPtr w) {
    w->start_sse();
    w->write_event("hello");
    std::lock_guard<std::mutex> l(mu);
    writers.push_back(std::move(w));
    cv.notify_all();
  });
  ServerConfig cfg;
  cfg.worker_threads = 2;
  HttpServer server(cfg, std::move(r));
  server.start("127.0.0.1", 0);
  const size_t threads_before = thread_count();

  std::vector<std::unique_ptr<TestClient>> clients;
  clients.reserve(kClients);
  for (size_t i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<TestClient>(server.port()));
    ASSERT_TRUE(clients.back()->ok()) << i;
    ASSERT_TRUE(clients.back()->send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
  }
  {  // Every stream is open at the same time before any of them gets its next event.
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, 20s, [&] { return writers.size() == kClients; })) << writers.size();
  }
  EXPECT_EQ(server.stats().open_connections, kClients);
  EXPECT_LE(thread_count(), threads_before + 2);  // no thread per connection

  for (auto& w : writers) {
    EXPECT_TRUE(w->write_event("tok1"));
    EXPECT_TRUE(w->write_event("tok2"));
    EXPECT_TRUE(w->finish());
  }
  size_t good = 0;
  for (auto& c : clients) {
    if (c->read_until("\r\n\r\n", 5000).empty()) continue;
    const bool ok = chunk(*c) == "data: hello\n\n" && chunk(*c) == "data: tok1\n\n" &&
                    chunk(*c) == "data: tok2\n\n" && chunk(*c).empty();
    good += ok;
  }
  EXPECT_EQ(good, kClients);
  writers.clear();
  clients.clear();
  server.stop();
}

// Mutated requests on concurrent connections: each is answered or closed by a timeout, the
// server never crashes or hangs, and it still serves afterwards.
TEST(HttpLoad, HostileRequestsNeverHangTheServer) {
  Router r;
  r.add("POST", "/echo", [](const HttpRequest& req, ResponseWriterPtr w) { w->send(200, "text/plain", req.body); });
  r.add("GET", "/hello", [](const HttpRequest&, ResponseWriterPtr w) { w->send(200, "text/plain", "hi"); },
        Dispatch::kInline);
  ServerConfig cfg;
  cfg.worker_threads = 2;
  cfg.header_timeout = 200ms;
  cfg.body_timeout = 200ms;
  cfg.idle_timeout = 200ms;
  cfg.linger_timeout = 200ms;
  cfg.limits.max_body_bytes = 4096;
  HttpServer server(cfg, std::move(r));
  server.start("127.0.0.1", 0);

  constexpr int kCases = 300;
  ASSERT_TRUE(raise_fd_limit(2 * kCases + 256));
  const std::string seed =
      "POST /echo?a=%41 HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\nhello world"
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  std::vector<std::unique_ptr<TestClient>> clients;
  nova::test::mutate_each(seed, kCases, 7, [&](const std::string& s) {
    clients.push_back(std::make_unique<TestClient>(server.port()));
    if (clients.back()->ok()) clients.back()->send(s);
  });
  int closed = 0;
  for (auto& c : clients) closed += c->closed_within(3000);
  EXPECT_EQ(closed, kCases);  // every connection ends: answered then idle, or timed out
  clients.clear();
  // Server-side, lingering half-closed connections go once the clients close theirs.
  for (int i = 0; i < 100 && server.stats().open_connections > 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server.stats().open_connections, 0u);

  TestClient ok(server.port());
  ASSERT_TRUE(ok.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(ok.read_response().body, "hi");
}

}  // namespace
}  // namespace nova::serve::http
