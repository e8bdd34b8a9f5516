#include "serve/app/generation_request.h"

#include <algorithm>
#include <limits>

#include "serve/openai/chat_request.h"
#include "serve/openai/completion_request.h"

namespace nova::serve::app {

using openai::InvalidRequest;
using openai::Json;

int64_t GenerationRequest::prompt_tokens() const {
  int64_t t = 0;
  for (const auto& p : prompts) t += static_cast<int64_t>(p.ids.size());
  return t;
}

int64_t GenerationRequest::token_budget() const {
  return prompt_tokens() + static_cast<int64_t>(choices()) * engine.max_tokens;
}

const std::string& GenerationRequest::prompt_text() const {
  static const std::string kEmpty;
  return prompts.empty() ? kEmpty : prompts.front().text;
}

void check_prompt_length(int64_t tokens, const ModelBundle& model, const RequestBounds& bounds,
                         const std::string& param) {
  const int64_t limit = bounds.max_prompt_tokens > 0 ? std::min(bounds.max_prompt_tokens, model.max_context)
                                                     : model.max_context;
  if (tokens > limit)
    throw InvalidRequest(param,
                         "The prompt has " + std::to_string(tokens) + " tokens; this server accepts at most " +
                             std::to_string(limit) + " (the model's context is " + std::to_string(model.max_context) +
                             ").",
                         "context_length_exceeded");
}

void check_text_size(const std::string& text, const ModelBundle& model, const RequestBounds& bounds,
                     const std::string& param) {
  const int64_t limit = bounds.max_prompt_tokens > 0 ? std::min(bounds.max_prompt_tokens, model.max_context)
                                                     : model.max_context;
  const int64_t bytes = static_cast<int64_t>(text.size());
  if (bytes / 4 > limit * model.max_token_bytes)
    throw InvalidRequest(param,
                         "The prompt is " + std::to_string(bytes) + " bytes, far more than the " +
                             std::to_string(limit) + " tokens this server accepts.",
                         "context_length_exceeded");
}

void check_token_ids(const std::vector<int32_t>& ids, const ModelBundle& model, const std::string& param) {
  const int64_t vocab = model.model->config().vocab_size;
  for (int32_t id : ids)
    if (id < 0 || id >= vocab)
      throw InvalidRequest(param, "Token id " + std::to_string(id) + " is outside the model's vocabulary [0, " +
                                      std::to_string(vocab) + ").");
}

namespace {

// The served model answers to its own name; any other name is OpenAI's 404 model_not_found.
void check_model(const std::string& requested, const ModelBundle& model) {
  if (!requested.empty() && requested != model.name)
    throw InvalidRequest("model", "The model '" + requested + "' does not exist; this server serves '" + model.name + "'.",
                         "model_not_found", 404);
}

// OpenAI's sampling fields over the model's generation_config.json defaults.
void apply_sampling(const openai::SamplingParams& s, const Json& body, const ModelBundle& model, GenerationRequest& r) {
  auto& out = r.engine.sampling;
  out = model.default_sampling;
  if (s.temperature) out.temperature = static_cast<float>(*s.temperature);
  if (s.top_p) out.top_p = static_cast<float>(*s.top_p);
  if (s.min_p) out.min_p = static_cast<float>(*s.min_p);
  if (s.top_k) out.top_k = *s.top_k <= 0 ? 0 : static_cast<int>(std::min<int64_t>(*s.top_k, std::numeric_limits<int>::max()));
  if (s.presence_penalty) out.presence_penalty = static_cast<float>(*s.presence_penalty);
  if (s.frequency_penalty) out.frequency_penalty = static_cast<float>(*s.frequency_penalty);
  if (s.repetition_penalty) out.repetition_penalty = static_cast<float>(*s.repetition_penalty);
  if (s.seed) out.seed = static_cast<uint64_t>(*s.seed);
  if (!s.logit_bias.empty())
    throw InvalidRequest("logit_bias", "'logit_bias' is not supported by this server.", "unsupported_parameter");
  r.n = static_cast<int>(s.n);
  r.engine.stop_strings = s.stop;
  r.engine.stop_token_ids = model.eos_token_ids;
  // vLLM's extension: generate past EOS (benchmarks, tests that need a fixed length).
  if (openai::read_bool(body, "ignore_eos").value_or(false)) r.engine.stop_token_ids.clear();
}

// max_tokens: bounded by what fits in the context after the longest prompt; `dflt` when unset.
void apply_max_tokens(std::optional<int64_t> requested, int64_t dflt, const std::string& param, const ModelBundle& model,
                      GenerationRequest& r) {
  size_t longest = 0;
  for (const auto& p : r.prompts) longest = std::max(longest, p.ids.size());
  const int64_t room = model.max_context - static_cast<int64_t>(longest);
  if (room <= 0)
    throw InvalidRequest(r.endpoint == Endpoint::kChat ? "messages" : "prompt",
                         "The prompt has " + std::to_string(longest) + " tokens, which fills the model's context of " +
                             std::to_string(model.max_context) + "; no room is left to generate.",
                         "context_length_exceeded");
  int64_t max_tokens = dflt > 0 ? std::min(dflt, room) : room;
  if (requested) {
    if (*requested > room)
      throw InvalidRequest(param, "'" + param + "' is " + std::to_string(*requested) + " but only " +
                                      std::to_string(room) + " tokens fit after the " + std::to_string(longest) +
                                      "-token prompt (context " + std::to_string(model.max_context) + ").",
                           "context_length_exceeded");
    max_tokens = *requested;
  }
  r.engine.max_tokens = static_cast<int>(max_tokens);
}

Prompt tokenize_input(const openai::PromptInput& in, const ModelBundle& model, const RequestBounds& bounds,
                      const std::string& param) {
  Prompt p;
  if (in.text) {
    p.text = *in.text;
    check_text_size(p.text, model, bounds, param);
    p.ids = model.tokenizer->encode(p.text, /*add_special_tokens=*/true);
  } else {
    p.ids = in.token_ids;
    check_token_ids(p.ids, model, param);
    p.text = model.tokenizer->decode(p.ids);
  }
  if (p.ids.empty()) throw InvalidRequest(param, "'" + param + "' must not be empty (it has no tokens).");
  return p;
}

// The chat messages as the template sees them: the body's objects, with an array of text parts
// joined into one string (templates expect string content).
nlohmann::ordered_json template_messages(const Json& body, const openai::ChatCompletionRequest& req) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  const Json& raw = body.at("messages");
  for (size_t i = 0; i < req.messages.size(); ++i) {
    nlohmann::ordered_json m = nlohmann::ordered_json(raw[i]);
    const auto& msg = req.messages[i];
    if (msg.content) m["content"] = *msg.content;
    else m["content"] = nullptr;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

GenerationRequest build_chat_request(const Json& body, const ModelBundle& model, const RequestBounds& bounds) {
  const openai::ChatCompletionRequest req = openai::chat_completion_request_from_json(body);
  check_model(req.model, model);
  GenerationRequest r;
  r.endpoint = Endpoint::kChat;
  r.model = req.model;
  if (!model.chat_template)
    throw InvalidRequest("messages", "The model '" + model.name + "' has no chat template; use /v1/completions.",
                         "unsupported_model", 422);
  apply_sampling(req.sampling, body, model, r);
  r.stream = req.stream;
  r.include_usage = req.include_usage;
  r.want_logprobs = req.logprobs;
  r.engine.logprobs = static_cast<int>(req.logprobs ? req.top_logprobs.value_or(0) : 0);
  r.engine.priority = static_cast<int>(req.priority);
  r.user = req.user;

  nlohmann::ordered_json tools;  // null: none
  if (!req.tools.empty() && req.tool_choice.mode != openai::ToolChoice::Mode::kNone)
    tools = nlohmann::ordered_json(body.at("tools"));
  nlohmann::ordered_json extra;
  if (const Json* kw = openai::field(body, "chat_template_kwargs")) {  // vLLM's extension
    if (!kw->is_object())
      throw InvalidRequest("chat_template_kwargs", "'chat_template_kwargs' must be an object.", "invalid_type");
    extra = nlohmann::ordered_json(*kw);
  }
  Prompt p;
  try {
    p.text = chat::apply_chat_template(*model.chat_template, template_messages(body, req), tools,
                                       /*add_generation_prompt=*/true, extra);
  } catch (const Error& e) {
    throw InvalidRequest("messages", std::string("The chat template could not render these messages: ") + e.what());
  }
  check_text_size(p.text, model, bounds, "messages");
  p.ids = model.tokenizer->encode(p.text, /*add_special_tokens=*/false);
  if (p.ids.empty()) throw InvalidRequest("messages", "The rendered prompt is empty.");
  check_prompt_length(static_cast<int64_t>(p.ids.size()), model, bounds, "messages");
  r.prompts.push_back(std::move(p));
  apply_max_tokens(req.sampling.max_tokens, 0,
                   openai::field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens", model, r);
  return r;
}

GenerationRequest build_completion_request(const Json& body, const ModelBundle& model, const RequestBounds& bounds) {
  const openai::CompletionRequest req = openai::completion_request_from_json(body);
  check_model(req.model, model);
  GenerationRequest r;
  r.endpoint = Endpoint::kCompletion;
  r.model = req.model;
  apply_sampling(req.sampling, body, model, r);
  r.stream = req.stream;
  r.include_usage = req.include_usage;
  r.want_logprobs = req.logprobs.has_value();
  r.engine.logprobs = static_cast<int>(req.logprobs.value_or(0));
  r.engine.priority = static_cast<int>(req.priority);
  r.echo = req.echo;
  r.user = req.user;
  for (size_t i = 0; i < req.prompts.size(); ++i) {
    const std::string param = req.prompts.size() == 1 ? "prompt" : openai::index_path("prompt", i);
    r.prompts.push_back(tokenize_input(req.prompts[i], model, bounds, param));
    check_prompt_length(static_cast<int64_t>(r.prompts.back().ids.size()), model, bounds, param);
  }
  if (static_cast<int64_t>(r.choices()) > openai::kMaxN * 8)
    throw InvalidRequest("n", "prompts x n is " + std::to_string(r.choices()) + " choices; at most " +
                                  std::to_string(openai::kMaxN * 8) + " per request.");
  // The parser already defaulted max_tokens to OpenAI's 16; a default shrinks to fit the context.
  const bool given = openai::field(body, "max_tokens") != nullptr;
  apply_max_tokens(given ? req.sampling.max_tokens : std::nullopt, openai::kDefaultCompletionMaxTokens, "max_tokens",
                   model, r);
  return r;
}

GenerationRequest build_invocation_request(const Json& body, const ModelBundle& model, const RequestBounds& bounds) {
  const openai::CompletionRequest req = openai::invocation_request_from_json(body);
  if (req.stream) throw InvalidRequest("stream", "/invocations does not stream; use /v1/completions.", "unsupported_parameter");
  GenerationRequest r;
  r.endpoint = Endpoint::kInvocation;
  apply_sampling(req.sampling, body, model, r);
  if (req.prompts.size() != 1 || !req.prompts[0].text)
    throw InvalidRequest("prompt", "'prompt' must be one string.", "invalid_type");
  r.prompts.push_back(tokenize_input(req.prompts[0], model, bounds, "prompt"));
  check_prompt_length(static_cast<int64_t>(r.prompts.back().ids.size()), model, bounds, "prompt");
  r.engine.priority = static_cast<int>(req.priority);
  apply_max_tokens(req.sampling.max_tokens, openai::kDefaultCompletionMaxTokens, "max_length", model, r);
  const auto& s = r.engine.sampling;
  r.generation_config = {{"max_length", r.engine.max_tokens}, {"temperature", s.temperature},
                         {"top_p", s.top_p},                  {"top_k", s.top_k},
                         {"seed", s.seed},                    {"stop", r.engine.stop_strings}};
  return r;
}

}  // namespace nova::serve::app
