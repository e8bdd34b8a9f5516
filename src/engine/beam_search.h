// Beam search with Hugging Face transformers' semantics (its vectorised beam search of v4.50+,
// still the one in v5):
//  - Each step scores every (beam, token) by the beam's summed logprob + log_softmax(logits)
//    (raw model distribution: no temperature or penalties), keeps the best
//    max(2, 1 + #eos) * num_beams candidates, best first (ties: lower beam, then lower id).
//  - A candidate ending in an EOS id, or reaching max_tokens, is a finished hypothesis if it is
//    among the first num_beams candidates; its score is sum_logprobs / gen_len^length_penalty
//    where gen_len counts the *generated* tokens, the EOS included (newer transformers; older
//    ones divided by the whole sequence length, prompt included). The best num_beams finished
//    hypotheses are kept.
//  - The next beams are the best num_beams candidates that did not finish.
//  - early_stopping: kHeuristic (HF False) stops once num_beams hypotheses are finished and the
//    best running beam, scored at its current length, cannot beat the worst of them; kNever (HF
//    "never") does the same but scores the running beam at max_tokens when length_penalty > 0 (a
//    true bound then); kOnFull (HF True) also stops as soon as num_beams hypotheses are finished.
// With num_beams = 1 and no EOS this is exactly greedy search. (HF's generate() never runs its
// beam code with one beam; with an EOS the beam version can pass over an early EOS when a longer
// continuation scores better.)
//
// Beams are Session::fork() copies: each fork copies the KV cache. That is the cost the paged KV
// cache (shared prefix blocks, copy-on-write) will remove.
#pragma once

#include <cstdint>
#include <vector>

#include "model/session.h"

namespace nova::engine {

enum class EarlyStopping { kHeuristic, kOnFull, kNever };

struct BeamSearchRequest {
  std::vector<int32_t> prompt;  // appended after what the session holds; must not be empty
  int max_tokens = 16;          // >= 1
  int num_beams = 4;            // >= 1
  float length_penalty = 1.0f;  // exponent on the generated length; > 0 favours longer sequences
  EarlyStopping early_stopping = EarlyStopping::kHeuristic;
  std::vector<int32_t> eos_token_ids;
  int num_return_sequences = 1;  // in [1, num_beams]
  int prefill_chunk = 512;
};

struct BeamHypothesis {
  std::vector<int32_t> tokens;  // generated tokens, the final EOS included
  double sum_logprobs = 0;
  double score = 0;             // sum_logprobs / tokens.size()^length_penalty
  bool ended_with_eos = false;
};

struct BeamSearchResult {
  std::vector<BeamHypothesis> sequences;  // num_return_sequences of them, best score first
};

// Runs beam search continuing from what `session` holds. On return the session holds its old
// contents + the prompt (the beams ran on forks). Throws nova::Error for an invalid request or
// when prompt + max_tokens does not fit the session.
BeamSearchResult beam_search(model::Session& session, const BeamSearchRequest& request);

}  // namespace nova::engine
