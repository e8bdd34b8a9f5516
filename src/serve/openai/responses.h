// Response bodies in OpenAI's shapes: chat.completion, chat.completion.chunk (SSE), text_completion,
// the embeddings list and the models list, plus usage and both logprobs layouts (chat's
// per-token objects and the legacy completions arrays).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/openai/chat_request.h"
#include "serve/openai/completion_request.h"

namespace nova::serve::openai {

// prefix + 24 random [A-Za-z0-9] characters (OpenSSL CSPRNG): "chatcmpl-…", "cmpl-…", "call_…".
std::string make_id(std::string_view prefix);
int64_t unix_now();

struct ResponseMeta {
  std::string id;
  int64_t created = 0;
  std::string model;
  std::string system_fingerprint;  // e.g. "nova-0.1.0-<model hash>"; null when empty
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::optional<int64_t> cached_tokens;  // prompt tokens served from the prefix cache
};
// {"prompt_tokens", "completion_tokens", "total_tokens"[, "prompt_tokens_details": {"cached_tokens"}]}
Json usage_json(const Usage& u);

struct TopLogprob {
  std::string token;
  double logprob = 0;
};
struct TokenLogprob {
  std::string token;
  double logprob = 0;
  std::vector<TopLogprob> top;
};
// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}], "refusal": null}
Json chat_logprobs_json(const std::vector<TokenLogprob>& tokens);
// Completions: {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"};
// `text_offset` of the first token is `first_offset` (the echoed prompt length, or 0).
Json completion_logprobs_json(const std::vector<TokenLogprob>& tokens, int64_t first_offset = 0);

struct ChatChoice {
  int64_t index = 0;
  std::optional<std::string> content;  // null when the answer is only tool calls
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;  // "stop", "length", "tool_calls", "content_filter"
  std::optional<std::vector<TokenLogprob>> logprobs;
};
Json chat_completion_json(const ResponseMeta& meta, const std::vector<ChatChoice>& choices, const Usage& usage);

// One streamed tool-call fragment: id/type/name come with the first fragment only.
struct ToolCallDelta {
  int64_t index = 0;
  std::optional<std::string> id;
  std::optional<std::string> name;
  std::string arguments;
};
struct ChatDelta {
  int64_t index = 0;
  std::optional<std::string> role;     // "assistant" in each choice's first chunk
  std::optional<std::string> content;
  std::vector<ToolCallDelta> tool_calls;
  std::optional<std::string> finish_reason;  // null until the last chunk of that choice
  std::optional<std::vector<TokenLogprob>> logprobs;
};
// `include_usage`: the stream was asked for usage, so every chunk carries "usage": null and the
// stream ends with chat_usage_chunk_json.
Json chat_chunk_json(const ResponseMeta& meta, const std::vector<ChatDelta>& deltas, bool include_usage);
// The final chunk of a stream with include_usage: "choices": [] and the usage.
Json chat_usage_chunk_json(const ResponseMeta& meta, const Usage& usage);

struct CompletionChoice {
  int64_t index = 0;
  std::string text;
  std::optional<std::string> finish_reason;  // null in stream chunks until the end
  std::optional<Json> logprobs;              // completion_logprobs_json(...)
};
// Full responses pass usage; stream chunks pass nullopt (then "usage": null when
// `include_usage`, omitted otherwise).
Json text_completion_json(const ResponseMeta& meta, const std::vector<CompletionChoice>& choices,
                          const std::optional<Usage>& usage, bool include_usage = false);

// {"object": "list", "data": [{"object": "embedding", "embedding": [...] | "<base64>", "index"}],
//  "model", "usage": {"prompt_tokens", "total_tokens"}}. base64: little-endian float32 bytes.
Json embeddings_json(const std::string& model, const std::vector<std::vector<float>>& embeddings,
                     EncodingFormat format, int64_t prompt_tokens);
std::string base64_floats(const std::vector<float>& values);

struct ModelCard {
  std::string id;
  int64_t created = 0;
  std::string owned_by = "nova";
};
// {"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}
Json models_json(const std::vector<ModelCard>& models);

// The SSE payload of one event, e.g. "data: <json>" is written by ResponseWriter::write_event;
// this is the <json> text. Invalid UTF-8 from a model (a token split mid-character) is replaced
// by U+FFFD instead of throwing.
std::string dump_json(const Json& j);

}  // namespace nova::serve::openai
