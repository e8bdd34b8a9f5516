// --device cpu|cuda[:N] for the commands that run a model (generate, logits, chat, serve): the
// chosen backend becomes kernels::default_backend(), which Transformer::load uses.
#pragma once

#include <string>

#include "cli/flags.h"

namespace nova::cli {

FlagSpec device_flag_spec();
// Makes `device` the backend of every model loaded afterwards; throws nova::Error naming why
// when it is unavailable (e.g. a binary built without CUDA, or no GPU).
void select_device(const std::string& device);

}  // namespace nova::cli
