// Picks the next token of one sequence from the model's logits. One Sampler per sequence: it owns
// the sequence's random stream, so the continuous-batching scheduler can keep one per running
// request and get the same tokens as a single-request generate() with the same seed.
//
// Processing order (Hugging Face's default processor/warper order):
//   repetition penalty -> presence/frequency penalty -> temperature -> top_k -> top_p -> min_p -> draw
// temperature 0 means greedy: argmax of the penalised logits, lowest id on ties; the truncation
// warpers and the random stream are not used.
//
// Reported logprobs (vLLM's "processed logits" choice, before truncation): log_softmax of the
// logits after penalties and temperature, over the whole vocabulary; top_k/top_p/min_p do not
// change them (so a token they cut off still has a finite logprob). Greedy uses temperature 1.
//
// Truncation details, as in HF's warpers: top_k keeps every token tied with the k-th largest
// logit; top_p keeps the smallest set of most likely tokens whose mass reaches top_p (the token
// that crosses it is kept; at least one token); min_p keeps tokens with p >= min_p * p_max among
// those left. The draw is inverse-CDF over the survivors with a 53-bit uniform from
// std::mt19937_64 seeded with `seed`, so a seed gives the same tokens on every platform.
//
// On a device backend the engine runs this algorithm where the logits are (Backend::sample_rows
// through engine/device_sampler.h), with the draw taken from this Sampler's stream
// (next_uniform), so a seed gives the same tokens there too.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "engine/penalties.h"
#include "engine/sampling_params.h"

namespace nova::engine {

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
};

struct SampledToken {
  int32_t id = 0;
  float logprob = 0;               // of `id`, see the header comment for which distribution
  std::vector<TokenLogprob> top;   // the `top_logprobs` most likely ids, best first, lowest id on ties
};

class Sampler {
 public:
  // Validates `params` (nova::Error naming the field) and the vocabulary size.
  Sampler(const SamplingParams& params, int vocab_size);

  // `logits` has vocab_size entries. Throws nova::Error on a size mismatch, a NaN logit, a history
  // id out of range, or when no token has a finite logit. top_logprobs in [0, vocab_size].
  SampledToken sample(std::span<const float> logits, const TokenHistory& history, int top_logprobs = 0);

  // sample() split in two, for sampling where the logits are (engine/device_sampler.h):
  // next_uniform() advances the stream exactly as the next sample() would and returns its draw
  // (a non-greedy sampler draws one per token; a greedy one none: 0 is returned, nothing drawn);
  // sample_at() is sample() with that draw given instead of taken from the stream.
  double next_uniform() { return params_.greedy() ? 0.0 : uniform(); }
  SampledToken sample_at(std::span<const float> logits, const TokenHistory& history, int top_logprobs, double uniform);

  const SamplingParams& params() const { return params_; }
  int vocab_size() const { return vocab_size_; }

 private:
  double uniform();  // [0, 1), 53 bits
  // `given`: the draw to use; null: drawn from the stream.
  SampledToken sample_impl(std::span<const float> logits, const TokenHistory& history, int top_logprobs,
                           const double* given);

  SamplingParams params_;
  int vocab_size_;
  std::mt19937_64 rng_;
  std::vector<float> penalized_;    // logits after the penalties (float, as the model gave them)
  std::vector<double> work_;        // processed logits (double: logit / tiny temperature stays finite)
  std::vector<double> weights_;     // exp(logit - max logit)
  std::vector<double> values_;      // scratch for top_k selection
  std::vector<int32_t> candidates_;
};

// The `n` best ids of `logprobs` (descending, lowest id on ties).
std::vector<TokenLogprob> top_n(std::span<const float> logprobs, int n);

}  // namespace nova::engine
