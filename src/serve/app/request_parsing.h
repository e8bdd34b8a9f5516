// JSON bodies of the OpenAI-compatible endpoints -> what the engine runs. One function per
// endpoint, kept apart from the HTTP handling so it can be swapped for serve/openai's schema.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/llm_engine.h"
#include "serve/app/model_bundle.h"

namespace nova::serve::app {

// A 400 answer: `param` names the offending field ("" when the body as a whole is wrong).
struct RequestError {
  std::string message;
  std::string param;
};

enum class Endpoint { kChat, kCompletion, kInvocation };

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kCompletion;
  engine::EngineRequest engine;  // prompt, sampling, max_tokens, stops, logprobs (on_token unset)
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  bool want_logprobs = false;   // chat: logprobs=true; completions: logprobs given
  int top_logprobs = 0;
  std::string prompt_text;      // the rendered prompt (invocations echo it)
  nlohmann::json generation_config;  // invocations: the parameters used
};

// Each throws RequestError for bad JSON, a wrong type or an out-of-range value.
ParsedRequest parse_chat_request(const std::string& body, const ModelBundle& model);
ParsedRequest parse_completion_request(const std::string& body, const ModelBundle& model);
ParsedRequest parse_invocation_request(const std::string& body, const ModelBundle& model);

}  // namespace nova::serve::app
