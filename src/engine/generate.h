// Single-sequence generation: prefill the prompt in chunks, then sample token by token until a
// stop rule fires, streaming each token (and the text that became safe to show) to a callback.
// The server's continuous-batching scheduler reuses the same pieces per sequence: Sampler and
// StopCriteria.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/detokenizer.h"
#include "engine/sampler.h"
#include "model/session.h"

namespace nova::tokenizer {
class Tokenizer;
}

namespace nova::engine {

struct GenerationRequest {
  std::vector<int32_t> prompt;  // appended after what the session already holds; must not be empty
  int max_tokens = 16;          // generated tokens at most (>= 0; 0 = prefill only)
  SamplingParams sampling;
  std::vector<int32_t> stop_token_ids;   // e.g. the model's EOS ids
  std::vector<std::string> stop_strings;  // need a detokenizer
  int logprobs = 0;                       // top logprobs to report per token (0 = none)
  bool skip_special_tokens = true;        // in the returned text (vLLM's default)
  int prefill_chunk = 512;                // prompt tokens per forward call (> 0)
  // Sample on the device when the session's backend can (Session::device_sampling_backend()):
  // only the chosen id and logprobs reach the host, the same tokens as the host path for the
  // same seed. false: download the logits and sample on the host.
  bool device_sampling = true;
  // With device sampling and no penalties, overlap decode steps: the next step runs on the token
  // the device picked while the host reads it (generate.cpp). false: each step waits for the
  // previous token on the host (for A/B measurements; the tokens are the same).
  bool overlap_steps = true;
};

// One generated token, handed to the streaming callback as soon as it is sampled.
struct TokenEvent {
  int index = 0;                  // 0-based position among the generated tokens
  int32_t token = 0;
  float logprob = 0;
  std::vector<TokenLogprob> top;  // request.logprobs entries
  std::string text;               // text that became safe to show with this token (may be empty)
  bool finished = false;          // this is the last token
  std::string finish_reason;      // set when finished ("stop" | "length")
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // every generated token, a matched stop token included
  std::string text;             // == concatenation of the events' text: no stop string in it
  std::string finish_reason;    // "stop" | "length" | "cancelled"
  std::string stop_string;      // the stop string that matched ("" if none)
  int32_t stop_token = -1;      // the stop token that matched (-1 if none)
  std::vector<float> token_logprobs;            // one per token
  std::vector<std::vector<TokenLogprob>> top_logprobs;  // one per token when request.logprobs > 0
  int prompt_tokens = 0;
};

// Return false to cancel: generation stops after this token, finish_reason "cancelled".
using TokenCallback = std::function<bool(const TokenEvent&)>;

// Runs `request` on `session`, continuing from whatever the session already holds. `detok` may be
// null: then no text is produced and stop strings are rejected. Throws nova::Error for an invalid
// request (the message names the field) or when the prompt does not fit in the session.
//
// On return the session holds its old contents + prompt + every generated token except the last
// one (which was sampled but never run through the model): to continue the conversation, pass
// that last token first in the next prompt. Generation ends with "length" early if the session's
// capacity is reached.
//
// (Beam search, engine/beam_search.h, stays on the host: it ranks whole log-softmax rows.)
GenerationResult generate(model::Session& session, const Detokenizer* detok, const GenerationRequest& request,
                          const TokenCallback& on_token = {});
// The same with a Hugging Face tokenizer (may be null); defined in tokenizer_detokenizer.cpp.
GenerationResult generate(model::Session& session, const tokenizer::Tokenizer* tok, const GenerationRequest& request,
                          const TokenCallback& on_token = {});
// No tokenizer: token ids only (resolves a literal nullptr between the two overloads).
inline GenerationResult generate(model::Session& session, std::nullptr_t, const GenerationRequest& request,
                                 const TokenCallback& on_token = {}) {
  return generate(session, static_cast<const Detokenizer*>(nullptr), request, on_token);
}

// Validates the request's fields against a vocabulary (used by generate; exposed for the server).
void validate_request(const GenerationRequest& request, int vocab_size);

}  // namespace nova::engine
