#include "serve/openai/completion_request.h"

namespace nova::serve::openai {

namespace {

std::vector<int32_t> read_token_array(const Json& arr, const std::string& param) {
  if (arr.empty()) throw InvalidRequest(param, "'" + param + "' must not be an empty array.");
  std::vector<int32_t> ids;
  ids.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_number())
      throw InvalidRequest(param, "'" + param + "' must hold only token ids (integers), found " +
                                      type_phrase(arr[i]) + " at index " + std::to_string(i) + ".",
                           "invalid_type");
    ids.push_back(static_cast<int32_t>(as_int(arr[i], 0, kMaxTokenId, index_path(param, i))));
  }
  return ids;
}

bool stream_and_options(const Json& body, bool& include_usage) {
  const bool stream = read_bool(body, "stream").value_or(false);
  if (const Json* so = field(body, "stream_options")) {
    if (!stream) throw InvalidRequest("stream_options", "'stream_options' is only allowed when 'stream' is true.");
    if (!so->is_object())
      throw InvalidRequest("stream_options", "'stream_options' must be an object, got " + type_phrase(*so) + ".",
                           "invalid_type");
    include_usage = read_bool(*so, "include_usage", "stream_options").value_or(false);
  }
  return stream;
}

}  // namespace

std::vector<PromptInput> read_prompts(const Json& body, std::string_view key, bool allow_empty_text, size_t max_count) {
  const std::string param(key);
  const Json* v = field(body, key);
  if (!v) throw InvalidRequest(param, "'" + param + "' is required.", "missing_required_parameter");
  std::vector<PromptInput> out;
  auto text = [&](const Json& s, const std::string& p) {
    if (!allow_empty_text && s.get_ref<const std::string&>().empty())
      throw InvalidRequest(p, "'" + p + "' must not be an empty string.");
    out.push_back({s.get<std::string>(), {}});
  };
  if (v->is_string()) {
    text(*v, param);
    return out;
  }
  if (!v->is_array())
    throw InvalidRequest(param, "'" + param + "' must be a string, an array of strings or an array of token ids, got " +
                                    type_phrase(*v) + ".",
                         "invalid_type");
  if (v->empty()) throw InvalidRequest(param, "'" + param + "' must not be an empty array.");
  if ((*v)[0].is_number()) {  // one tokenized prompt
    out.push_back({std::nullopt, read_token_array(*v, param)});
    return out;
  }
  if (v->size() > max_count)
    throw InvalidRequest(param, "'" + param + "' may hold at most " + std::to_string(max_count) + " entries.");
  const bool strings = (*v)[0].is_string();
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& e = (*v)[i];
    const std::string p = index_path(param, i);
    if (strings && e.is_string()) text(e, p);
    else if (!strings && e.is_array()) out.push_back({std::nullopt, read_token_array(e, p)});
    else
      throw InvalidRequest(p, "'" + param + "' must be all strings or all token-id arrays; '" + p + "' is " +
                                  type_phrase(e) + ".",
                           "invalid_type");
  }
  return out;
}

CompletionRequest completion_request_from_json(const Json& body) {
  CompletionRequest req;
  req.model = read_string(body, "model").value_or("");
  req.prompts = read_prompts(body, "prompt", /*allow_empty_text=*/true, kMaxPrompts);
  req.sampling = read_sampling(body);
  req.sampling.max_tokens = read_int(body, "max_tokens", 1, kMaxTokensLimit).value_or(kDefaultCompletionMaxTokens);
  req.echo = read_bool(body, "echo").value_or(false);
  req.logprobs = read_int(body, "logprobs", 0, 5);
  if (auto suffix = read_string(body, "suffix"); suffix && !suffix->empty())
    throw InvalidRequest("suffix", "'suffix' is not supported by this server.", "unsupported_parameter");
  if (auto best_of = read_int(body, "best_of", 1, 20); best_of && *best_of != 1 && *best_of != req.sampling.n)
    throw InvalidRequest("best_of", "'best_of' other than 1 or n is not supported by this server.",
                         "unsupported_parameter");
  req.stream = stream_and_options(body, req.include_usage);
  req.user = read_string(body, "user").value_or("");
  req.priority = read_int(body, "priority", -2147483648LL, 2147483647LL).value_or(0);
  return req;
}

CompletionRequest parse_completion_request(std::string_view body) {
  return completion_request_from_json(parse_json_body(body));
}

CompletionRequest invocation_request_from_json(const Json& body) {
  // Flatten: "parameters" entries override top-level ones, then read one object.
  Json flat = body;
  if (const Json* params = field(body, "parameters")) {
    if (!params->is_object())
      throw InvalidRequest("parameters", "'parameters' must be an object, got " + type_phrase(*params) + ".",
                           "invalid_type");
    for (const auto& [k, v] : params->items()) flat[k] = v;
  }
  if (!field(flat, "prompt") && field(flat, "inputs")) flat["prompt"] = flat["inputs"];

  CompletionRequest req;
  req.model = read_string(flat, "model").value_or("");
  req.prompts = read_prompts(flat, "prompt", /*allow_empty_text=*/true, kMaxPrompts);
  req.sampling = read_sampling(flat);
  std::optional<int64_t> max_tokens = read_int(flat, "max_tokens", 1, kMaxTokensLimit);
  if (auto m = read_int(flat, "max_new_tokens", 1, kMaxTokensLimit)) max_tokens = m;
  if (auto m = read_int(flat, "max_length", 1, kMaxTokensLimit)) max_tokens = m;
  req.sampling.max_tokens = max_tokens.value_or(kDefaultCompletionMaxTokens);
  if (read_bool(flat, "do_sample") == false) req.sampling.temperature = 0.0;
  req.stream = read_bool(flat, "stream").value_or(false);
  req.priority = read_int(flat, "priority", -2147483648LL, 2147483647LL).value_or(0);
  return req;
}

CompletionRequest parse_invocation_request(std::string_view body) {
  return invocation_request_from_json(parse_json_body(body));
}

EmbeddingRequest embedding_request_from_json(const Json& body) {
  EmbeddingRequest req;
  req.model = read_string(body, "model").value_or("");
  req.inputs = read_prompts(body, "input", /*allow_empty_text=*/false, kMaxPrompts);
  if (auto f = read_string(body, "encoding_format")) {
    if (*f == "float") req.encoding_format = EncodingFormat::kFloat;
    else if (*f == "base64") req.encoding_format = EncodingFormat::kBase64;
    else throw InvalidRequest("encoding_format", "'encoding_format' must be 'float' or 'base64'.");
  }
  req.dimensions = read_int(body, "dimensions", 1, 1 << 20);
  req.user = read_string(body, "user").value_or("");
  return req;
}

EmbeddingRequest parse_embedding_request(std::string_view body) {
  return embedding_request_from_json(parse_json_body(body));
}

}  // namespace nova::serve::openai
