#include "serve/app/serve_app.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/app/completion_job.h"
#include "serve/auth/key_store_spec.h"
#include "serve/limits/memory_rate_limiter.h"
#include "serve/limits/redis_url.h"
#include "serve/openai/completion_request.h"
#include "serve/openai/responses.h"

namespace nova::serve::app {

using openai::InvalidRequest;
using openai::Json;

namespace {

// The request field an engine validation error names ("sampling.top_p" -> "top_p").
std::string param_of(const Error& e) {
  std::string w = e.where();
  if (const auto dot = w.rfind('.'); dot != std::string::npos) w = w.substr(dot + 1);
  return w;
}

const char* endpoint_path(Endpoint e) {
  return e == Endpoint::kChat ? "/v1/chat/completions" : e == Endpoint::kCompletion ? "/v1/completions" : "/invocations";
}

std::shared_ptr<limits::RateLimiter> make_limiter(const ServeAppOptions& o) {
  if (!o.redis_url.empty()) return std::make_shared<limits::RedisRateLimiter>(limits::parse_redis_url(o.redis_url));
  return std::make_shared<limits::MemoryRateLimiter>();
}

std::unique_ptr<logging::RequestLogger> make_logger(const ServeAppOptions& o) {
  if (o.request_log.empty()) return nullptr;
  if (o.request_log == "-") return logging::RequestLogger::to_stderr(o.log_prompts);
  return logging::RequestLogger::open_file(o.request_log, o.log_prompts);
}

std::string limit_text(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "unlimited"; }

}  // namespace

ServeApp::ServeApp(ServeAppOptions options) : options_(std::move(options)), model_(ModelBundle::load(options_.model_dir)) {
  require(options_.max_prompt_tokens >= 0, "max_prompt_tokens", "must be >= 0");
  metrics_ = std::make_unique<metrics::ServerMetrics>(registry_);
  logger_ = make_logger(options_);
  telemetry_ = Telemetry{metrics_.get(), logger_.get(), model_.name};
  auth::Authenticator authenticator =
      options_.api_keys.empty() ? auth::Authenticator::no_auth() : auth::Authenticator(auth::open_key_store(options_.api_keys));
  gate_ = std::make_unique<AccessGate>(std::move(authenticator), make_limiter(options_), options_.default_limits,
                                       metrics_.get());
  detok_ = std::make_unique<engine::TokenizerDetokenizer>(*model_.tokenizer);
  engine_ = std::make_unique<engine::LlmEngine>(model_.model, detok_.get(), options_.engine);
  embedder_ = std::make_unique<Embedder>(model_.model);
  created_ = openai::unix_now();
}

ServeApp::~ServeApp() { stop(); }

void ServeApp::start(const std::string& host, uint16_t port) {
  require(!server_, "serve", "already started");
  server_ = std::make_unique<http::HttpServer>(options_.server, router());
  server_->start(host, port);
}

uint16_t ServeApp::port() const { return server_ ? server_->port() : 0; }

void ServeApp::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (server_) server_->stop();
  if (engine_) engine_->drain();
}

std::string ServeApp::policy_summary() const {
  std::string s = options_.api_keys.empty()
                      ? "auth OFF: open server, no API key needed (pass --api-keys to require keys)"
                      : "auth ON: API keys from " + auth::describe_key_store(options_.api_keys);
  const auto& l = options_.default_limits;
  s += "; default limits per key: " + limit_text(l.requests_per_minute) + " requests/min, " +
       limit_text(l.tokens_per_minute) + " tokens/min";
  s += options_.redis_url.empty() ? " (kept in memory)" : " (shared via " + limits::redact_redis_url(options_.redis_url) + ")";
  return s;
}

std::shared_ptr<RequestRecord> ServeApp::new_record(const std::string& endpoint, const http::HttpRequest& req) {
  return std::make_shared<RequestRecord>(telemetry_, endpoint, openai::make_id("req-"), req.peer);
}

void ServeApp::guarded(http::ResponseWriter& w, RequestRecord& record, const std::function<void()>& body) {
  try {
    body();
  } catch (const InvalidRequest& e) {
    if (!record.finished()) answer_error(w, record, e.status(), e.message(), e.code(), e.param());
  } catch (const Error& e) {
    if (!record.finished()) answer_error(w, record, 400, e.problem(), "invalid_value", param_of(e));
  } catch (const std::exception&) {
    if (!record.finished()) answer_error(w, record, 500, "Internal server error.", "internal_error");
  }
}

