// The per-token SSE chunks of a streamed chat or text completion, written straight into a
// byte buffer: the part every chunk of a request shares (id, object, created, model,
// system_fingerprint, usage: null) is rendered once, and each chunk appends only its choice
// (index, the escaped text delta, logprobs when asked). The bytes equal
// "data: " + dump_json(chat_chunk_json / text_completion_json of the same delta) + "\n\n".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "serve/openai/responses.h"

namespace nova::serve::openai {

class StreamChunkWriter {
 public:
  enum class Kind { kChat, kText };
  StreamChunkWriter(const ResponseMeta& meta, Kind kind, bool include_usage);

  // Each appends one complete SSE event ("data: {...}\n\n") to `out`.
  // Chat: the choice's first chunk, {"role": "assistant", "content": ""}.
  void role(std::string& out, int64_t index) const;
  // Chat {"content": text} / text {"text": text}; `logprob` (one token) or null.
  void delta(std::string& out, int64_t index, std::string_view text, const TokenLogprob* logprob) const;
  // The choice's last chunk: empty delta / text and its finish_reason.
  void finish(std::string& out, int64_t index, std::string_view finish_reason) const;

 private:
  void open(std::string& out) const { out.append(open_); }
  void close(std::string& out) const { out.append(close_); }
  void chat_logprobs(std::string& out, const TokenLogprob& t) const;
  void text_logprobs(std::string& out, const TokenLogprob& t) const;

  Kind kind_;
  std::string open_;   // data: {"choices":[
  std::string close_;  // ],"created":…,"id":…,…}\n\n
};

}  // namespace nova::serve::openai
