#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "core/error.h"
#include "serve/metrics/registry.h"
#include "serve/metrics/server_metrics.h"
#include "serve/metrics/text_format.h"

namespace nova::serve::metrics {
namespace {

// Expected texts below are written by hand from the exposition format spec (0.0.4): HELP and
// TYPE lines first, label values escaped (\\ \" \n), histogram buckets cumulative with a
// final le="+Inf" equal to _count, then _sum and _count.
TEST(MetricsText, GoldenExposition) {
  Registry r;
  auto& requests = r.counter("http_requests_total", "Requests.\nSecond line \\ backslash", {"method", "path"});
  requests.with({"POST", "/v1"}).inc();
  requests.with({"GET", "/a\"b\\c\nd"}).inc();
  requests.with({"GET", "/a\"b\\c\nd"}).inc(2);
  requests.with({"GET", "/a\"b\\c\nd"}).inc(-5);  // counters never go down
  r.counter("unused_total", "Never touched.", {"a"});
  r.gauge("temp_celsius", "Temperature.").get().set(-2.5);
  auto& lat = r.histogram("lat_seconds", "Latency.", {0.25, 0.5, 1}).get();
  for (double v : {0.125, 0.25, 0.375, 2.0}) lat.observe(v);
  auto& by_model = r.histogram("model_seconds", "Per model.", {1}, {"model"});
  by_model.with({"m"}).observe(0.5);

  const std::string expected =
      "# HELP http_requests_total Requests.\\nSecond line \\\\ backslash\n"
      "# TYPE http_requests_total counter\n"
      "http_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"
      "http_requests_total{method=\"POST\",path=\"/v1\"} 1\n"
      "# HELP temp_celsius Temperature.\n"
      "# TYPE temp_celsius gauge\n"
      "temp_celsius -2.5\n"
      "# HELP lat_seconds Latency.\n"
      "# TYPE lat_seconds histogram\n"
      "lat_seconds_bucket{le=\"0.25\"} 2\n"
      "lat_seconds_bucket{le=\"0.5\"} 3\n"
      "lat_seconds_bucket{le=\"1\"} 3\n"
      "lat_seconds_bucket{le=\"+Inf\"} 4\n"
      "lat_seconds_sum 2.75\n"
      "lat_seconds_count 4\n"
      "# HELP model_seconds Per model.\n"
      "# TYPE model_seconds histogram\n"
      "model_seconds_bucket{model=\"m\",le=\"1\"} 1\n"
      "model_seconds_bucket{model=\"m\",le=\"+Inf\"} 1\n"
      "model_seconds_sum{model=\"m\"} 0.5\n"
      "model_seconds_count{model=\"m\"} 1\n";
  EXPECT_EQ(r.render(), expected);
}

TEST(MetricsText, UntouchedUnlabelledMetricsExportZero) {
  Registry r;
  r.counter("a_total", "A.");
  r.histogram("h", "H.", {1});
  EXPECT_EQ(r.render(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST(MetricsText, ValueFormatting) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(-7), "-7");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(1e-05), "1e-05");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_help("a\\b\"c\nd"), "a\\\\b\"c\\nd");  // quotes stay in HELP
}

TEST(MetricsRegistry, RejectsBadDeclarations) {
  Registry r;
  r.counter("x_total", "X.");
  EXPECT_THROW(r.counter("x_total", "again"), Error);
  EXPECT_THROW(r.counter("1bad", "X."), Error);
  EXPECT_THROW(r.counter("ok_total", "X.", {"__reserved"}), Error);
  EXPECT_THROW(r.counter("ok_total", "X.", {"a", "a"}), Error);
  EXPECT_THROW(r.histogram("h", "H.", {1}, {"le"}), Error);
  EXPECT_THROW(r.histogram("h", "H.", {1, 1}), Error);
  EXPECT_THROW(r.histogram("h", "H.", {}), Error);
  EXPECT_THROW(r.histogram("h", "H.", {1, std::numeric_limits<double>::infinity()}), Error);
  r.histogram("lat", "L.", {1});
  EXPECT_THROW(r.counter("lat_count", "clash"), Error);
  EXPECT_THROW(r.gauge("lat", "clash"), Error);
  auto& f = r.counter("with_labels_total", "W.", {"a", "b"});
  EXPECT_THROW(f.with({"only-one"}), Error);
}

TEST(MetricsRegistry, ConcurrentUpdatesAreExact) {
  Registry r;
  auto& c = r.counter("c_total", "C.", {"t"});
  auto& g = r.gauge("g", "G.").get();
  auto& h = r.histogram("h", "H.", {0.5, 1.5}).get();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        c.with({t % 2 ? "odd" : "even"}).inc();
        g.inc();
        h.observe(i % 2);  // 0 or 1: exact in binary, so the sum is exact too
        if (i % 1000 == 0) (void)r.render();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.with({"odd"}).value(), 20000);
  EXPECT_EQ(c.with({"even"}).value(), 20000);
  EXPECT_EQ(g.value(), 40000);
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{20000, 40000, 40000}));
  EXPECT_EQ(s.sum, 20000);
}

TEST(MetricsServer, PredeclaredMetrics) {
  Registry r;
  ServerMetrics m(r);
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/completions", 429);
  m.rate_limited_total.with({"tokens"}).inc();
  m.time_to_first_token_seconds.observe(0.03);
  m.prompt_tokens_total.inc(12);
  m.kv_cache_usage_ratio.set(0.25);
  const std::string text = r.render();
  for (const char* line : {
           "# TYPE nova_requests_total counter\n",
           "nova_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2\n",
           "nova_requests_total{endpoint=\"/v1/completions\",status=\"429\"} 1\n",
           "# TYPE nova_time_to_first_token_seconds histogram\n",
           "nova_time_to_first_token_seconds_bucket{le=\"0.02\"} 0\n",
           "nova_time_to_first_token_seconds_bucket{le=\"0.04\"} 1\n",
           "nova_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1\n",
           "nova_time_to_first_token_seconds_count 1\n",
           "# TYPE nova_inter_token_latency_seconds histogram\n",
           "# TYPE nova_e2e_request_latency_seconds histogram\n",
           "nova_prompt_tokens_total 12\n",
           "nova_generation_tokens_total 0\n",
           "# TYPE nova_queue_length gauge\nnova_queue_length 0\n",
           "# TYPE nova_running_batch_size gauge\n",
           "nova_kv_cache_usage_ratio 0.25\n",
           "nova_rate_limited_total{limit=\"tokens\"} 1\n",
       })
    EXPECT_NE(text.find(line), std::string::npos) << line;
}

}  // namespace
}  // namespace nova::serve::metrics
