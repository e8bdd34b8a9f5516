#include "serve/app/request_parsing.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace nova::serve::app {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) { throw RequestError{message, param}; }

json parse_body(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception&) {
    bad("", "request body is not valid JSON");
  }
  if (!j.is_object()) bad("", "request body must be a JSON object");
  return j;
}

// Present and not null.
const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

double number(const json& j, const char* key, double lo, double hi) {
  const json* v = field(j, key);
  if (!v->is_number()) bad(key, std::string(key) + " must be a number");
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    bad(key, std::string(key) + " must be between " + json(lo).dump() + " and " + json(hi).dump());
  return x;
}

int64_t integer(const json& j, const char* key, int64_t lo, int64_t hi) {
  const json* v = field(j, key);
  if (!v->is_number_integer()) bad(key, std::string(key) + " must be an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi))
    bad(key, std::string(key) + " must be at most " + std::to_string(hi));
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi)
    bad(key, std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return x;
}

bool boolean(const json& j, const char* key) {
  const json* v = field(j, key);
  if (!v->is_boolean()) bad(key, std::string(key) + " must be a boolean");
  return v->get<bool>();
}

// Fields shared by chat and completions: sampling, n, stream, stop, seed, max tokens.
void parse_common(const json& j, const ModelBundle& model, ParsedRequest& r) {
  auto& s = r.engine.sampling;
  s = model.default_sampling;
  if (field(j, "temperature")) s.temperature = static_cast<float>(number(j, "temperature", 0, 2));
  if (field(j, "top_p")) {
    s.top_p = static_cast<float>(number(j, "top_p", 0, 1));
    if (s.top_p <= 0) bad("top_p", "top_p must be greater than 0");
  }
  if (field(j, "top_k")) {
    const int64_t k = integer(j, "top_k", -1, std::numeric_limits<int32_t>::max());
    s.top_k = k < 0 ? 0 : static_cast<int>(k);
  }
  if (field(j, "min_p")) s.min_p = static_cast<float>(number(j, "min_p", 0, 1));
  if (field(j, "presence_penalty")) s.presence_penalty = static_cast<float>(number(j, "presence_penalty", -2, 2));
  if (field(j, "frequency_penalty")) s.frequency_penalty = static_cast<float>(number(j, "frequency_penalty", -2, 2));
  if (field(j, "repetition_penalty")) {
    s.repetition_penalty = static_cast<float>(number(j, "repetition_penalty", 0, 100));
    if (s.repetition_penalty <= 0) bad("repetition_penalty", "repetition_penalty must be greater than 0");
  }
  if (field(j, "seed")) {
    const json& v = j["seed"];
    if (!v.is_number_integer()) bad("seed", "seed must be an integer");
    s.seed = v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(v.get<int64_t>());
  }
  if (field(j, "n")) r.n = static_cast<int>(integer(j, "n", 1, 16));
  if (field(j, "stream")) r.stream = boolean(j, "stream");
  if (const json* so = field(j, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "stream_options must be an object");
    if (!r.stream) bad("stream_options", "stream_options is only allowed when stream is true");
    if (field(*so, "include_usage")) r.include_usage = boolean(*so, "include_usage");
  }
  if (const json* st = field(j, "stop")) {
    if (st->is_string()) r.engine.stop_strings = {st->get<std::string>()};
    else if (st->is_array()) {
      if (st->size() > 4) bad("stop", "stop accepts at most 4 sequences");
      for (const auto& x : *st) {
        if (!x.is_string()) bad("stop", "stop must be a string or an array of strings");
        r.engine.stop_strings.push_back(x.get<std::string>());
      }
    } else {
      bad("stop", "stop must be a string or an array of strings");
    }
    for (const auto& x : r.engine.stop_strings)
      if (x.empty()) bad("stop", "stop sequences must not be empty");
  }
  r.engine.stop_token_ids = model.eos_token_ids;
  if (field(j, "ignore_eos") && boolean(j, "ignore_eos")) r.engine.stop_token_ids.clear();  // vLLM extension
}

// max_tokens (or max_completion_tokens): default and upper bound is what fits in the context.
void parse_max_tokens(const json& j, const ModelBundle& model, ParsedRequest& r, const char* key) {
  const int64_t room = model.max_context - static_cast<int64_t>(r.engine.prompt.size());
  if (room <= 0)
    bad("messages", "the prompt has " + std::to_string(r.engine.prompt.size()) +
                        " tokens, the model's context is " + std::to_string(model.max_context));
  int64_t max_tokens = room;
  if (field(j, key)) {
    max_tokens = integer(j, key, 1, std::numeric_limits<int32_t>::max());
    if (max_tokens > room)
      bad(key, std::string(key) + " is " + std::to_string(max_tokens) + " but only " + std::to_string(room) +
                   " tokens fit after the " + std::to_string(r.engine.prompt.size()) + "-token prompt");
  }
  r.engine.max_tokens = static_cast<int>(max_tokens);
}

}  // namespace