void ServeApp::handle_generation(Endpoint endpoint, const http::HttpRequest& req, http::ResponseWriterPtr w) {
  auto record = new_record(endpoint_path(endpoint), req);
  guarded(*w, *record, [&] {
    const auto who = gate_->authenticate(req, *w, *record);
    if (!who) return;
    const Json body = openai::parse_json_body(req.body, options_.server.limits.max_body_bytes);
    const RequestBounds bounds{options_.max_prompt_tokens};
    GenerationRequest g = endpoint == Endpoint::kChat         ? build_chat_request(body, model_, bounds)
                          : endpoint == Endpoint::kCompletion ? build_completion_request(body, model_, bounds)
                                                              : build_invocation_request(body, model_, bounds);
    g.engine.timeout = options_.request_timeout;
    const auto admitted = gate_->admit(*who, g.token_budget(), *w, *record);
    if (!admitted) return;
    auto reservation = std::make_shared<Reservation>(*admitted);
    AccessGate* gate = gate_.get();
    auto job = std::make_shared<CompletionJob>(
        model_, std::move(g), w, record, metrics_.get(), reservation->headers,
        [gate, reservation](int64_t used) { gate->settle(*reservation, used); });
    const GenerationRequest& gr = job->request();
    std::vector<uint64_t> submitted;
    int status = 0;
    std::string message, code, param;
    {
      // Events wait on this lock until every choice is in and the stream head is out.
      std::lock_guard lock(job->mutex());
      for (int i = 0; i < gr.choices() && status == 0; ++i) {
        engine::EngineRequest r = gr.engine;
        r.prompt = gr.prompts[static_cast<size_t>(i / gr.n)].ids;
        r.sampling.seed += static_cast<uint64_t>(i % gr.n);  // n samples, not n copies of one
        r.cancel = job->add_choice();
        r.on_token = [job, i](const engine::TokenEvent& ev) { return job->on_event(i, ev); };
        try {
          const auto res = engine_->submit(std::move(r));
          if (res.status == engine::EngineStatus::QueueFull)
            status = 429, message = "The server is at capacity (its request queue is full); retry shortly.",
            code = "server_overloaded";
          else if (res.status == engine::EngineStatus::ShuttingDown)
            status = 503, message = "The server is shutting down.", code = "server_shutting_down";
          else
            submitted.push_back(res.handle->id());
        } catch (const Error& e) {
          status = 400, message = e.problem(), code = "invalid_value", param = param_of(e);
        }
      }
      if (status != 0) job->mark_failed();
      else if (gr.stream) job->start_stream();
    }
    if (status == 0) {
      // Disconnect: the tokens stop the requests at the engine's next step, freeing their blocks.
      w->on_cancel([weak = std::weak_ptr<CompletionJob>(job), m = metrics_.get()] {
        m->http_disconnects_total.inc();
        if (auto j = weak.lock()) j->cancel_all();
      });
      return;
    }
    job->cancel_all();
    for (uint64_t id : submitted) engine_->cancel(id);
    gate_->settle(*reservation, 0);
    http::Headers h = reservation->headers;
    if (status == 429 || status == 503) h.emplace_back("Retry-After", "1");
    answer_error(*w, *record, status, message, code, param, h);
  });
}

void ServeApp::handle_embeddings(const http::HttpRequest& req, http::ResponseWriterPtr w) {
  auto record = new_record("/v1/embeddings", req);
  guarded(*w, *record, [&] {
    const auto who = gate_->authenticate(req, *w, *record);
    if (!who) return;
    const Json body = openai::parse_json_body(req.body, options_.server.limits.max_body_bytes);
    const openai::EmbeddingRequest er = openai::embedding_request_from_json(body);
    if (!er.model.empty() && er.model != model_.name)
      throw InvalidRequest("model", "The model '" + er.model + "' does not exist; this server serves '" + model_.name + "'.",
                           "model_not_found", 404);
    const int64_t dims = er.dimensions.value_or(embedder_->dimensions());
    if (dims > embedder_->dimensions())
      throw InvalidRequest("dimensions", "'dimensions' is " + std::to_string(dims) + " but this model's embeddings have " +
                                             std::to_string(embedder_->dimensions()) + ".");
    const RequestBounds bounds{options_.max_prompt_tokens};
    std::vector<std::vector<int32_t>> inputs;
    int64_t total = 0;
    for (size_t i = 0; i < er.inputs.size(); ++i) {
      const std::string param = er.inputs.size() == 1 ? "input" : openai::index_path("input", i);
      const auto& in = er.inputs[i];
      if (in.text) check_text_size(*in.text, model_, bounds, param);
      std::vector<int32_t> ids = in.text ? model_.tokenizer->encode(*in.text, /*add_special_tokens=*/true) : in.token_ids;
      if (!in.text) check_token_ids(ids, model_, param);
      if (ids.empty()) throw InvalidRequest(param, "'" + param + "' has no tokens.");
      check_prompt_length(static_cast<int64_t>(ids.size()), model_, bounds, param);
      total += static_cast<int64_t>(ids.size());
      inputs.push_back(std::move(ids));
    }
    record->set_prompt(er.inputs.size() == 1 && er.inputs[0].text ? *er.inputs[0].text : std::string(), total);
    const auto admitted = gate_->admit(*who, total, *w, *record);
    if (!admitted) return;
    std::vector<std::vector<float>> vectors;
    for (const auto& ids : inputs) {
      if (w->cancelled()) break;
      std::vector<float> v = embedder_->embed(ids);
      if (dims < static_cast<int64_t>(v.size())) {  // shortened as OpenAI's `dimensions`: cut, renormalise
        v.resize(static_cast<size_t>(dims));
        l2_normalize(v);
      }
      vectors.push_back(std::move(v));
    }
    gate_->settle(*admitted, total);
    if (w->cancelled()) {
      record->finish(kStatusClientClosed);
      return;
    }
    record->finish(200);
    w->send_json(200, openai::dump_json(openai::embeddings_json(model_.name, vectors, er.encoding_format, total)),
                 admitted->headers);
  });
}

