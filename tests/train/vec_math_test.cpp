// The vectorised exp of the training softmaxes against std::exp, on every tier this CPU runs.
#include "train/layers/vec_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu_features.h"

namespace nova::train {
namespace {

using Fn = double (*)(float*, int64_t, float, float);

std::vector<Fn> tiers() {
  std::vector<Fn> t{detail::exp_scaled_sum_scalar};
  if (cpu_features().has_avx2_kernels()) t.push_back(detail::exp_scaled_sum_avx2);
  return t;
}

TEST(VecExp, MatchesStdExpAcrossTheFloatRange) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-90.0f, 89.0f);
  for (Fn fn : tiers())
    for (int64_t n : {0, 1, 7, 8, 9, 17, 1000}) {
      std::vector<float> x(static_cast<size_t>(n)), y;
      for (float& v : x) v = u(rng);
      y = x;
      const double sum = fn(y.data(), n, 1.0f, 0.0f);
      double want_sum = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const double want = std::exp(static_cast<double>(x[i]));
        want_sum += static_cast<float>(want);
        if (want < 1.2e-38) {  // below the normal range: 0 or a tiny value are both fine
          EXPECT_LE(y[i], 1.2e-38f) << x[i];
          continue;
        }
        if (want > 3.4e38) {
          EXPECT_TRUE(std::isinf(y[i]) || y[i] > 3.0e38f) << x[i];
          continue;
        }
        EXPECT_NEAR(y[i] / want, 1.0, 3e-7) << "x=" << x[i] << " n=" << n;
      }
      if (std::isfinite(want_sum)) {
        EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum + 1e-30);
      }
    }
}

TEST(VecExp, ScaleAndShiftAsSoftmaxUsesThem) {
  for (Fn fn : tiers()) {
    std::vector<float> x{1.0f, 2.0f, 3.0f, -4.0f, 0.5f, 2.5f, 7.0f, -1.0f, 6.0f, 3.25f};
    std::vector<float> y = x;
    fn(y.data(), static_cast<int64_t>(y.size()), 0.5f, 3.5f);
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_NEAR(y[i], std::exp(x[i] * 0.5 - 3.5), 3e-7 * std::exp(x[i] * 0.5 - 3.5)) << i;
  }
}

TEST(VecExp, InfinitiesAndNanPropagate) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (Fn fn : tiers()) {
    std::vector<float> x{-inf, nan, 0.0f, -200.0f, 0.0f, 0.0f, 0.0f, 0.0f, -inf, nan};
    fn(x.data(), static_cast<int64_t>(x.size()), 1.0f, 0.0f);
    EXPECT_EQ(x[0], 0.0f);
    EXPECT_TRUE(std::isnan(x[1]));
    EXPECT_EQ(x[2], 1.0f);
    EXPECT_EQ(x[3], 0.0f);
    EXPECT_EQ(x[8], 0.0f);
    EXPECT_TRUE(std::isnan(x[9]));
  }
}

}  // namespace
}  // namespace nova::train

namespace nova::train {
namespace {

TEST(VecMath, SwigluForwardAndBackwardMatchScalarFormulas) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-12.0f, 12.0f);
  const int64_t n = 45;  // a ragged tail
  std::vector<float> g(n), up(n), d(n);
  for (int64_t i = 0; i < n; ++i) {
    g[i] = u(rng);
    up[i] = u(rng);
    d[i] = u(rng);
  }
  g[0] = -100.0f;  // sigmoid underflows to 0
  g[1] = 100.0f;
  std::vector<float> out(n), dg(n), du(n), out_s(n), dg_s(n), du_s(n);
  swiglu_rows(out.data(), g.data(), up.data(), n);
  swiglu_grad_rows(dg.data(), du.data(), d.data(), g.data(), up.data(), n);
  detail::swiglu_rows_scalar(out_s.data(), g.data(), up.data(), n);
  detail::swiglu_grad_rows_scalar(dg_s.data(), du_s.data(), d.data(), g.data(), up.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(out[i], out_s[i], 1e-6f * (1.0f + std::fabs(out_s[i]))) << i;
    EXPECT_NEAR(dg[i], dg_s[i], 1e-6f * (1.0f + std::fabs(dg_s[i]))) << i;
    EXPECT_NEAR(du[i], du_s[i], 1e-6f * (1.0f + std::fabs(du_s[i]))) << i;
  }
}

}  // namespace
}  // namespace nova::train
