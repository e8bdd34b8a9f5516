// Generation parameters shared by /v1/chat/completions, /v1/completions and /invocations, as
// the client sent them (unset = the model's/server's default). Ranges follow OpenAI; min_p,
// top_k and repetition_penalty follow vLLM's extensions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "serve/openai/json_body.h"

namespace nova::serve::openai {

inline constexpr int64_t kMaxN = 16;               // choices per request
inline constexpr size_t kMaxStopSequences = 4;
inline constexpr int64_t kMaxTokensLimit = 2147483647;
inline constexpr int64_t kMaxTokenId = 2147483647;

struct SamplingParams {
  std::optional<int64_t> max_tokens;       // [1, 2^31-1]
  std::optional<double> temperature;       // [0, 2]
  std::optional<double> top_p;             // (0, 1]
  std::optional<double> min_p;             // [0, 1]
  std::optional<int64_t> top_k;            // -1 or 0 = off, else >= 1
  std::optional<double> presence_penalty;  // [-2, 2]
  std::optional<double> frequency_penalty; // [-2, 2]
  std::optional<double> repetition_penalty;// (0, 100]
  int64_t n = 1;                           // [1, kMaxN]
  std::vector<std::string> stop;           // up to 4 non-empty strings
  std::optional<int64_t> seed;
  std::map<int64_t, double> logit_bias;    // token id -> [-100, 100]
};

// Reads every field above except max_tokens (whose name differs per endpoint).
SamplingParams read_sampling(const Json& body);

// `stop`: a string or an array of up to four strings.
std::vector<std::string> read_stop(const Json& body, std::string_view key, std::string_view parent = {});

}  // namespace nova::serve::openai
