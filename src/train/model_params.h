// The trainable parameters of a ModelConfig: every tensor the inference model loads, under the
// same Hugging Face names (model/weight_names.h), as float32. A ParamStore built here saved with
// formats::save_safetensors(values()) is a checkpoint model::Transformer::load reads back.
#pragma once

#include <cstdint>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "train/param_store.h"

namespace nova::train {

// Throws nova::Error naming "model config" when its dimensions cannot describe a model.
void validate_config(const formats::ModelConfig& c);

// Validates the config's dimensions (as validate_config) and adds every parameter,
// zero, in layout order: embedding, then per layer norms, attention, MLP or MoE, then final norm
// and (untied) lm_head. Routed experts are stored per expert, under Mixtral's
// block_sparse_moe.experts.E.w1/w3/w2 for model_type "mixtral" and mlp.experts.E.*_proj otherwise.
ParamStore make_params(const formats::ModelConfig& c);

// make_params, then values from `ckpt` (F32/BF16/F16, any expert layout the inference loader
// accepts, fused ones split per expert). Missing tensors or wrong shapes throw nova::Error.
ParamStore load_params(const formats::ModelConfig& c, const formats::Checkpoint& ckpt);

// Deterministic random init for tests and from-scratch runs: matrices ~ N(0, stddev), biases 0,
// norm weights 1.
void init_params_random(ParamStore& params, uint64_t seed, float stddev = 0.02f);

}  // namespace nova::train
