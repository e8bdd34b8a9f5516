// Internals of matmul shared by the driver (matmul.cpp), the per-ISA kernel files and the tests.
// Not part of the kernels API: include kernels/cpu/matmul.h for that.
#pragma once

#include <cstdint>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "kernels/cpu/matmul.h"

namespace nova::kernels::cpu::detail {

// One matmul problem: y[M, N] = x[M, K] . W[N, K]^T, all row-major and contiguous.
struct MatmulProblem {
  const float* x;
  int64_t M, K;
  const void* W;
  DType w_dtype;
  int64_t N;
  float* y;
};

// Runs matmul with the kernels of one ISA tier, whatever the CPU's best one is; the caller must
// make sure the CPU has that tier. Tests use this to run every tier on one machine.
void matmul_with_isa(IsaTier isa, const float* x, int64_t M, int64_t K, const void* W, DType w_dtype, int64_t N,
                     float* y);

// Rows of x up to which the GEMV kernels (W streamed once, no packing) are used: below this,
// converting and packing W panels for the GEMM kernels costs more than it saves (crossover
// measured between 8 and 16 rows with AVX2 on a loaded 2-core machine; re-measure when quiet).
constexpr int64_t kGemvMaxRows = 12;

// Per-ISA kernels. Each computes y[m, n] for all m in [m0, m1) and n in [n0, n1) and writes
// exactly those elements of y; they never read W, x or y outside the problem's extent.
// gemv_*: any row count, meant for m1 - m0 <= kGemvMaxRows.  gemm_*: any row count, packs W to
// f32 panels.
void gemv_scalar(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void gemm_scalar(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void gemv_avx2(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void gemm_avx2(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void gemv_avx512(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void gemm_avx512(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

// gemm_f32 with the kernels of one tier (the avx512 tier runs the avx2 GEMM: there is no
// AVX-512 build of it yet). Each sgemm_* kernel computes C[m, n] for m in [m0, m1), n in [n0, n1).
void gemm_f32_with_isa(IsaTier isa, const GemmF32& g);
void sgemm_scalar(const GemmF32& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void sgemm_avx2(const GemmF32& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

}  // namespace nova::kernels::cpu::detail
