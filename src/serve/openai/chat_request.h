// POST /v1/chat/completions request bodies, parsed and validated into plain structs.
// Unknown fields are ignored (as OpenAI does); every error is InvalidRequest naming the
// parameter path, e.g. "messages[2].content[0].type" (see api_error.h for the status policy).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/openai/sampling_params.h"

namespace nova::serve::openai {

struct ContentPart {
  std::string type;  // only "text" is accepted
  std::string text;
};

struct ToolCall {
  std::string id;
  std::string type = "function";
  std::string name;       // function.name
  std::string arguments;  // function.arguments: a JSON document, as a string
};

struct ChatMessage {
  std::string role;  // "system", "developer", "user", "assistant" or "tool"
  // The text: the string content, or the text parts joined with "\n". nullopt only for an
  // assistant message that carries tool_calls and no content.
  std::optional<std::string> content;
  std::vector<ContentPart> parts;  // non-empty when content was sent as an array of parts
  std::optional<std::string> name;
  std::vector<ToolCall> tool_calls;       // assistant only
  std::optional<std::string> tool_call_id;  // tool only (required there)
};

struct ToolDefinition {
  std::string name;
  std::string description;
  Json parameters = Json::object();  // a JSON Schema object
  bool strict = false;
};

struct ToolChoice {
  enum class Mode { kNone, kAuto, kRequired, kFunction };
  Mode mode = Mode::kAuto;
  std::string function;  // for kFunction
};

struct ChatCompletionRequest {
  std::string model;  // "" = the served model
  std::vector<ChatMessage> messages;
  SamplingParams sampling;  // max_tokens from max_completion_tokens, else max_tokens
  bool logprobs = false;
  std::optional<int64_t> top_logprobs;  // [0, 20], needs logprobs
  std::string user;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage (needs stream)
  std::vector<ToolDefinition> tools;
  ToolChoice tool_choice;  // default: auto with tools, none without
  bool parallel_tool_calls = true;
  int64_t priority = 0;  // NovaLM extension, handed to the scheduler
};

ChatCompletionRequest parse_chat_completion_request(std::string_view body);
ChatCompletionRequest chat_completion_request_from_json(const Json& body);

}  // namespace nova::serve::openai