void ServeApp::handle_models(const http::HttpRequest& req, http::ResponseWriterPtr w, bool one) {
  auto record = new_record(one ? "/v1/models/{id}" : "/v1/models", req);
  guarded(*w, *record, [&] {
    if (!gate_->authenticate(req, *w, *record)) return;
    Json card = openai::models_json({{model_.name, created_, "nova"}})["data"][0];
    card["max_model_len"] = model_.max_context;
    if (one) {
      const std::string id = req.path.substr(std::string("/v1/models/").size());
      if (id != model_.name) {
        answer_error(*w, *record, 404, "The model '" + id + "' does not exist.", "model_not_found", "model");
        return;
      }
      record->finish(200);
      w->send_json(200, openai::dump_json(card));
    } else {
      record->finish(200);
      w->send_json(200, openai::dump_json(Json{{"object", "list"}, {"data", Json::array({card})}}));
    }
  });
}

http::Router ServeApp::router() {
  http::Router r;
  auto gen = [this](Endpoint e) {
    return [this, e](const http::HttpRequest& req, http::ResponseWriterPtr w) { handle_generation(e, req, std::move(w)); };
  };
  r.add("POST", "/v1/chat/completions", gen(Endpoint::kChat));
  r.add("POST", "/v1/completions", gen(Endpoint::kCompletion));
  r.add("POST", "/invocations", gen(Endpoint::kInvocation));
  r.add("POST", "/v1/embeddings",
        [this](const http::HttpRequest& req, http::ResponseWriterPtr w) { handle_embeddings(req, std::move(w)); });
  r.add("GET", "/v1/models",
        [this](const http::HttpRequest& req, http::ResponseWriterPtr w) { handle_models(req, std::move(w), false); });
  r.add_prefix("GET", "/v1/models/",
               [this](const http::HttpRequest& req, http::ResponseWriterPtr w) { handle_models(req, std::move(w), true); });
  auto admin = [this](const http::HttpRequest& req, http::ResponseWriterPtr w) { handle_admin_keys(req, std::move(w)); };
  r.add("GET", "/v1/admin/keys", admin);
  r.add("POST", "/v1/admin/keys", admin);
  r.add_prefix("DELETE", "/v1/admin/keys/",
               [this](const http::HttpRequest& req, http::ResponseWriterPtr w) { handle_admin_revoke(req, std::move(w)); });
  // Everything else: a counted, logged 404 (the label is "other": raw paths would let clients
  // mint unbounded metric series). Known paths with a wrong method still get the router's 405.
  auto not_found = [this](const http::HttpRequest& req, http::ResponseWriterPtr w) {
    auto record = new_record("other", req);
    answer_error(*w, *record, 404, "No route matches " + req.method + " on this path.", "unknown_route");
  };
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) r.add_prefix(method, "/", not_found);
  auto health = [](const http::HttpRequest&, http::ResponseWriterPtr w) { w->send_json(200, R"({"status":"ok"})"); };
  r.add("GET", "/health", health, http::Dispatch::kInline);
  r.add("GET", "/ping", health, http::Dispatch::kInline);
  r.add(
      "GET", "/metrics",
      [this](const http::HttpRequest&, http::ResponseWriterPtr w) {
        w->send(200, metrics::Registry::kContentType, metrics_text());
      },
      http::Dispatch::kInline);
  return r;
}

std::string ServeApp::metrics_text() {
  {
    std::lock_guard lock(scrape_mu_);
    const engine::EngineStats e = engine_->stats();
    auto& m = *metrics_;
    m.queue_length.set(static_cast<double>(e.waiting));
    m.running_batch_size.set(static_cast<double>(e.running));
    m.kv_cache_usage_ratio.set(e.kv.usage());
    m.kv_cache_blocks_used.set(static_cast<double>(e.kv.used_blocks));
    m.kv_cache_blocks_total.set(static_cast<double>(e.kv.total_blocks));
    metrics::ServerMetrics::sync_counter(m.preemptions_total, static_cast<double>(e.preemptions));
    metrics::ServerMetrics::sync_counter(m.engine_steps_total, static_cast<double>(e.steps));
    metrics::ServerMetrics::sync_counter(m.prefix_cache_queries_total, static_cast<double>(e.kv.prefix_queries));
    metrics::ServerMetrics::sync_counter(m.prefix_cache_hits_total, static_cast<double>(e.kv.prefix_hits));
    if (server_) m.http_open_connections.set(static_cast<double>(server_->stats().open_connections));
  }
  return registry_.render();
}

}  // namespace nova::serve::app
