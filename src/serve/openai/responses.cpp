#include "serve/openai/responses.h"

#include <openssl/rand.h>

#include <bit>
#include <chrono>
#include <cstring>

#include "core/error.h"

namespace nova::serve::openai {

std::string make_id(std::string_view prefix) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail("response id", "RAND_bytes failed");
  std::string id(prefix);
  // 256 % 62 != 0 leaves a tiny bias; ids need uniqueness, not uniformity.
  for (unsigned char b : bytes) id += kAlphabet[b % 62];
  return id;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

Json nullable(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

Json token_bytes(const std::string& token) {
  Json arr = Json::array();
  for (unsigned char c : token) arr.push_back(static_cast<int>(c));
  return arr;
}

void put_meta(Json& j, const ResponseMeta& meta, const char* object) {
  j["id"] = meta.id;
  j["object"] = object;
  j["created"] = meta.created;
  j["model"] = meta.model;
  j["system_fingerprint"] = meta.system_fingerprint.empty() ? Json(nullptr) : Json(meta.system_fingerprint);
}

Json tool_calls_json(const std::vector<ToolCall>& calls) {
  Json arr = Json::array();
  for (const auto& c : calls)
    arr.push_back({{"id", c.id}, {"type", c.type}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return arr;
}

}  // namespace

Json usage_json(const Usage& u) {
  Json j = {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  if (u.cached_tokens) j["prompt_tokens_details"] = {{"cached_tokens", *u.cached_tokens}};
  return j;
}

Json chat_logprobs_json(const std::vector<TokenLogprob>& tokens) {
  Json content = Json::array();
  for (const auto& t : tokens) {
    Json top = Json::array();
    for (const auto& alt : t.top)
      top.push_back({{"token", alt.token}, {"logprob", alt.logprob}, {"bytes", token_bytes(alt.token)}});
    content.push_back(
        {{"token", t.token}, {"logprob", t.logprob}, {"bytes", token_bytes(t.token)}, {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

Json completion_logprobs_json(const std::vector<TokenLogprob>& tokens, int64_t first_offset) {
  Json toks = Json::array(), lps = Json::array(), tops = Json::array(), offsets = Json::array();
  int64_t offset = first_offset;
  for (const auto& t : tokens) {
    toks.push_back(t.token);
    lps.push_back(t.logprob);
    Json top = Json::object();
    for (const auto& alt : t.top) top[alt.token] = alt.logprob;
    tops.push_back(std::move(top));
    offsets.push_back(offset);
    offset += static_cast<int64_t>(t.token.size());
  }
  return {{"tokens", std::move(toks)}, {"token_logprobs", std::move(lps)}, {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

Json chat_completion_json(const ResponseMeta& meta, const std::vector<ChatChoice>& choices, const Usage& usage) {
  Json j;
  put_meta(j, meta, "chat.completion");
  Json arr = Json::array();
  for (const auto& c : choices) {
    Json message = {{"role", "assistant"}, {"content", nullable(c.content)}, {"refusal", nullptr}};
    if (!c.tool_calls.empty()) message["tool_calls"] = tool_calls_json(c.tool_calls);
    arr.push_back({{"index", c.index},
                   {"message", std::move(message)},
                   {"logprobs", c.logprobs ? chat_logprobs_json(*c.logprobs) : Json(nullptr)},
                   {"finish_reason", c.finish_reason}});
  }
  j["choices"] = std::move(arr);
  j["usage"] = usage_json(usage);
  return j;
}

Json chat_chunk_json(const ResponseMeta& meta, const std::vector<ChatDelta>& deltas, bool include_usage) {
  Json j;
  put_meta(j, meta, "chat.completion.chunk");
  Json arr = Json::array();
  for (const auto& d : deltas) {
    Json delta = Json::object();
    if (d.role) delta["role"] = *d.role;
    if (d.content) delta["content"] = *d.content;
    if (!d.tool_calls.empty()) {
      Json calls = Json::array();
      for (const auto& t : d.tool_calls) {
        Json call = {{"index", t.index}};
        if (t.id) {
          call["id"] = *t.id;
          call["type"] = "function";
        }
        Json fn = {{"arguments", t.arguments}};
        if (t.name) fn["name"] = *t.name;
        call["function"] = std::move(fn);
        calls.push_back(std::move(call));
      }
      delta["tool_calls"] = std::move(calls);
    }
    arr.push_back({{"index", d.index},
                   {"delta", std::move(delta)},
                   {"logprobs", d.logprobs ? chat_logprobs_json(*d.logprobs) : Json(nullptr)},
                   {"finish_reason", nullable(d.finish_reason)}});
  }
  j["choices"] = std::move(arr);
  if (include_usage) j["usage"] = nullptr;
  return j;
}

Json chat_usage_chunk_json(const ResponseMeta& meta, const Usage& usage) {
  Json j;
  put_meta(j, meta, "chat.completion.chunk");
  j["choices"] = Json::array();
  j["usage"] = usage_json(usage);
  return j;
}

Json text_completion_json(const ResponseMeta& meta, const std::vector<CompletionChoice>& choices,
                          const std::optional<Usage>& usage, bool include_usage) {
  Json j;
  put_meta(j, meta, "text_completion");
  Json arr = Json::array();
  for (const auto& c : choices)
    arr.push_back({{"text", c.text},
                   {"index", c.index},
                   {"logprobs", c.logprobs ? *c.logprobs : Json(nullptr)},
                   {"finish_reason", nullable(c.finish_reason)}});
  j["choices"] = std::move(arr);
  if (usage) j["usage"] = usage_json(*usage);
  else if (include_usage) j["usage"] = nullptr;
  return j;
}

std::string base64_floats(const std::vector<float>& values) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(values.size() * 4, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(values[i]);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);  // little-endian
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += n > 1 ? kAlphabet[(v >> 6) & 63] : '=';
    out += n > 2 ? kAlphabet[v & 63] : '=';
  }
  return out;
}

Json embeddings_json(const std::string& model, const std::vector<std::vector<float>>& embeddings,
                     EncodingFormat format, int64_t prompt_tokens) {
  Json data = Json::array();
  for (size_t i = 0; i < embeddings.size(); ++i) {
    Json e = {{"object", "embedding"}, {"index", i}};
    if (format == EncodingFormat::kBase64) e["embedding"] = base64_floats(embeddings[i]);
    else e["embedding"] = embeddings[i];
    data.push_back(std::move(e));
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

Json models_json(const std::vector<ModelCard>& models) {
  Json data = Json::array();
  for (const auto& m : models)
    data.push_back({{"id", m.id}, {"object", "model"}, {"created", m.created}, {"owned_by", m.owned_by}});
  return {{"object", "list"}, {"data", std::move(data)}};
}

std::string dump_json(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace nova::serve::openai
