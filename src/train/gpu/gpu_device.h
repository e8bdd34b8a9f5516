// Which device a training run uses, and whether the GPU trainer can train a model there: the
// checks `nova train` makes before any work, each failing with one nova::Error.
#pragma once

#include <string>

#include "formats/hf_config.h"

namespace nova::train {

// "cpu" -> -1, "cuda" -> 0, "cuda:N" -> N; anything else throws nova::Error naming `where`.
int parse_train_device(const std::string& text, const std::string& where);

// True when this build has CUDA and CUDA device `device` exists; else false with `why` set.
bool cuda_device_available(int device, std::string* why = nullptr);

// Throws nova::Error when the GPU trainer cannot train `config` on CUDA device `device`: a build
// without CUDA, no such device, or a mixture-of-experts model past the GPU routing's limits
// (more than 256 experts or top-16).
void check_gpu_training(const formats::ModelConfig& config, int device);

// The same checks of the model alone; `where` names the source in the message.
void check_gpu_trainable_model(const formats::ModelConfig& config, const std::string& where);

}  // namespace nova::train
