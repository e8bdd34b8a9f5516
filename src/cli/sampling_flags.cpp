#include "cli/sampling_flags.h"

namespace nova::cli {

std::vector<FlagSpec> sampling_flag_specs() {
  return {
      {"temperature", "T", "sampling temperature; 0 = greedy (default: generation_config.json, else 1)"},
      {"top-k", "K", "keep the K most likely tokens; 0 = off"},
      {"top-p", "P", "nucleus sampling: keep the smallest set with probability >= P; 1 = off"},
      {"min-p", "P", "drop tokens below P x the top token's probability; 0 = off"},
      {"repetition-penalty", "R", "divide logits of seen tokens by R (HF semantics); 1 = off"},
      {"presence-penalty", "X", "subtract X from logits of generated tokens (OpenAI semantics)"},
      {"frequency-penalty", "X", "subtract X x count from logits of generated tokens"},
      {"seed", "N", "random seed; the same seed gives the same output", "0"},
  };
}

engine::SamplingParams sampling_from_flags(const Flags& flags, const engine::GenerationDefaults& d) {
  engine::SamplingParams p = d.sampling();
  auto set = [&](const char* flag, float& out) {
    if (flags.has(flag)) out = static_cast<float>(flags.number(flag));
  };
  set("temperature", p.temperature);
  set("top-p", p.top_p);
  set("min-p", p.min_p);
  set("repetition-penalty", p.repetition_penalty);
  set("presence-penalty", p.presence_penalty);
  set("frequency-penalty", p.frequency_penalty);
  if (flags.has("top-k")) p.top_k = static_cast<int>(flags.integer("top-k"));
  p.seed = static_cast<uint64_t>(flags.integer("seed"));
  p.validate();
  return p;
}

}  // namespace nova::cli
