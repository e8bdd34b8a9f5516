// Everything the server loads once from a Hugging Face model directory: weights, tokenizer,
// chat template (optional), generation_config.json defaults and the EOS ids generation stops at.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "engine/sampling_params.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace nova::serve::app {

struct ModelBundle {
  std::string dir;
  std::string name;  // the "model" id reported by the API: the directory's last component
  std::shared_ptr<const model::Transformer> model;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::optional<chat::ChatTemplateConfig> chat_template;  // unset: /v1/chat/completions answers 400
  engine::SamplingParams default_sampling;                // generation_config.json, else OpenAI's
  std::vector<int32_t> eos_token_ids;
  int64_t max_context = 0;  // max_position_embeddings
  // The longest text one token decodes to (bytes): a text longer than N times this holds more
  // than N tokens, so an oversized prompt can be refused before it is tokenized.
  int64_t max_token_bytes = 1;

  // Throws nova::Error naming the missing/invalid file.
  static ModelBundle load(const std::string& model_dir);
};

}  // namespace nova::serve::app
