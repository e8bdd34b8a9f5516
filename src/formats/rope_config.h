// RoPE parameters of a Hugging Face config.json, in either form:
//   new (transformers 5): "rope_parameters": {"rope_type", "rope_theta", "factor", ...}
//   legacy: top-level "rope_theta" plus "rope_scaling": {"type" or "rope_type", "factor", ...}
// resolved the way transformers resolves them (which value wins, which defaults apply).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "formats/hf_config.h"

namespace nova::formats {

// `config` is the whole config.json object; `max_position_embeddings` its resolved value (the
// default for original_max_position_embeddings). Throws nova::Error naming `path` and the key.
RopeConfig parse_rope_config(const nlohmann::json& config, int max_position_embeddings,
                             const std::string& path);

// The "rope_parameters" object for `r` (only the keys its type reads).
nlohmann::json rope_config_to_json(const RopeConfig& r);

std::string_view rope_type_name(RopeType t);


}  // namespace nova::formats
