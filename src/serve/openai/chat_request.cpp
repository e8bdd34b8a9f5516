#include "serve/openai/chat_request.h"

#include <algorithm>

namespace nova::serve::openai {

namespace {

constexpr size_t kMaxMessages = 100000;
constexpr size_t kMaxTools = 128;

bool valid_function_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

const Json& require_object(const Json& v, const std::string& param) {
  if (!v.is_object())
    throw InvalidRequest(param, "'" + param + "' must be an object, got " + type_phrase(v) + ".", "invalid_type");
  return v;
}

std::string require_string(const Json& obj, std::string_view key, const std::string& parent) {
  auto s = read_string(obj, key, parent);
  if (!s) {
    const std::string param = join_path(parent, key);
    throw InvalidRequest(param, "'" + param + "' is required.", "missing_required_parameter");
  }
  return *s;
}

// content: a string or an array of {"type": "text", "text": ...} parts.
void read_content(const Json& msg, const std::string& parent, ChatMessage& m, bool required) {
  const std::string param = join_path(parent, "content");
  const Json* v = field(msg, "content");
  if (!v) {
    if (required) throw InvalidRequest(param, "'" + param + "' is required.", "missing_required_parameter");
    return;
  }
  if (v->is_string()) {
    m.content = v->get<std::string>();
    return;
  }
  if (!v->is_array())
    throw InvalidRequest(param, "'" + param + "' must be a string or an array of content parts, got " +
                                    type_phrase(*v) + ".",
                         "invalid_type");
  if (v->empty()) throw InvalidRequest(param, "'" + param + "' must not be an empty array.");
  std::string joined;
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string part_param = index_path(param, i);
    const Json& part = require_object((*v)[i], part_param);
    const std::string type = require_string(part, "type", part_param);
    if (type != "text") {
      const bool known = type == "image_url" || type == "input_audio" || type == "file" || type == "refusal";
      throw InvalidRequest(join_path(part_param, "type"),
                           known ? "Content parts of type '" + type + "' are not supported by this server."
                                 : "'" + join_path(part_param, "type") + "' must be 'text'.",
                           known ? "unsupported_content" : "invalid_value");
    }
    ContentPart p{type, require_string(part, "text", part_param)};
    if (i) joined += '\n';
    joined += p.text;
    m.parts.push_back(std::move(p));
  }
  m.content = std::move(joined);
}

std::vector<ToolCall> read_tool_calls(const Json& msg, const std::string& parent) {
  const std::string param = join_path(parent, "tool_calls");
  const Json* v = field(msg, "tool_calls");
  std::vector<ToolCall> out;
  if (!v) return out;
  if (!v->is_array())
    throw InvalidRequest(param, "'" + param + "' must be an array, got " + type_phrase(*v) + ".", "invalid_type");
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string call_param = index_path(param, i);
    const Json& call = require_object((*v)[i], call_param);
    ToolCall c;
    c.id = require_string(call, "id", call_param);
    c.type = require_string(call, "type", call_param);
    if (c.type != "function")
      throw InvalidRequest(join_path(call_param, "type"), "'" + join_path(call_param, "type") + "' must be 'function'.");
    const std::string fn_param = join_path(call_param, "function");
    const Json* fn = field(call, "function");
    if (!fn) throw InvalidRequest(fn_param, "'" + fn_param + "' is required.", "missing_required_parameter");
    require_object(*fn, fn_param);
    c.name = require_string(*fn, "name", fn_param);
    c.arguments = require_string(*fn, "arguments", fn_param);
    out.push_back(std::move(c));
  }
  return out;
}

ChatMessage read_message(const Json& v, const std::string& param) {
  const Json& msg = require_object(v, param);
  ChatMessage m;
  m.role = require_string(msg, "role", param);
  const std::string& r = m.role;
  if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool")
    throw InvalidRequest(join_path(param, "role"), "'" + join_path(param, "role") +
                                                       "' must be one of 'system', 'developer', 'user', "
                                                       "'assistant' or 'tool'.");
  m.name = read_string(msg, "name", param);
  if (r == "assistant") {
    m.tool_calls = read_tool_calls(msg, param);
    read_content(msg, param, m, /*required=*/m.tool_calls.empty());
  } else {
    read_content(msg, param, m, /*required=*/true);
  }
  if (r == "tool") m.tool_call_id = require_string(msg, "tool_call_id", param);
  return m;
}

std::vector<ToolDefinition> read_tools(const Json& body) {
  std::vector<ToolDefinition> out;
  const Json* v = field(body, "tools");
  if (!v) return out;
  if (!v->is_array())
    throw InvalidRequest("tools", "'tools' must be an array, got " + type_phrase(*v) + ".", "invalid_type");
  if (v->size() > kMaxTools)
    throw InvalidRequest("tools", "'tools' may hold at most " + std::to_string(kMaxTools) + " tools.");
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string param = index_path("tools", i);
    const Json& tool = require_object((*v)[i], param);
    const std::string type = require_string(tool, "type", param);
    if (type != "function")
      throw InvalidRequest(join_path(param, "type"), "'" + join_path(param, "type") + "' must be 'function'.");
    const std::string fn_param = join_path(param, "function");
    const Json* fn = field(tool, "function");
    if (!fn) throw InvalidRequest(fn_param, "'" + fn_param + "' is required.", "missing_required_parameter");
    require_object(*fn, fn_param);
    ToolDefinition t;
    t.name = require_string(*fn, "name", fn_param);
    if (!valid_function_name(t.name))
      throw InvalidRequest(join_path(fn_param, "name"), "'" + join_path(fn_param, "name") +
                                                            "' must be 1 to 64 characters of a-z, A-Z, 0-9, _ or -.");
    for (const auto& earlier : out)
      if (earlier.name == t.name)
        throw InvalidRequest(join_path(fn_param, "name"), "Tool names must be unique; '" + t.name + "' repeats.");
    t.description = read_string(*fn, "description", fn_param).value_or("");
    if (const Json* params = field(*fn, "parameters")) t.parameters = require_object(*params, join_path(fn_param, "parameters"));
    t.strict = read_bool(*fn, "strict", fn_param).value_or(false);
    out.push_back(std::move(t));
  }
  return out;
}