ParsedRequest parse_chat_request(const std::string& body, const ModelBundle& model) {
  const json j = parse_body(body);
  ParsedRequest r;
  r.endpoint = Endpoint::kChat;
  const json* messages = field(j, "messages");
  if (!messages) bad("messages", "messages is required");
  if (!messages->is_array() || messages->empty()) bad("messages", "messages must be a non-empty array");
  for (const auto& m : *messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad("messages", "each message must be an object with a string role");
  }
  if (!model.chat_template) bad("messages", "this model has no chat template; use /v1/completions");
  parse_common(j, model, r);
  if (field(j, "logprobs")) r.want_logprobs = boolean(j, "logprobs");
  if (field(j, "top_logprobs")) {
    r.top_logprobs = static_cast<int>(integer(j, "top_logprobs", 0, 20));
    if (!r.want_logprobs && r.top_logprobs > 0) bad("top_logprobs", "top_logprobs requires logprobs to be true");
  }
  r.engine.logprobs = r.top_logprobs;
  const json* tools = field(j, "tools");
  try {
    r.prompt_text = chat::apply_chat_template(*model.chat_template, nlohmann::ordered_json(*messages),
                                              tools ? nlohmann::ordered_json(*tools) : nlohmann::ordered_json(),
                                              /*add_generation_prompt=*/true);
  } catch (const Error& e) {
    bad("messages", std::string("chat template failed: ") + e.what());
  }
  r.engine.prompt = model.tokenizer->encode(r.prompt_text, /*add_special_tokens=*/false);
  if (r.engine.prompt.empty()) bad("messages", "the rendered prompt is empty");
  parse_max_tokens(j, model, r, field(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens");
  return r;
}

ParsedRequest parse_completion_request(const std::string& body, const ModelBundle& model) {
  const json j = parse_body(body);
  ParsedRequest r;
  r.endpoint = Endpoint::kCompletion;
  const json* prompt = field(j, "prompt");
  if (!prompt) bad("prompt", "prompt is required");
  const int vocab = model.tokenizer->vocab_size();
  auto ids_from = [&](const json& arr) {
    for (const auto& x : arr) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= vocab)
        bad("prompt", "token ids must be integers in [0, " + std::to_string(vocab) + ")");
      r.engine.prompt.push_back(x.get<int32_t>());
    }
    r.prompt_text = model.tokenizer->decode(r.engine.prompt);
  };
  if (prompt->is_string()) {
    r.prompt_text = prompt->get<std::string>();
    r.engine.prompt = model.tokenizer->encode(r.prompt_text, /*add_special_tokens=*/true);
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    r.prompt_text = (*prompt)[0].get<std::string>();
    r.engine.prompt = model.tokenizer->encode(r.prompt_text, /*add_special_tokens=*/true);
  } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
    ids_from(*prompt);
  } else {
    bad("prompt", "prompt must be a string, a one-string array or an array of token ids");
  }
  if (r.engine.prompt.empty()) bad("prompt", "prompt must not be empty");
  parse_common(j, model, r);
  if (field(j, "logprobs")) {
    r.want_logprobs = true;
    r.top_logprobs = static_cast<int>(integer(j, "logprobs", 0, 5));
  }
  r.engine.logprobs = r.top_logprobs;
  if (field(j, "echo") && boolean(j, "echo")) bad("echo", "echo is not supported");
  if (field(j, "best_of") && integer(j, "best_of", 1, 16) != r.n) bad("best_of", "best_of must equal n");
  parse_max_tokens(j, model, r, "max_tokens");
  if (!field(j, "max_tokens")) r.engine.max_tokens = std::min(r.engine.max_tokens, 16);  // OpenAI's default
  return r;
}

// SageMaker-style: {"prompt" | "inputs", "max_length" | "max_new_tokens", "temperature", ...}.
ParsedRequest parse_invocation_request(const std::string& body, const ModelBundle& model) {
  json j = parse_body(body);
  if (j.contains("parameters") && j["parameters"].is_object()) {  // TGI shape: {"inputs", "parameters"}
    for (auto& [k, v] : j["parameters"].items()) j[k] = v;
  }
  const json* prompt = field(j, "prompt");
  if (!prompt) prompt = field(j, "inputs");
  if (!prompt || !prompt->is_string() || prompt->get<std::string>().empty())
    bad("prompt", "prompt must be a non-empty string");
  ParsedRequest r;
  r.endpoint = Endpoint::kInvocation;
  r.prompt_text = prompt->get<std::string>();
  r.engine.prompt = model.tokenizer->encode(r.prompt_text, /*add_special_tokens=*/true);
  if (r.engine.prompt.empty()) bad("prompt", "prompt must not be empty");
  json k = j;
  if (field(j, "max_length")) k["max_tokens"] = j["max_length"];
  else if (field(j, "max_new_tokens")) k["max_tokens"] = j["max_new_tokens"];
  k.erase("stream");
  k.erase("n");
  parse_common(k, model, r);
  parse_max_tokens(k, model, r, "max_tokens");
  const auto& s = r.engine.sampling;
  r.generation_config = {{"max_length", r.engine.max_tokens}, {"temperature", s.temperature},
                         {"top_p", s.top_p},                  {"top_k", s.top_k},
                         {"seed", s.seed},                    {"stop", r.engine.stop_strings}};
  return r;
}

}  // namespace nova::serve::app
