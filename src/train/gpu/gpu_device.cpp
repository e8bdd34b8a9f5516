#include "train/gpu/gpu_device.h"

#include <charconv>

#include "core/error.h"

#ifdef NOVA_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace nova::train {

int parse_train_device(const std::string& text, const std::string& where) {
  if (text == "cpu") return -1;
  if (text == "cuda") return 0;
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    int n = -1;
    const char* b = text.data() + 5;
    const char* e = text.data() + text.size();
    auto [p, ec] = std::from_chars(b, e, n);
    if (ec == std::errc() && p == e && n >= 0) return n;
  }
  fail(where, "expected cpu, cuda or cuda:N (N a device index), got '" + text + "'");
}

bool cuda_device_available(int device, std::string* why) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
#ifdef NOVA_HAVE_CUDA
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return no(std::string("no usable CUDA device (") + cudaGetErrorString(e) + ")");
  }
  if (device < 0 || device >= count)
    return no("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
              " device(s) present)");
  return true;
#else
  (void)device;
  return no("this nova was built without CUDA (configure with -DNOVA_CUDA=ON)");
#endif
}

void check_gpu_trainable_model(const formats::ModelConfig& config, const std::string& where) {
  // MoE layers: the GPU routing kernels' limits (kernels/cuda/train/moe_train_ops.h).
  if (config.num_experts > 0 && (config.num_experts > 256 || config.experts_per_token > 16))
    fail(where, "MoE training on the GPU supports at most 256 experts and top-16 routing (" + config.model_type +
                    " has " + std::to_string(config.num_experts) + " experts, top-" +
                    std::to_string(config.experts_per_token) + "); use device cpu");
}

void check_gpu_training(const formats::ModelConfig& config, int device) {
  std::string why;
  if (!cuda_device_available(device, &why)) fail("gpu trainer", why);
  check_gpu_trainable_model(config, "gpu trainer");
}

}  // namespace nova::train
