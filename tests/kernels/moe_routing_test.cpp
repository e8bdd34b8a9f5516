#include "kernels/cpu/moe_routing.h"

#include <algorithm>
#include <numeric>

#include <gtest/gtest.h>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

TEST(MoeRouting, TopKOfSoftmaxWithAndWithoutRenormalisation) {
  const int64_t rows = 6, experts = 5;
  const int k = 2;
  auto logits = test::random_floats(rows * experts, 41, -4.0f, 4.0f);
  for (bool normalize : {false, true}) {
    std::vector<int32_t> ex(rows * k);
    std::vector<float> w(rows * k);
    kernels::cpu::route_top_k(logits.data(), rows, experts, k, normalize, ex.data(), w.data());
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<double> p(experts);
      double sum = 0;
      for (int64_t e = 0; e < experts; ++e) sum += (p[e] = std::exp(double{logits[r * experts + e]}));
      for (double& x : p) x /= sum;
      std::vector<int> order(experts);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
      const double top = p[order[0]] + p[order[1]];
      for (int i = 0; i < k; ++i) {
        EXPECT_EQ(ex[r * k + i], order[i]);
        EXPECT_NEAR(w[r * k + i], normalize ? p[order[i]] / top : p[order[i]], 1e-6);
      }
    }
  }
}

TEST(MoeRouting, TiesGoToTheLowerIndex) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 3.0f};
  int32_t ex[2];
  float w[2];
  kernels::cpu::route_top_k(logits.data(), 1, 4, 2, true, ex, w);
  EXPECT_EQ(ex[0], 1);
  EXPECT_EQ(ex[1], 2);
  EXPECT_FLOAT_EQ(w[0], 0.5f);
}

TEST(MoeRouting, GatherAndWeightedScatterAdd) {
  auto& be = kernels::CpuBackend::instance();
  Tensor src = Tensor::zeros(DType::F32, {4, 3});
  for (int i = 0; i < 12; ++i) src.data_as<float>()[i] = static_cast<float>(i);
  const std::vector<int32_t> rows = {2, 0};
  Tensor g = Tensor::zeros(DType::F32, {2, 3});
  be.gather_rows(src, rows, g);
  EXPECT_EQ(g.data_as<float>()[0], 6.0f);
  EXPECT_EQ(g.data_as<float>()[3], 0.0f);
  Tensor dst = Tensor::zeros(DType::F32, {4, 3});
  const std::vector<float> weights = {0.5f, 2.0f};
  be.scatter_add_rows(g, rows, weights, dst);
  EXPECT_EQ(dst.data_as<float>()[2 * 3 + 1], 3.5f);  // 0.5 * 7
  EXPECT_EQ(dst.data_as<float>()[0 * 3 + 2], 4.0f);  // 2 * 2
  EXPECT_EQ(dst.data_as<float>()[1 * 3 + 0], 0.0f);
  const std::vector<int32_t> bad = {4};
  Tensor one = Tensor::zeros(DType::F32, {1, 3});
  EXPECT_THROW(be.gather_rows(src, bad, one), Error);
  EXPECT_THROW(be.route_top_k(src, 5, true), Error);
}

}  // namespace
}  // namespace nova
