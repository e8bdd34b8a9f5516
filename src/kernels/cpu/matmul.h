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

// General fp32 GEMM, BLAS-style, for the products a training backward needs (dX = dY W,
// dW = dY^T X) and for attention over strided heads:
//   C[M, N] = op(A) op(B)     (or C += ... when `accumulate`)
// op(A) is [M, K]: A stored row-major [M, K] with row stride lda, or, when trans_a, A stored
// [K, M] (row stride lda) and read transposed. op(B) is [K, N]: B stored [K, N] (row stride ldb),
// or, when trans_b, B stored [N, K] and read transposed (matmul's W layout). C has row stride ldc.
// Runs the packed GEMM kernels on the global thread pool (serially when called from inside a
// parallel_for, so per-head products can be spread over the pool by the caller).
struct GemmF32 {
  int64_t M = 0, N = 0, K = 0;
  const float* A = nullptr;
  int64_t lda = 0;
  bool trans_a = false;
  const float* B = nullptr;
  int64_t ldb = 0;
  bool trans_b = false;
  float* C = nullptr;
  int64_t ldc = 0;
  bool accumulate = false;
};
void gemm_f32(const GemmF32& g);

// fp64-accumulating reference of gemm_f32 (tests).
void gemm_f32_reference(const GemmF32& g);

}  // namespace nova::kernels::cpu
