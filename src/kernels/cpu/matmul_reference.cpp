#include "core/error.h"
#include "kernels/cpu/matmul.h"

namespace nova::kernels::cpu {

namespace {
float load(const void* W, DType t, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(W)[i];
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(W)[i]);
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(W)[i]);
    default: fail("matmul", "unsupported weight dtype " + std::string(dtype_name(t)));
  }
}
}  // namespace

void matmul_reference(const float* x, int64_t M, int64_t K, const void* W, DType w_dtype, int64_t N, float* y) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(x[m * K + k]) * load(W, w_dtype, n * K + k);
      y[m * N + n] = static_cast<float>(acc);
    }
}

void gemm_f32_reference(const GemmF32& g) {
  for (int64_t m = 0; m < g.M; ++m)
    for (int64_t n = 0; n < g.N; ++n) {
      double acc = g.accumulate ? static_cast<double>(g.C[m * g.ldc + n]) : 0.0;
      for (int64_t k = 0; k < g.K; ++k) {
        const float a = g.trans_a ? g.A[k * g.lda + m] : g.A[m * g.lda + k];
        const float b = g.trans_b ? g.B[n * g.ldb + k] : g.B[k * g.ldb + n];
        acc += static_cast<double>(a) * b;
      }
      g.C[m * g.ldc + n] = static_cast<float>(acc);
    }
}

}  // namespace nova::kernels::cpu
