// Backends by name, for code above the kernels layer (the CLI's --device, benchmarks, tests):
// nothing outside kernels/ needs to know whether CUDA was compiled in.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace nova::kernels {

// "cpu" or "cuda" (device 0; "cuda:N" for device N). Throws nova::Error naming the reason when
// the name is unknown, CUDA was not built into this binary, or no usable device is present.
std::unique_ptr<Backend> make_backend(const std::string& name);

// The names this binary was built with ("cpu", and "cuda" when compiled in).
std::vector<std::string> backend_names();

// The backend Transformer::load uses: the CPU one unless set_default_backend chose another
// (the CLI's --device). The backend set must outlive every model loaded after the call.
Backend& default_backend();
void set_default_backend(std::shared_ptr<Backend> backend);

}  // namespace nova::kernels
