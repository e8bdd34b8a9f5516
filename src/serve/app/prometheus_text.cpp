#include "serve/app/prometheus_text.h"

#include <sstream>

namespace nova::serve::app {

namespace {

void metric(std::ostringstream& out, const char* name, const char* type, const char* help, const std::string& labels,
            double value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
      << name << "{" << labels << "} " << value << "\n";
}

// Prometheus label values escape backslash, quote and newline.
std::string label_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

std::string engine_prometheus_text(const engine::EngineStats& e, const http::HttpServer::Stats& s,
                                   const std::string& model_name) {
  std::ostringstream out;
  const std::string l = "model_name=\"" + label_value(model_name) + "\"";
  metric(out, "nova_num_requests_waiting", "gauge", "Requests queued for the engine.", l, static_cast<double>(e.waiting));
  metric(out, "nova_num_requests_running", "gauge", "Requests in the running batch.", l, static_cast<double>(e.running));
  metric(out, "nova_kv_cache_blocks_total", "gauge", "KV cache blocks in the pool.", l,
         static_cast<double>(e.kv.total_blocks));
  metric(out, "nova_kv_cache_blocks_used", "gauge", "KV cache blocks referenced by sequences.", l,
         static_cast<double>(e.kv.used_blocks));
  metric(out, "nova_kv_cache_usage_ratio", "gauge", "Fraction of KV cache blocks in use.", l, e.kv.usage());
  metric(out, "nova_prefix_cache_queries_total", "counter", "Prompt blocks looked up in the prefix cache.", l,
         static_cast<double>(e.kv.prefix_queries));
  metric(out, "nova_prefix_cache_hits_total", "counter", "Prompt blocks found in the prefix cache.", l,
         static_cast<double>(e.kv.prefix_hits));
  metric(out, "nova_num_preemptions_total", "counter", "Sequences preempted for lack of KV blocks.", l,
         static_cast<double>(e.preemptions));
  metric(out, "nova_engine_steps_total", "counter", "Engine step-loop iterations.", l, static_cast<double>(e.steps));
  metric(out, "nova_generation_tokens_total", "counter", "Tokens generated.", l,
         static_cast<double>(e.generated_tokens));
  metric(out, "nova_http_open_connections", "gauge", "Open HTTP connections.", l,
         static_cast<double>(s.open_connections));
  metric(out, "nova_http_requests_total", "counter", "HTTP requests dispatched or answered.", l,
         static_cast<double>(s.requests));
  metric(out, "nova_http_cancelled_total", "counter", "Responses cut short by a client disconnect.", l,
         static_cast<double>(s.cancelled));
  return out.str();
}

}  // namespace nova::serve::app
