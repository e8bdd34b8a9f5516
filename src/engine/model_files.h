// Locating the parts of a Hugging Face model directory: weights, tokenizer.json,
// tokenizer_config.json (chat template) and generation_config.json (EOS ids, sampling defaults).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/sampling_params.h"

namespace nova::engine {

// PATH may be a tokenizer.json file or a directory holding one.
std::string find_tokenizer_json(const std::string& path);

// The model directory's tokenizer_config.json, if present.
std::optional<std::string> find_tokenizer_config(const std::string& model_dir);

// Sampling defaults and stop ids a checkpoint ships in generation_config.json (all optional).
struct GenerationDefaults {
  std::vector<int> eos_token_ids;
  std::optional<double> temperature, top_p, min_p, repetition_penalty;
  std::optional<int> top_k;
  std::optional<bool> do_sample;

  // The sampling these defaults ask for: greedy when do_sample is false; unset fields keep
  // SamplingParams' own defaults.
  SamplingParams sampling() const;
};
GenerationDefaults load_generation_defaults(const std::string& model_dir);

}  // namespace nova::engine
