#include "kernels/cpu/rmsnorm.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

std::vector<double> reference(const std::vector<float>& x, int64_t dim, const std::vector<float>& w, double eps) {
  std::vector<double> y(x.size());
  for (size_t g = 0; g < x.size() / dim; ++g) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += double{x[g * dim + i]} * x[g * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int64_t i = 0; i < dim; ++i) y[g * dim + i] = x[g * dim + i] * inv * w[i];
  }
  return y;
}

TEST(RmsNorm, MatchesScalarReference) {
  for (int64_t dim : {1, 7, 64, 257}) {
    const int64_t groups = 13;
    auto x = test::random_floats(groups * dim, 1 + dim);
    auto w = test::random_floats(dim, 2 + dim, 0.5f, 1.5f);
    std::vector<float> y(x.size());
    kernels::cpu::rmsnorm(x.data(), groups, dim, w.data(), 1e-5f, y.data());
    EXPECT_LT(test::max_abs_diff(y, reference(x, dim, w, 1e-5)), 1e-5) << "dim " << dim;
  }
}

TEST(RmsNorm, BackendNormalisesPerGroupAndInPlace) {
  // [rows=3, heads=4 * dim=8] normalised per head with an 8-wide weight (qk-norm usage).
  auto& be = kernels::CpuBackend::instance();
  auto xv = test::random_floats(3 * 32, 5);
  auto wv = test::random_floats(8, 6);
  Tensor x = Tensor::zeros(DType::F32, {3, 4, 8});
  std::copy(xv.begin(), xv.end(), x.data_as<float>());
  Tensor w = Tensor::zeros(DType::F32, {8});
  std::copy(wv.begin(), wv.end(), w.data_as<float>());
  be.rmsnorm(x, w, 1e-6f, x);
  std::vector<float> got(x.data_as<float>(), x.data_as<float>() + x.numel());
  EXPECT_LT(test::max_abs_diff(got, reference(xv, 8, wv, 1e-6)), 1e-5);
}

TEST(RmsNorm, BackendRejectsMismatchedWidth) {
  auto& be = kernels::CpuBackend::instance();
  Tensor x = Tensor::zeros(DType::F32, {2, 10});
  Tensor w = Tensor::zeros(DType::F32, {3});
  EXPECT_THROW(be.rmsnorm(x, w, 1e-6f, x), Error);
  Tensor wb = Tensor::zeros(DType::BF16, {10});
  EXPECT_THROW(be.rmsnorm(x, wb, 1e-6f, x), Error);
}

}  // namespace
}  // namespace nova
