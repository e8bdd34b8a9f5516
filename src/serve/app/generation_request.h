// What a validated OpenAI body (serve/openai parses and range-checks it) becomes for the engine:
// the prompts tokenized (chat messages rendered with the model's chat template first), the
// engine request every choice starts from, and the response options. Everything that needs the
// model — template, tokenizer, context length — is checked here; errors are
// openai::InvalidRequest (400, or 422 when the model cannot serve the request at all).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/llm_engine.h"
#include "serve/app/model_bundle.h"
#include "serve/openai/json_body.h"

namespace nova::serve::app {

enum class Endpoint { kChat, kCompletion, kInvocation };

struct Prompt {
  std::vector<int32_t> ids;
  std::string text;  // the rendered / given text (decoded from ids when the client sent ids)
};

// Server-side bounds on what one request may ask for.
struct RequestBounds {
  int64_t max_prompt_tokens = 0;  // 0: the model's context length
};

struct GenerationRequest {
  Endpoint endpoint = Endpoint::kCompletion;
  std::string model;              // what the client named ("" = the served model)
  std::vector<Prompt> prompts;    // chat and invocations: one; completions: one per prompt
  engine::EngineRequest engine;   // sampling, max_tokens, stops, logprobs, priority (prompt, callback unset)
  int n = 1;                      // choices per prompt: choice index = prompt * n + i (OpenAI's order)
  bool stream = false;
  bool include_usage = false;
  bool want_logprobs = false;     // chat: logprobs=true; completions: logprobs given
  bool echo = false;              // completions: prepend the prompt to each choice's text
  std::string user;
  nlohmann::json generation_config;  // invocations: the parameters used

  int choices() const { return static_cast<int>(prompts.size()) * n; }
  // usage.prompt_tokens: each prompt counted once, however many choices it has (as OpenAI).
  int64_t prompt_tokens() const;
  // The most tokens the request can consume (prompt tokens + n * max_tokens per prompt): what
  // the tokens-per-minute limit reserves before it runs.
  int64_t token_budget() const;
  const std::string& prompt_text() const;  // the first prompt's text ("" if none)
};

// Each parses `body` with serve/openai, then applies the model. Throws openai::InvalidRequest.
GenerationRequest build_chat_request(const openai::Json& body, const ModelBundle& model, const RequestBounds& bounds);
GenerationRequest build_completion_request(const openai::Json& body, const ModelBundle& model,
                                           const RequestBounds& bounds);
GenerationRequest build_invocation_request(const openai::Json& body, const ModelBundle& model,
                                           const RequestBounds& bounds);

// The prompt-length check shared with embeddings: 400 context_length_exceeded naming `param`.
void check_prompt_length(int64_t tokens, const ModelBundle& model, const RequestBounds& bounds,
                         const std::string& param);
// Before tokenizing: a text so long that it must exceed the prompt limit is refused the same
// way without spending the tokenizer on it (a 4x margin covers normalizers that shrink text).
void check_text_size(const std::string& text, const ModelBundle& model, const RequestBounds& bounds,
                     const std::string& param);
// Token ids sent by a client must be inside the model's vocabulary (400 naming `param`).
void check_token_ids(const std::vector<int32_t>& ids, const ModelBundle& model, const std::string& param);

}  // namespace nova::serve::app
