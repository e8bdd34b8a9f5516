// Error checking for CUDA runtime and cuBLASLt calls: every failure becomes a nova::Error naming
// the call, so a missing driver or an out-of-memory reaches the user as a message, not an abort.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace nova::kernels::cuda {

inline void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("cuda", std::string(what) + ": " + cudaGetErrorString(e));
}

inline void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cublasLt", std::string(what) + ": status " + std::to_string(int(s)));
}

// After a kernel launch: a bad configuration is reported here, a fault at the next synchronising call.
inline void check_launch(const char* kernel) { check_cuda(cudaGetLastError(), kernel); }

}  // namespace nova::kernels::cuda
