// One in-flight completion (chat, text or SageMaker invocation) with its n choices: collects
// the engine's TokenEvents (on the step thread) and answers through the ResponseWriter, either
// as an SSE stream of OpenAI chunks (interleaved by choice index) or as one JSON body once
// every choice has finished. No thread ever waits for a generation.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/llm_engine.h"
#include "serve/app/model_bundle.h"
#include "serve/app/request_parsing.h"
#include "serve/http/response_writer.h"

namespace nova::serve::app {

class CompletionJob {
 public:
  CompletionJob(const ModelBundle& model, const ParsedRequest& request, http::ResponseWriterPtr writer);

  // The TokenCallback of choice `index`; false tells the engine to stop that choice.
  bool on_event(int index, const engine::TokenEvent& ev);
  // Client gone: every choice's cancellation token is set (the engine frees their blocks).
  void cancel_all();

  // Held by the submitting handler while it submits the n requests, so no event is written
  // before the stream head; events of a job that then fails are dropped.
  std::mutex& mutex() { return mu_; }
  void mark_failed() { failed_ = true; }  // under mutex()
  engine::CancellationToken add_choice();

 private:
  struct Choice {
    std::string text;
    std::vector<int32_t> tokens;
    std::vector<float> logprobs;
    std::vector<std::vector<engine::TokenLogprob>> top;
    std::string finish_reason;
    bool done = false;
    bool role_sent = false;
    engine::CancellationToken cancel;
  };
  nlohmann::json chunk(nlohmann::json choices) const;
  nlohmann::json usage() const;
  nlohmann::json chat_logprobs(const std::vector<int32_t>& ids, const std::vector<float>& lps,
                               const std::vector<std::vector<engine::TokenLogprob>>& top) const;
  nlohmann::json completion_logprobs(const std::vector<int32_t>& ids, const std::vector<float>& lps,
                                     const std::vector<std::vector<engine::TokenLogprob>>& top) const;
  void stream_event(int index, const engine::TokenEvent& ev);  // under mu_
  void complete();                                              // under mu_, all choices done
  std::string token_text(int32_t id) const;

  const ModelBundle& model_;
  ParsedRequest req_;
  http::ResponseWriterPtr writer_;
  std::string id_;
  int64_t created_;
  std::mutex mu_;
  std::vector<Choice> choices_;
  bool failed_ = false;
  int done_count_ = 0;
};

// OpenAI's finish_reason for the engine's ("stop" | "length"; others pass through).
std::string openai_finish_reason(const std::string& engine_reason);

}  // namespace nova::serve::app
