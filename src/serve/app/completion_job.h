// One in-flight generation request (chat, text completion or SageMaker invocation) with its
// choices (prompts x n): collects the engine's TokenEvents (on the step thread) and answers
// through the ResponseWriter, either as an SSE stream of OpenAI chunks (interleaved by choice
// index) or as one JSON body once every choice has finished. A stream's step-thread work is a
// queue push: the event loop formats the queued tokens (StreamChunkWriter) when it next
// flushes the connection, several tokens per write when they pile up. It feeds the request's record
// (TTFT, tokens, status) and the per-token metrics, and settles the rate-limit reservation
// when the last choice ends. No thread ever waits for a generation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/llm_engine.h"
#include "serve/app/generation_request.h"
#include "serve/app/model_bundle.h"
#include "serve/app/request_record.h"
#include "serve/http/response_writer.h"
#include "serve/openai/responses.h"
#include "serve/openai/stream_chunks.h"

namespace nova::serve::app {

class CompletionJob : public std::enable_shared_from_this<CompletionJob> {
 public:
  // Called once, when every choice has ended, with the tokens the request actually used
  // (prompt + generated), for the rate limiter's refund.
  using OnSettled = std::function<void(int64_t used_tokens)>;

  CompletionJob(const ModelBundle& model, GenerationRequest request, http::ResponseWriterPtr writer,
                std::shared_ptr<RequestRecord> record, metrics::ServerMetrics* metrics, http::Headers headers,
                OnSettled on_settled);

  const std::string& id() const { return meta_.id; }
  const GenerationRequest& request() const { return req_; }

  // The TokenCallback of choice `index`; false tells the engine to stop that choice.
  bool on_event(int index, const engine::TokenEvent& ev);
  // Client gone: every choice's cancellation token is set (the engine frees their blocks).
  // Lock-free (the choices are fixed once submitted), so it may run from inside a pull.
  void cancel_all();

  // Held by the submitting handler while it submits the choices, so no event is written
  // before the stream head; events of a job that then fails are dropped.
  std::mutex& mutex() { return mu_; }
  void mark_failed() { failed_ = true; }  // under mutex()
  engine::CancellationToken add_choice();
  // Under mutex(), after every choice was submitted: writes the stream head (and, with echo,
  // the prompts). The job must be owned by a shared_ptr (the writer's pull holds a weak one).
  void start_stream();

 private:
  struct Choice {
    std::string text;
    std::vector<int32_t> tokens;
    std::vector<openai::TokenLogprob> logprobs;
    std::string finish_reason;
    bool done = false;
    std::chrono::steady_clock::time_point last_token{};
    engine::CancellationToken cancel;
  };
  // What the step thread queues for the stream, unformatted.
  struct StreamItem {
    int index = 0;
    bool show_logprob = false;
    int32_t token = -1;
    float logprob = 0;
    std::vector<engine::TokenLogprob> top;
    std::string text;
    bool finished = false;
    std::string finish_reason;
  };
  openai::TokenLogprob token_logprob(int32_t token, float logprob, const std::vector<engine::TokenLogprob>& top) const;
  // Formats the queued items into `out`; under render_mu_.
  void render_queued(std::string& out);
  // The writer's pull (event-loop thread): formats and queues what the step thread left.
  void pull();
  openai::Usage usage() const;
  void stream_event(int index, const engine::TokenEvent& ev);  // under mu_
  void complete();                                              // under mu_, all choices done
  std::string token_text(int32_t id) const;
  const std::string& prompt_of(int index) const { return req_.prompts[static_cast<size_t>(index / req_.n)].text; }

  const ModelBundle& model_;
  GenerationRequest req_;
  http::ResponseWriterPtr writer_;
  std::shared_ptr<RequestRecord> record_;
  metrics::ServerMetrics* metrics_;
  http::Headers headers_;
  OnSettled on_settled_;
  openai::ResponseMeta meta_;
  std::mutex mu_;
  std::vector<Choice> choices_;
  bool failed_ = false;
  int done_count_ = 0;

  // Stream formatting. Lock order: mu_ -> render_mu_ -> the connection's; queue_mu_ is a leaf.
  std::mutex queue_mu_;
  std::vector<StreamItem> queue_;
  std::mutex render_mu_;  // held while rendering and appending, so chunks keep their order
  std::vector<StreamItem> rendering_;  // under render_mu_: reused between pulls
  std::vector<bool> role_sent_;        // under render_mu_
  std::unique_ptr<openai::StreamChunkWriter> chunks_;
};

}  // namespace nova::serve::app
