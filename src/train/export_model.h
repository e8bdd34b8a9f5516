// Turns a training checkpoint into a release model directory: the Hugging Face files only
// (config.json, model.safetensors, generation_config.json, tokenizer.json, tokenizer_config.json;
// no optimizer state or trainer_state.json), with the weights stored as F32, BF16 or F16. BF16
// halves the file; NovaLM widens it back to fp32 exactly inside the matmuls, so only the one
// rounding of each weight changes the model (measure it: `nova eval perplexity` on both).
#pragma once

#include <string>

#include "core/dtype.h"

namespace nova::train {

struct ExportSummary {
  int64_t tensors = 0, parameters = 0, bytes = 0;  // bytes of model.safetensors
};

// Writes `out_dir` atomically (staged, then renamed into place; an existing one is replaced).
// Throws nova::Error naming the file when `checkpoint_dir` is not a model directory, or for an
// unsupported dtype (F32, BF16 and F16 only). Rounding to BF16/F16 is to nearest, ties to even.
ExportSummary export_model(const std::string& checkpoint_dir, const std::string& out_dir, DType dtype);

}  // namespace nova::train
