#include "serve/app/serve_app.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/app/completion_job.h"
#include "serve/app/prometheus_text.h"

namespace nova::serve::app {

using nlohmann::json;

namespace {

// The request field an engine validation error names ("sampling.top_p" -> "top_p").
std::string param_of(const Error& e) {
  std::string w = e.where();
  if (const auto dot = w.rfind('.'); dot != std::string::npos) w = w.substr(dot + 1);
  return w;
}

}  // namespace

ServeApp::ServeApp(ServeAppOptions options) : options_(std::move(options)), model_(ModelBundle::load(options_.model_dir)) {
  detok_ = std::make_unique<engine::TokenizerDetokenizer>(*model_.tokenizer);
  engine_ = std::make_unique<engine::LlmEngine>(model_.model, detok_.get(), options_.engine);
  created_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count();
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

void ServeApp::handle_generation(Endpoint endpoint, const http::HttpRequest& req, http::ResponseWriterPtr w) {
  ParsedRequest parsed;
  try {
    parsed = endpoint == Endpoint::kChat         ? parse_chat_request(req.body, model_)
             : endpoint == Endpoint::kCompletion ? parse_completion_request(req.body, model_)
                                                 : parse_invocation_request(req.body, model_);
  } catch (const RequestError& e) {
    w->send_error(400, e.message, std::nullopt,
                  e.param.empty() ? std::nullopt : std::optional<std::string_view>(e.param));
    return;
  }
  auto job = std::make_shared<CompletionJob>(model_, parsed, w);
  std::vector<uint64_t> submitted;
  int status = 0;
  std::string message, param;
  {
    // Events wait on this lock until every choice is in and the stream head is out.
    std::lock_guard lock(job->mutex());
    for (int i = 0; i < parsed.n && status == 0; ++i) {
      engine::EngineRequest r = parsed.engine;
      r.sampling.seed += static_cast<uint64_t>(i);  // n samples, not n copies of one
      r.cancel = job->add_choice();
      r.on_token = [job, i](const engine::TokenEvent& ev) { return job->on_event(i, ev); };
      try {
        const auto res = engine_->submit(std::move(r));
        if (res.status == engine::EngineStatus::QueueFull) status = 429, message = "the server is busy; retry later";
        else if (res.status == engine::EngineStatus::ShuttingDown) status = 503, message = "the server is shutting down";
        else submitted.push_back(res.handle->id());
      } catch (const Error& e) {
        status = 400, message = e.problem(), param = param_of(e);
      }
    }
    if (status != 0) job->mark_failed();
    else if (parsed.stream) w->start_sse();
  }
  if (status != 0) {
    job->cancel_all();
    for (uint64_t id : submitted) engine_->cancel(id);
    http::Headers h;
    if (status == 429) h.emplace_back("Retry-After", "1");
    w->send_error(status, message, std::nullopt, param.empty() ? std::nullopt : std::optional<std::string_view>(param),
                  h);
    return;
  }
  // Disconnect: the tokens stop the requests at the engine's next step, freeing their blocks.
  w->on_cancel([weak = std::weak_ptr<CompletionJob>(job)] {
    if (auto j = weak.lock()) j->cancel_all();
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
  r.add(
      "GET", "/v1/models",
      [this](const http::HttpRequest&, http::ResponseWriterPtr w) {
        json m = {{"id", model_.name},
                  {"object", "model"},
                  {"created", created_},
                  {"owned_by", "nova"},
                  {"max_model_len", model_.max_context}};
        w->send_json(200, json({{"object", "list"}, {"data", json::array({m})}}).dump());
      },
      http::Dispatch::kInline);
  auto health = [](const http::HttpRequest&, http::ResponseWriterPtr w) { w->send_json(200, R"({"status":"ok"})"); };
  r.add("GET", "/health", health, http::Dispatch::kInline);
  r.add("GET", "/ping", health, http::Dispatch::kInline);
  r.add(
      "GET", "/metrics",
      [this](const http::HttpRequest&, http::ResponseWriterPtr w) {
        const auto s = server_ ? server_->stats() : http::HttpServer::Stats{};
        w->send(200, "text/plain; version=0.0.4; charset=utf-8", engine_prometheus_text(engine_->stats(), s, model_.name));
      },
      http::Dispatch::kInline);
  return r;
}

}  // namespace nova::serve::app
