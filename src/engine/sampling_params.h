// What a request asks of the sampler. Field names and ranges follow the OpenAI / vLLM API so the
// server can pass them through unchanged; validate() rejects anything out of range with a
// nova::Error that names the field.
#pragma once

#include <cstdint>

namespace nova::engine {

struct SamplingParams {
  float temperature = 1;         // 0 = greedy (argmax, lowest id on ties)
  int top_k = 0;                 // 0 = off
  float top_p = 1;               // (0, 1]; 1 = off
  float min_p = 0;               // [0, 1]; 0 = off
  float repetition_penalty = 1;  // > 0; 1 = off (HF semantics, prompt + generated)
  float presence_penalty = 0;    // [-2, 2] (OpenAI semantics, generated tokens only)
  float frequency_penalty = 0;   // [-2, 2]
  uint64_t seed = 0;             // every seed (0 included) is a fixed, reproducible stream

  bool greedy() const { return temperature <= 0; }

  // Throws nova::Error("sampling.<field>", ...) for an out-of-range value.
  void validate() const;
};

}  // namespace nova::engine
