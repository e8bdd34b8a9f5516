// Every matmul kernel tier this CPU can run x every weight dtype x ragged shapes, against the
// fp64 scalar reference. Buffers are sized exactly so that ASan catches any read past W or x.
#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/cpu/matmul_detail.h"
#include "kernel_test_util.h"

namespace nova::kernels::cpu {
namespace {

using test::available_tiers;

// Weights stored as `dtype`, plus their exact fp32 values (for the error bound).
struct Weights {
  std::vector<uint16_t> half;
  std::vector<float> f32;
  DType dtype;
  const void* data() const { return dtype == DType::F32 ? static_cast<const void*>(f32.data()) : half.data(); }
};

Weights random_weights(DType dtype, int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Weights w;
  w.dtype = dtype;
  w.f32.resize(count);
  if (dtype != DType::F32) w.half.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    float v = u(rng);
    if (i % 7 == 3) v *= 1e-6f;  // some f16 subnormals
    if (dtype == DType::BF16) {
      w.half[i] = f32_to_bf16(v);
      w.f32[i] = bf16_to_f32(w.half[i]);
    } else if (dtype == DType::F16) {
      w.half[i] = f32_to_f16(v);
      w.f32[i] = f16_to_f32(w.half[i]);
    } else {
      w.f32[i] = v;
    }
  }
  return w;
}

// Runs one shape on one tier and checks every output against the reference. The bound is
// relative to sum_k |x w|: fp32 summation error scales with that, not with |y| (which can cancel).
void check_shape(IsaTier tier, DType dtype, int64_t M, int64_t K, int64_t N, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(M * K);
  for (float& v : x) v = u(rng);
  const Weights w = random_weights(dtype, N * K, rng);
  std::vector<float> got(M * N, -12345.0f), want(M * N);
  detail::matmul_with_isa(tier, x.data(), M, K, w.data(), dtype, N, got.data());
  matmul_reference(x.data(), M, K, w.data(), dtype, N, want.data());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double magnitude = 0;
      for (int64_t k = 0; k < K; ++k) magnitude += std::fabs(double(x[m * K + k]) * w.f32[n * K + k]);
      const double tol = 1e-5 * magnitude + 1e-30;
      ASSERT_NEAR(got[m * N + n], want[m * N + n], tol)
          << isa_name(tier) << " " << dtype_name(dtype) << " M=" << M << " K=" << K << " N=" << N << " at m=" << m
          << " n=" << n;
    }
}

class MatmulTierTest : public ::testing::TestWithParam<std::tuple<IsaTier, DType>> {};

TEST_P(MatmulTierTest, RaggedShapesMatchReference) {
  const auto [tier, dtype] = GetParam();
  uint32_t seed = 1;
  for (int64_t M : {1, 2, 3, 4, 5, 7, 12, 13})
    for (int64_t K : {1, 3, 8, 15, 16, 17, 33, 70})
      for (int64_t N : {1, 2, 5, 17, 33, 70}) check_shape(tier, dtype, M, K, N, seed++);
}

TEST_P(MatmulTierTest, LargerShapesCrossEveryBlockBoundary) {
  const auto [tier, dtype] = GetParam();
  // K > 256 crosses the GEMM k-blocks; N > 128 the packed column blocks and splits over threads;
  // M = 11 runs the GEMV kernels over groups of rows, M >= 13 the GEMM kernels;
  // N small with M large takes the split over rows.
  check_shape(tier, dtype, 1, 1000, 301, 11);
  check_shape(tier, dtype, 4, 531, 257, 12);
  check_shape(tier, dtype, 11, 300, 70, 16);
  check_shape(tier, dtype, 29, 600, 211, 13);
  check_shape(tier, dtype, 50, 257, 3, 14);
  check_shape(tier, dtype, 64, 96, 160, 15);
}

std::string tier_name(const ::testing::TestParamInfo<std::tuple<IsaTier, DType>>& info) {
  return std::string(isa_name(std::get<0>(info.param))) + "_" + std::string(dtype_name(std::get<1>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(AllTiers, MatmulTierTest,
                         ::testing::Combine(::testing::ValuesIn(available_tiers()),
                                            ::testing::Values(DType::F32, DType::BF16, DType::F16)),
                         tier_name);

TEST(Matmul, PublicEntryUsesActiveTier) {
  std::mt19937 rng(5);
  const int64_t M = 3, K = 77, N = 45;
  std::vector<float> x(M * K);
  for (float& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
  const Weights w = random_weights(DType::BF16, N * K, rng);
  std::vector<float> a(M * N), b(M * N);
  matmul(x.data(), M, K, w.data(), DType::BF16, N, a.data());
  detail::matmul_with_isa(active_isa(), x.data(), M, K, w.data(), DType::BF16, N, b.data());
  EXPECT_EQ(a, b);
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  std::vector<float> y(6, 1.0f);
  for (IsaTier tier : available_tiers()) {
    detail::matmul_with_isa(tier, nullptr, 2, 0, nullptr, DType::F32, 3, y.data());
    EXPECT_EQ(y, std::vector<float>(6, 0.0f)) << isa_name(tier);
  }
}

TEST(Matmul, RejectsUnsupportedDtypeAndNegativeShape) {
  std::vector<float> x(4), y(4);
  std::vector<int32_t> w(4);
  EXPECT_THROW(matmul(x.data(), 1, 4, w.data(), DType::I32, 1, y.data()), Error);
  EXPECT_THROW(matmul(x.data(), -1, 4, w.data(), DType::F32, 1, y.data()), Error);
}

TEST(Matmul, RefusesTierTheCpuLacks) {
  std::vector<float> x(4), w(4), y(1);
  if (!cpu_features().has_avx512_kernels()) {
    EXPECT_THROW(detail::matmul_with_isa(IsaTier::Avx512, x.data(), 1, 4, w.data(), DType::F32, 1, y.data()), Error);
  }
  if (!cpu_features().has_avx2_kernels()) {
    EXPECT_THROW(detail::matmul_with_isa(IsaTier::Avx2, x.data(), 1, 4, w.data(), DType::F32, 1, y.data()), Error);
  }
}

}  // namespace
}  // namespace nova::kernels::cpu
