// Logit penalties for repeated tokens. Two families with different conventions, kept apart on
// purpose because clients expect each one's exact semantics:
//  - repetition_penalty (Hugging Face / CTRL): every id in the *set* of tokens seen so far
//    (prompt + generated; a token seen twice is penalised once) gets
//    logit > 0 ? logit / p : logit * p.
//  - presence / frequency penalty (OpenAI): over the *generated* tokens only (as vLLM does; the
//    prompt is the user's text, not the model's repetition), logit -= presence * [count > 0]
//    + frequency * count.
#pragma once

#include <cstdint>
#include <span>

namespace nova::engine {

// The tokens a penalty may look at: the request's prompt and what has been generated after it.
// (Tokens the session held before the request are not known to the engine and not penalised.)
struct TokenHistory {
  std::span<const int32_t> prompt;
  std::span<const int32_t> generated;
};

// Both throw nova::Error if an id in the history is outside [0, logits.size()).
void apply_repetition_penalty(std::span<float> logits, float penalty, const TokenHistory& history);
void apply_presence_frequency_penalty(std::span<float> logits, float presence, float frequency,
                                      std::span<const int32_t> generated);

}  // namespace nova::engine
