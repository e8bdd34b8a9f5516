// When one sequence stops, and which of its text may be shown yet. Per sequence, so the
// continuous-batching scheduler can keep one beside each running request's Sampler.
//
// Rules (OpenAI / vLLM semantics):
//  - A stop token id finishes with "stop". The token is counted as generated (it is in the
//    token list) but its text is not emitted.
//  - A stop string is matched on the decoded text, across token boundaries. Text that could be
//    the start of a stop string is held back until it is known not to be one. The stop string
//    and everything after it are not emitted. When several match, the one starting earliest in
//    the text wins (then the one listed first).
//  - After max_tokens generated tokens the sequence finishes with "length" (a stop on the same
//    token takes precedence). The caller may also end it early with "length" (the model's context
//    is full) or "cancelled" (the client went away).
//  - At the end, the held-back text and the decoder's last bytes are released (they are no stop
//    string, since none can complete any more) and still checked for a complete stop string.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/detokenizer.h"

namespace nova::engine {

struct StopConfig {
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> stop_strings;  // non-empty strings; need a text stream
  int max_tokens = 16;                    // >= 0
};

class StopCriteria {
 public:
  // `text` may be null (no tokenizer): then no text is produced and stop_strings must be empty.
  // Throws nova::Error naming the field for an empty stop string, stop strings without a text
  // stream, or max_tokens < 0.
  StopCriteria(StopConfig config, std::unique_ptr<TextStream> text);

  // Feeds the next generated token; returns the text it makes safe to show (possibly empty).
  // Must not be called once finished().
  std::string push(int32_t id);
  // Ends the sequence now for a reason of the caller's ("length" when the context is full,
  // "cancelled"); returns the text released by ending (empty for "cancelled": nothing more is shown).
  std::string finish_early(const std::string& reason);

  bool finished() const { return !finish_reason_.empty(); }
  // "" while running, then "stop" | "length" | whatever finish_early was given.
  const std::string& finish_reason() const { return finish_reason_; }
  // What caused a "stop": the matched stop string, or the stop token id (-1 if none).
  const std::string& matched_stop_string() const { return matched_string_; }
  int32_t matched_stop_token() const { return matched_token_; }
  int generated() const { return generated_; }
  const StopConfig& config() const { return config_; }

 private:
  // Appends decoded text to the held-back text and returns what is safe to show.
  std::string add_text(std::string_view text);
  // Releases everything (flushing the decoder) and finishes with `reason`.
  std::string release_and_finish(const std::string& reason);

  StopConfig config_;
  std::unique_ptr<TextStream> text_;
  std::string held_;  // decoded but not yet shown: could be the start of a stop string
  std::string finish_reason_;
  std::string matched_string_;
  int32_t matched_token_ = -1;
  int generated_ = 0;
};

}  // namespace nova::engine
