// y[m, n] = sum_k x[m, k] * W[n, k] — the linear layer, with W row-major [N, K] as checkpoints
// store it (torch nn.Linear). x and y are float32; W is F32, BF16 or F16. Runs on the global
// thread pool, picking the widest kernel the CPU supports at run time.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace nova::kernels::cpu {

void matmul(const float* x, int64_t M, int64_t K, const void* W, DType w_dtype, int64_t N, float* y);

// Plain scalar reference every optimised path is tested against.
void matmul_reference(const float* x, int64_t M, int64_t K, const void* W, DType w_dtype, int64_t N, float* y);

}  // namespace nova::kernels::cpu
