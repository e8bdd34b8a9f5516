#include "kernels/cpu/activations.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

TEST(Activations, SwigluMatchesDefinition) {
  const size_t n = 10000;
  auto g = test::random_floats(n, 21, -20.0f, 20.0f);
  auto u = test::random_floats(n, 22);
  std::vector<double> want(n);
  for (size_t i = 0; i < n; ++i) want[i] = double{g[i]} / (1.0 + std::exp(-double{g[i]})) * u[i];
  std::vector<float> out(n);
  kernels::cpu::swiglu(g.data(), u.data(), n, out.data());
  EXPECT_LT(test::max_abs_diff(out, want), 1e-5);
  kernels::cpu::swiglu(g.data(), u.data(), n, g.data());  // aliasing the gate
  EXPECT_EQ(g, out);
}

TEST(Activations, AddAndSigmoidRowScale) {
  auto a = test::random_floats(12, 23), b = test::random_floats(12, 24);
  std::vector<double> want(12);
  for (int i = 0; i < 12; ++i) want[i] = double{a[i]} + b[i];
  kernels::cpu::add(a.data(), b.data(), 12);
  EXPECT_LT(test::max_abs_diff(a, want), 1e-6);

  const std::vector<float> g = {0.0f, 2.0f, -3.0f};
  auto x = test::random_floats(12, 25);
  for (int i = 0; i < 12; ++i) want[i] = x[i] / (1.0 + std::exp(-double{g[i / 4]}));
  kernels::cpu::scale_rows_by_sigmoid(x.data(), 3, 4, g.data());
  EXPECT_LT(test::max_abs_diff(x, want), 1e-6);
}

TEST(Activations, BackendChecksSizes) {
  auto& be = kernels::CpuBackend::instance();
  Tensor a = Tensor::zeros(DType::F32, {2, 3}), b = Tensor::zeros(DType::F32, {3, 2}), c = Tensor::zeros(DType::F32, {5});
  EXPECT_NO_THROW(be.add(a, b));  // same element count
  EXPECT_THROW(be.add(a, c), Error);
  EXPECT_THROW(be.swiglu(a, c, a), Error);
  Tensor g = Tensor::zeros(DType::F32, {3, 1});
  EXPECT_THROW(be.scale_rows_by_sigmoid(a, g), Error);
}

}  // namespace
}  // namespace nova
