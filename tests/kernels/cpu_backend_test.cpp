// Backend-level behaviour of the CPU implementation: linear with bias over every weight dtype,
// row copies, and contract violations reported as nova::Error.
#include "kernels/cpu/cpu_backend.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "kernel_test_util.h"

namespace nova {
namespace {

TEST(CpuBackend, LinearWithBiasOverEveryWeightDtype) {
  auto& be = kernels::CpuBackend::instance();
  const int64_t M = 3, K = 10, N = 7;
  auto xv = test::random_floats(M * K, 51), wv = test::random_floats(N * K, 52), bv = test::random_floats(N, 53);
  Tensor x = Tensor::zeros(DType::F32, {M, K}), b = Tensor::zeros(DType::F32, {N});
  std::copy(xv.begin(), xv.end(), x.data_as<float>());
  std::copy(bv.begin(), bv.end(), b.data_as<float>());
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    Tensor w = Tensor::zeros(dt, {N, K});
    std::vector<float> wq(N * K);  // the weight as stored, back in float
    for (int64_t i = 0; i < N * K; ++i) {
      if (dt == DType::F32) w.data_as<float>()[i] = wq[i] = wv[i];
      if (dt == DType::BF16) wq[i] = bf16_to_f32(w.data_as<uint16_t>()[i] = f32_to_bf16(wv[i]));
      if (dt == DType::F16) wq[i] = f16_to_f32(w.data_as<uint16_t>()[i] = f32_to_f16(wv[i]));
    }
    Tensor y = Tensor::zeros(DType::F32, {M, N});
    be.linear(x, w, &b, y);
    std::vector<double> want(M * N);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = bv[n];
        for (int64_t k = 0; k < K; ++k) s += double{xv[m * K + k]} * wq[n * K + k];
        want[m * N + n] = s;
      }
    std::vector<float> got(y.data_as<float>(), y.data_as<float>() + M * N);
    EXPECT_LT(test::max_abs_diff(got, want), 1e-5) << dtype_name(dt);
  }
}

TEST(CpuBackend, LinearRejectsShapeMismatch) {
  auto& be = kernels::CpuBackend::instance();
  Tensor x = Tensor::zeros(DType::F32, {2, 4}), w = Tensor::zeros(DType::F32, {3, 5}), y = Tensor::zeros(DType::F32, {2, 3});
  EXPECT_THROW(be.linear(x, w, nullptr, y), Error);
  Tensor w_ok = Tensor::zeros(DType::F32, {3, 4}), bias = Tensor::zeros(DType::F32, {4});
  EXPECT_THROW(be.linear(x, w_ok, &bias, y), Error);
  Tensor w_int = Tensor::zeros(DType::I32, {3, 4});
  EXPECT_THROW(be.linear(x, w_int, nullptr, y), Error);
}

TEST(CpuBackend, CopyRowsPlacesRowsAndChecksBounds) {
  auto& be = kernels::CpuBackend::instance();
  Tensor src = Tensor::zeros(DType::F32, {2, 2, 3});
  for (int i = 0; i < 12; ++i) src.data_as<float>()[i] = static_cast<float>(i + 1);
  Tensor dst = be.alloc(DType::F32, {5, 2, 3});
  be.copy_rows(src, dst, 3);
  EXPECT_EQ(dst.data_as<float>()[3 * 6], 1.0f);
  EXPECT_EQ(dst.data_as<float>()[5 * 6 - 1], 12.0f);
  EXPECT_EQ(dst.data_as<float>()[2 * 6], 0.0f);
  EXPECT_THROW(be.copy_rows(src, dst, 4), Error);
  std::vector<float> host(dst.numel());
  be.download(dst, host.data());
  EXPECT_EQ(host[3 * 6 + 1], 2.0f);
}

}  // namespace
}  // namespace nova
