#include "serve/openai/stream_chunks.h"

#include <map>

#include "serve/openai/json_text.h"

namespace nova::serve::openai {

// Key order follows nlohmann::json's (sorted object keys), which the DOM builders dump with.

namespace {

void append_bytes(std::string& out, std::string_view token) {
  out.push_back('[');
  for (size_t i = 0; i < token.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_json_int(out, static_cast<unsigned char>(token[i]));
  }
  out.push_back(']');
}

}  // namespace

StreamChunkWriter::StreamChunkWriter(const ResponseMeta& meta, Kind kind, bool include_usage) : kind_(kind) {
  open_ = "data: {\"choices\":[";
  close_ = "],\"created\":";
  append_json_int(close_, meta.created);
  close_ += ",\"id\":";
  append_json_string(close_, meta.id);
  close_ += ",\"model\":";
  append_json_string(close_, meta.model);
  close_ += kind == Kind::kChat ? ",\"object\":\"chat.completion.chunk\"" : ",\"object\":\"text_completion\"";
  close_ += ",\"system_fingerprint\":";
  if (meta.system_fingerprint.empty()) close_ += "null";
  else append_json_string(close_, meta.system_fingerprint);
  if (include_usage) close_ += ",\"usage\":null";
  close_ += "}\n\n";
}

void StreamChunkWriter::role(std::string& out, int64_t index) const {
  open(out);
  out += "{\"delta\":{\"content\":\"\",\"role\":\"assistant\"},\"finish_reason\":null,\"index\":";
  append_json_int(out, index);
  out += ",\"logprobs\":null}";
  close(out);
}

void StreamChunkWriter::delta(std::string& out, int64_t index, std::string_view text,
                              const TokenLogprob* logprob) const {
  open(out);
  if (kind_ == Kind::kChat) {
    out += "{\"delta\":{\"content\":";
    append_json_string(out, text);
    out += "},\"finish_reason\":null,\"index\":";
    append_json_int(out, index);
    out += ",\"logprobs\":";
    if (logprob) chat_logprobs(out, *logprob);
    else out += "null";
    out += '}';
  } else {
    out += "{\"finish_reason\":null,\"index\":";
    append_json_int(out, index);
    out += ",\"logprobs\":";
    if (logprob) text_logprobs(out, *logprob);
    else out += "null";
    out += ",\"text\":";
    append_json_string(out, text);
    out += '}';
  }
  close(out);
}

void StreamChunkWriter::finish(std::string& out, int64_t index, std::string_view finish_reason) const {
  open(out);
  if (kind_ == Kind::kChat) {
    out += "{\"delta\":{},\"finish_reason\":";
    append_json_string(out, finish_reason);
    out += ",\"index\":";
    append_json_int(out, index);
    out += ",\"logprobs\":null}";
  } else {
    out += "{\"finish_reason\":";
    append_json_string(out, finish_reason);
    out += ",\"index\":";
    append_json_int(out, index);
    out += ",\"logprobs\":null,\"text\":\"\"}";
  }
  close(out);
}

// {"content":[{"bytes":[…],"logprob":x,"token":"…","top_logprobs":[{"bytes","logprob","token"}…]}],"refusal":null}
void StreamChunkWriter::chat_logprobs(std::string& out, const TokenLogprob& t) const {
  out += "{\"content\":[{\"bytes\":";
  append_bytes(out, t.token);
  out += ",\"logprob\":";
  append_json_double(out, t.logprob);
  out += ",\"token\":";
  append_json_string(out, t.token);
  out += ",\"top_logprobs\":[";
  for (size_t i = 0; i < t.top.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"bytes\":";
    append_bytes(out, t.top[i].token);
    out += ",\"logprob\":";
    append_json_double(out, t.top[i].logprob);
    out += ",\"token\":";
    append_json_string(out, t.top[i].token);
    out += '}';
  }
  out += "]}],\"refusal\":null}";
}

// {"text_offset":[0],"token_logprobs":[x],"tokens":["…"],"top_logprobs":[{token: logprob…}]}
void StreamChunkWriter::text_logprobs(std::string& out, const TokenLogprob& t) const {
  out += "{\"text_offset\":[0],\"token_logprobs\":[";
  append_json_double(out, t.logprob);
  out += "],\"tokens\":[";
  append_json_string(out, t.token);
  out += "],\"top_logprobs\":[{";
  if (!t.top.empty()) {
    // A JSON object keyed by token text: sorted by key, a repeated key keeps its last value.
    std::map<std::string_view, double> top;
    for (const auto& alt : t.top) top[alt.token] = alt.logprob;
    bool first = true;
    for (const auto& [token, lp] : top) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, token);
      out += ':';
      append_json_double(out, lp);
    }
  }
  out += "}]}";
}

}  // namespace nova::serve::openai
