#include "cli/device_flag.h"

#include "kernels/backend_factory.h"

namespace nova::cli {

FlagSpec device_flag_spec() {
  return {"device", "NAME", "where the model runs: cpu, or cuda (cuda:N for GPU N)", "cpu"};
}

void select_device(const std::string& device) {
  if (device == "cpu") return;
  kernels::set_default_backend(kernels::make_backend(device));
}

}  // namespace nova::cli
