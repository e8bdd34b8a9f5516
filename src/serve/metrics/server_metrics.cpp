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
      kv_cache_blocks_used(r.gauge("nova_kv_cache_blocks_used", "KV-cache blocks referenced by live sequences.").get()),
      kv_cache_blocks_total(r.gauge("nova_kv_cache_blocks_total", "KV-cache blocks in the pool.").get()),
      preemptions_total(r.counter("nova_preemptions_total", "Sequences preempted for lack of KV-cache blocks.").get()),
      engine_steps_total(r.counter("nova_engine_steps_total", "Scheduler steps (iterations of the batch loop).").get()),
      prefix_cache_queries_total(
          r.counter("nova_prefix_cache_queries_total", "Prompt blocks looked up in the prefix cache.").get()),
      prefix_cache_hits_total(r.counter("nova_prefix_cache_hits_total", "Prompt blocks found in the prefix cache.").get()),
      http_open_connections(r.gauge("nova_http_open_connections", "Open HTTP connections.").get()),
      http_disconnects_total(
          r.counter("nova_http_disconnects_total", "Responses cut short because the client went away.").get()),
      rate_limited_total(r.counter("nova_rate_limited_total", "Requests refused by a rate limit, by limit.", {"limit"})) {}

void ServerMetrics::count_request(std::string_view endpoint, int status) {
  requests_total.with({std::string(endpoint), std::to_string(status)}).inc();
}

}  // namespace nova::serve::metrics
