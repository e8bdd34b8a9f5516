// gemm_f32 (the general fp32 GEMM of the training backward) on every tier this CPU runs, every
// transposition, overwrite and accumulate, ragged shapes and padded leading dimensions, against
// the fp64 reference. Buffers are sized exactly so ASan catches any read or write outside them.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_detail.h"
#include "kernel_test_util.h"

namespace nova::kernels::cpu {
namespace {

using test::available_tiers;

struct Case {
  int64_t M, N, K;
  bool ta, tb, acc;
  int64_t pad;  // extra floats per row of A, B and C
};

void run_case(IsaTier tier, const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  // The last row holds only its used columns, so nothing past the operand is in bounds.
  std::vector<float> A(a_rows > 0 ? (a_rows - 1) * lda + a_cols : 0), B(b_rows > 0 ? (b_rows - 1) * ldb + b_cols : 0);
  std::vector<float> C(c.M > 0 ? (c.M - 1) * ldc + c.N : 0);
  for (float& v : A) v = u(rng);
  for (float& v : B) v = u(rng);
  for (float& v : C) v = u(rng);
  std::vector<float> want = C;
  GemmF32 g{c.M, c.N, c.K, A.data(), lda, c.ta, B.data(), ldb, c.tb, C.data(), ldc, c.acc};
  detail::gemm_f32_with_isa(tier, g);
  GemmF32 r = g;
  r.C = want.data();
  gemm_f32_reference(r);
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t n = 0; n < c.N; ++n) {
      const int64_t i = m * ldc + n;
      // fp32 summation error scales with K (|a b| <= 1) and the accumulated value.
      const double tol = 2e-6 * double(c.K + 1) + 1e-6;
      ASSERT_NEAR(C[i], want[i], tol) << isa_name(tier) << " M=" << c.M << " N=" << c.N << " K=" << c.K
                                      << " ta=" << c.ta << " tb=" << c.tb << " acc=" << c.acc << " pad=" << c.pad
                                      << " at m=" << m << " n=" << n;
    }
  // Padding between rows of C is never written.
  std::vector<float> untouched = C;
  for (int64_t m = 0; m + 1 < c.M; ++m)
    for (int64_t j = c.N; j < ldc; ++j) ASSERT_EQ(C[m * ldc + j], untouched[m * ldc + j]);
}

TEST(GemmF32, EveryTransposeAndAccumulateMatchesReference) {
  const int64_t shapes[][3] = {{1, 1, 1},   {5, 7, 3},    {6, 16, 8},   {7, 17, 9},   {13, 33, 31},
                               {40, 24, 300}, {25, 130, 70}, {64, 48, 520}, {3, 200, 17}, {130, 5, 40}};
  uint32_t seed = 1;
  for (IsaTier tier : available_tiers())
    for (const auto& s : shapes)
      for (int flags = 0; flags < 8; ++flags)
        for (int64_t pad : {0, 3})
          run_case(tier, {s[0], s[1], s[2], (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0, pad}, seed++);
}

TEST(GemmF32, PublicEntryMatchesReferenceOnATrainingShape) {
  // dW = dY^T X of a linear layer: [N=96, K=64] from dY [M=200, 96] and X [200, 64].
  const Case c{96, 64, 200, true, false, true, 0};
  run_case(active_isa(), c, 99);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> A(200 * 96), B(200 * 64), C(96 * 64, 0.5f), want = C;
  for (float& v : A) v = u(rng);
  for (float& v : B) v = u(rng);
  GemmF32 g{96, 64, 200, A.data(), 96, true, B.data(), 64, false, C.data(), 64, true};
  gemm_f32(g);
  g.C = want.data();
  gemm_f32_reference(g);
  for (size_t i = 0; i < C.size(); ++i) ASSERT_NEAR(C[i], want[i], 1e-4) << i;
}

TEST(GemmF32, EmptyInnerDimensionZeroesOrKeeps) {
  std::vector<float> C(6, 3.0f);
  gemm_f32({2, 3, 0, nullptr, 0, false, nullptr, 0, false, C.data(), 3, true});
  for (float v : C) EXPECT_EQ(v, 3.0f);
  gemm_f32({2, 3, 0, nullptr, 0, false, nullptr, 0, false, C.data(), 3, false});
  for (float v : C) EXPECT_EQ(v, 0.0f);
}

TEST(GemmF32, RejectsBadArguments) {
  std::vector<float> A(12), B(12), C(12);
  EXPECT_THROW(gemm_f32({-1, 3, 4, A.data(), 4, false, B.data(), 3, false, C.data(), 3, false}), Error);
  EXPECT_THROW(gemm_f32({3, 3, 4, A.data(), 3, false, B.data(), 3, false, C.data(), 3, false}), Error);  // lda < K
  EXPECT_THROW(gemm_f32({3, 3, 4, A.data(), 4, false, B.data(), 2, false, C.data(), 3, false}), Error);  // ldb < N
  EXPECT_THROW(gemm_f32({3, 3, 4, A.data(), 4, false, B.data(), 3, false, C.data(), 2, false}), Error);  // ldc < N
  EXPECT_THROW(gemm_f32({3, 3, 4, nullptr, 4, false, B.data(), 3, false, C.data(), 3, false}), Error);
  if (!cpu_features().has_avx512_kernels()) {
    EXPECT_THROW(detail::gemm_f32_with_isa(IsaTier::Avx512, {3, 3, 4, A.data(), 4, false, B.data(), 3, false,
                                                             C.data(), 3, false}),
                 Error);
  }
}

}  // namespace
}  // namespace nova::kernels::cpu
