// The sampling flags `nova generate` and `nova chat` share, and how they combine with a
// checkpoint's generation_config.json: an explicit flag wins, then the checkpoint, then our default.
#pragma once

#include <vector>

#include "cli/flags.h"
#include "engine/model_files.h"
#include "engine/sampling_params.h"

namespace nova::cli {

std::vector<FlagSpec> sampling_flag_specs();
engine::SamplingParams sampling_from_flags(const Flags& flags, const engine::GenerationDefaults& defaults);

}  // namespace nova::cli
