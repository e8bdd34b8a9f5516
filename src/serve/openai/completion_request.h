// POST /v1/completions, POST /v1/embeddings and the SageMaker-style POST /invocations bodies.
// Prompts and embedding inputs come as text or as token ids (OpenAI accepts both).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/openai/sampling_params.h"

namespace nova::serve::openai {

// One prompt: text, or token ids (already tokenized by the client).
struct PromptInput {
  std::optional<std::string> text;
  std::vector<int32_t> token_ids;  // used when !text
  bool is_tokens() const { return !text.has_value(); }
};

// prompt / input: a string, an array of strings, an array of token ids, or an array of arrays
// of token ids. `allow_empty_text`: completions accept "" (OpenAI does), embeddings do not.
std::vector<PromptInput> read_prompts(const Json& body, std::string_view key, bool allow_empty_text, size_t max_count);

inline constexpr int64_t kDefaultCompletionMaxTokens = 16;  // OpenAI's default for /v1/completions
inline constexpr size_t kMaxPrompts = 2048;

struct CompletionRequest {
  std::string model;
  std::vector<PromptInput> prompts;
  SamplingParams sampling;  // max_tokens defaults to 16 here, as in OpenAI
  bool echo = false;
  std::optional<int64_t> logprobs;  // [0, 5]: how many alternatives per token
  bool stream = false;
  bool include_usage = false;
  std::string user;
  int64_t priority = 0;
};

// `suffix` (insertion) is refused with 400 unsupported_parameter; `best_of` is accepted only
// when it is 1 or equal to n (no extra candidates are generated).
CompletionRequest parse_completion_request(std::string_view body);
CompletionRequest completion_request_from_json(const Json& body);

// SageMaker-style body: {"prompt" | "inputs": ..., "max_length" | "max_new_tokens" | "max_tokens",
// "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "stop", "seed", "do_sample",
// "stream"}; the same keys may also sit in a "parameters" object (Hugging Face style), which
// wins over top-level ones. max_length counts generated tokens only (the prompt is not included).
// do_sample=false means greedy (temperature 0).
CompletionRequest parse_invocation_request(std::string_view body);
CompletionRequest invocation_request_from_json(const Json& body);

enum class EncodingFormat { kFloat, kBase64 };

struct EmbeddingRequest {
  std::string model;
  std::vector<PromptInput> inputs;
  EncodingFormat encoding_format = EncodingFormat::kFloat;
  std::optional<int64_t> dimensions;  // >= 1; checked against the model later
  std::string user;
};

EmbeddingRequest parse_embedding_request(std::string_view body);
EmbeddingRequest embedding_request_from_json(const Json& body);

}  // namespace nova::serve::openai
