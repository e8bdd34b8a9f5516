#include "kernels/backend_factory.h"

#include <mutex>

#include "core/error.h"
#include "kernels/cpu/cpu_backend.h"
#ifdef NOVA_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace nova::kernels {

namespace {

// A non-owning handle to the process-wide CPU backend.
std::shared_ptr<Backend> cpu_backend() { return std::shared_ptr<Backend>(&CpuBackend::instance(), [](Backend*) {}); }

struct DefaultBackend {
  std::mutex mu;
  std::shared_ptr<Backend> backend;
};

DefaultBackend& default_slot() {
  static DefaultBackend slot;
  return slot;
}

}  // namespace

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "cpu") return std::make_unique<CpuBackend>();
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
#ifdef NOVA_HAVE_CUDA
    int device = 0;
    if (name.size() > 5) {
      const std::string n = name.substr(5);
      if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string::npos)
        fail("backend", "bad CUDA device '" + name + "' (expected cuda or cuda:N)");
      device = std::stoi(n);
    }
    return cuda::make_cuda_backend(device);
#else
    fail("backend", "'" + name + "' is not available: this binary was built without CUDA (NOVA_CUDA=OFF or no nvcc)");
#endif
  }
  fail("backend", "unknown device '" + name + "' (expected cpu or cuda)");
}

std::vector<std::string> backend_names() {
#ifdef NOVA_HAVE_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

Backend& default_backend() {
  DefaultBackend& slot = default_slot();
  std::lock_guard<std::mutex> lock(slot.mu);
  if (!slot.backend) slot.backend = cpu_backend();
  return *slot.backend;
}

void set_default_backend(std::shared_ptr<Backend> backend) {
  require(backend != nullptr, "backend", "set_default_backend needs a backend");
  DefaultBackend& slot = default_slot();
  std::lock_guard<std::mutex> lock(slot.mu);
  slot.backend = std::move(backend);
}

}  // namespace nova::kernels
