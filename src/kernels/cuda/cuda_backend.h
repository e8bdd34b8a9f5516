// The CUDA backend's entry point, for C++ code that includes no CUDA header. Only compiled when
// the build has CUDA (NOVA_CUDA); callers go through kernels::make_backend("cuda")
// (kernels/backend_factory.h), which reports when it is absent.
#pragma once

#include <memory>

#include "kernels/backend.h"

namespace nova::kernels::cuda {

// A backend on CUDA device `device`: tensors in device memory, ops on one stream, linear layers
// through cuBLASLt (fp32 weights: full fp32, TF32 off; bf16/f16 weights: tensor cores with fp32
// accumulation) and our own kernels for everything else. Throws nova::Error naming the reason
// (no driver, no device, out of memory) when it cannot start. One backend is meant to be used
// by one thread at a time (like a stream); every tensor it makes must be released before it.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace nova::kernels::cuda
