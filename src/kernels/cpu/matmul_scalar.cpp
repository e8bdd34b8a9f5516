// Portable kernels for CPUs without AVX2: the same blocking as the SIMD tiers (four rows of W
// at a time, independent partial sums) so the compiler can keep everything in registers.
#include <algorithm>

#include "kernels/cpu/matmul_detail.h"

namespace nova::kernels::cpu::detail {

namespace {
template <DType T>
inline float load(const void* W, int64_t i) {
  if constexpr (T == DType::F32) return static_cast<const float*>(W)[i];
  else if constexpr (T == DType::BF16) return bf16_to_f32(static_cast<const uint16_t*>(W)[i]);
  else return f16_to_f32(static_cast<const uint16_t*>(W)[i]);
}

// y[m, n] for one m and four consecutive n, with four partial sums per output (k mod 4).
template <DType T>
void dot_rows(const MatmulProblem& p, int64_t m, int64_t n0, int64_t n1) {
  const int64_t K = p.K;
  const float* x = p.x + m * K;
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) {
    float acc[4][4] = {};
    int64_t k = 0;
    for (; k + 4 <= K; k += 4)
      for (int r = 0; r < 4; ++r)
        for (int j = 0; j < 4; ++j) acc[r][j] += x[k + j] * load<T>(p.W, (n + r) * K + k + j);
    for (int r = 0; r < 4; ++r) {
      float s = (acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3]);
      for (int64_t kk = k; kk < K; ++kk) s += x[kk] * load<T>(p.W, (n + r) * K + kk);
      p.y[m * p.N + n + r] = s;
    }
  }
  for (; n < n1; ++n) {
    float acc[4] = {};
    int64_t k = 0;
    for (; k + 4 <= K; k += 4)
      for (int j = 0; j < 4; ++j) acc[j] += x[k + j] * load<T>(p.W, n * K + k + j);
    float s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (; k < K; ++k) s += x[k] * load<T>(p.W, n * K + k);
    p.y[m * p.N + n] = s;
  }
}

template <DType T>
void run(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  // Blocks of 64 rows of W so they stay in cache while every row of x passes over them.
  constexpr int64_t kNBlock = 64;
  for (int64_t nb = n0; nb < n1; nb += kNBlock)
    for (int64_t m = m0; m < m1; ++m) dot_rows<T>(p, m, nb, std::min(n1, nb + kNBlock));
}

void dispatch(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  switch (p.w_dtype) {
    case DType::F32: return run<DType::F32>(p, m0, m1, n0, n1);
    case DType::BF16: return run<DType::BF16>(p, m0, m1, n0, n1);
    default: return run<DType::F16>(p, m0, m1, n0, n1);
  }
}

// C rows m0..m1, columns n0..n1 of gemm_f32: one row of C at a time, k outer, so the inner loop
// runs over consecutive columns of C (and of B when it is not transposed).
void sgemm_rows(const GemmF32& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  for (int64_t m = m0; m < m1; ++m) {
    float* c = g.C + m * g.ldc;
    if (!g.accumulate) std::fill(c + n0, c + n1, 0.0f);
    for (int64_t k = 0; k < g.K; ++k) {
      const float a = g.trans_a ? g.A[k * g.lda + m] : g.A[m * g.lda + k];
      if (g.trans_b) {
        for (int64_t n = n0; n < n1; ++n) c[n] += a * g.B[n * g.ldb + k];
      } else {
        const float* b = g.B + k * g.ldb;
        for (int64_t n = n0; n < n1; ++n) c[n] += a * b[n];
      }
    }
  }
}
}  // namespace

void sgemm_scalar(const GemmF32& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) { sgemm_rows(g, m0, m1, n0, n1); }

void gemv_scalar(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  dispatch(p, m0, m1, n0, n1);
}
void gemm_scalar(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  dispatch(p, m0, m1, n0, n1);
}

}  // namespace nova::kernels::cpu::detail