ToolChoice read_tool_choice(const Json& body, const std::vector<ToolDefinition>& tools) {
  ToolChoice c;
  c.mode = tools.empty() ? ToolChoice::Mode::kNone : ToolChoice::Mode::kAuto;
  const Json* v = field(body, "tool_choice");
  if (!v) return c;
  if (v->is_string()) {
    const std::string s = v->get<std::string>();
    if (s == "none") c.mode = ToolChoice::Mode::kNone;
    else if (s == "auto") c.mode = ToolChoice::Mode::kAuto;
    else if (s == "required") c.mode = ToolChoice::Mode::kRequired;
    else throw InvalidRequest("tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or a function object.");
  } else if (v->is_object()) {
    const std::string type = require_string(*v, "type", "tool_choice");
    if (type != "function") throw InvalidRequest("tool_choice.type", "'tool_choice.type' must be 'function'.");
    const Json* fn = field(*v, "function");
    if (!fn) throw InvalidRequest("tool_choice.function", "'tool_choice.function' is required.", "missing_required_parameter");
    require_object(*fn, "tool_choice.function");
    c.mode = ToolChoice::Mode::kFunction;
    c.function = require_string(*fn, "name", "tool_choice.function");
    const bool known = std::any_of(tools.begin(), tools.end(), [&](const ToolDefinition& t) { return t.name == c.function; });
    if (!known)
      throw InvalidRequest("tool_choice", "'tool_choice' names the function '" + c.function + "', which is not in 'tools'.");
  } else {
    throw InvalidRequest("tool_choice", "'tool_choice' must be a string or an object, got " + type_phrase(*v) + ".",
                         "invalid_type");
  }
  if (c.mode != ToolChoice::Mode::kNone && tools.empty())
    throw InvalidRequest("tool_choice", "'tool_choice' requires 'tools' to be given.");
  return c;
}

}  // namespace

ChatCompletionRequest chat_completion_request_from_json(const Json& body) {
  ChatCompletionRequest req;
  req.model = read_string(body, "model").value_or("");

  const Json* messages = field(body, "messages");
  if (!messages) throw InvalidRequest("messages", "'messages' is required.", "missing_required_parameter");
  if (!messages->is_array())
    throw InvalidRequest("messages", "'messages' must be an array, got " + type_phrase(*messages) + ".", "invalid_type");
  if (messages->empty()) throw InvalidRequest("messages", "'messages' must contain at least one message.");
  if (messages->size() > kMaxMessages) throw InvalidRequest("messages", "'messages' holds too many messages.");
  for (size_t i = 0; i < messages->size(); ++i) req.messages.push_back(read_message((*messages)[i], index_path("messages", i)));

  req.sampling = read_sampling(body);
  // max_completion_tokens replaced max_tokens in OpenAI's API; when both are sent, it wins.
  req.sampling.max_tokens = read_int(body, "max_tokens", 1, kMaxTokensLimit);
  if (auto m = read_int(body, "max_completion_tokens", 1, kMaxTokensLimit)) req.sampling.max_tokens = m;

  req.logprobs = read_bool(body, "logprobs").value_or(false);
  req.top_logprobs = read_int(body, "top_logprobs", 0, 20);
  if (req.top_logprobs && !req.logprobs)
    throw InvalidRequest("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");
  req.user = read_string(body, "user").value_or("");
  req.stream = read_bool(body, "stream").value_or(false);
  if (const Json* so = field(body, "stream_options")) {
    if (!req.stream)
      throw InvalidRequest("stream_options", "'stream_options' is only allowed when 'stream' is true.");
    require_object(*so, "stream_options");
    req.include_usage = read_bool(*so, "include_usage", "stream_options").value_or(false);
  }
  req.tools = read_tools(body);
  req.tool_choice = read_tool_choice(body, req.tools);
  req.parallel_tool_calls = read_bool(body, "parallel_tool_calls").value_or(true);
  if (const Json* rf = field(body, "response_format")) {
    require_object(*rf, "response_format");
    const std::string type = require_string(*rf, "type", "response_format");
    if (type == "json_object" || type == "json_schema")
      throw InvalidRequest("response_format", "'response_format' of type '" + type + "' is not supported by this server.",
                           "unsupported_parameter");
    if (type != "text") throw InvalidRequest("response_format.type", "'response_format.type' must be 'text', 'json_object' or 'json_schema'.");
  }
  req.priority = read_int(body, "priority", -2147483648LL, 2147483647LL).value_or(0);
  return req;
}

ChatCompletionRequest parse_chat_completion_request(std::string_view body) {
  return chat_completion_request_from_json(parse_json_body(body));
}

}  // namespace nova::serve::openai
