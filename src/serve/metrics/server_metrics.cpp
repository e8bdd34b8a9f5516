#include "serve/metrics/server_metrics.h"

#include <string>

namespace nova::serve::metrics {

ServerMetrics::ServerMetrics(Registry& r)
    : registry(r),
      requests_total(r.counter("nova_requests_total", "HTTP requests answered, by endpoint and status code.",
                               {"endpoint", "status"})),
      time_to_first_token_seconds(r.histogram("nova_time_to_first_token_seconds",
                                              "Time from request arrival to the first generated token.",
                                              kTimeToFirstTokenBuckets)
                                      .get()),
      inter_token_latency_seconds(r.histogram("nova_inter_token_latency_seconds",
                                              "Time between consecutive generated tokens of one sequence.",
                                              kInterTokenBuckets)
                                      .get()),
      e2e_request_latency_seconds(r.histogram("nova_e2e_request_latency_seconds",
                                              "Time from request arrival to the last byte of the response.",
                                              kEndToEndBuckets)
                                      .get()),
      prompt_tokens_total(r.counter("nova_prompt_tokens_total", "Prompt tokens processed.").get()),
      generation_tokens_total(r.counter("nova_generation_tokens_total", "Tokens generated.").get()),
      queue_length(r.gauge("nova_queue_length", "Requests waiting to be scheduled.").get()),
      running_batch_size(r.gauge("nova_running_batch_size", "Sequences in the running batch.").get()),
      kv_cache_usage_ratio(r.gauge("nova_kv_cache_usage_ratio", "Fraction of KV-cache blocks in use (0 to 1).").get()),
      rate_limited_total(r.counter("nova_rate_limited_total", "Requests refused by a rate limit, by limit.", {"limit"})) {}

void ServerMetrics::count_request(std::string_view endpoint, int status) {
  requests_total.with({std::string(endpoint), std::to_string(status)}).inc();
}

}  // namespace nova::serve::metrics
