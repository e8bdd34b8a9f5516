// Finite-difference gradient checks for the train tests: central differences of a scalar loss
// along random directions, compared with the analytic gradient's directional derivative. The
// perturbation actually applied (after fp32 rounding of x +/- h*d) is what the analytic side
// uses, so rounding of the perturbed inputs cancels out.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace nova::train::test {

inline std::vector<float> random_vector(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = nd(rng);
  return v;
}

// Checks `grad` (n floats, the analytic dL/dx) against central differences of `loss` along
// `directions` random +/-1 directions with step h: |(L(x+) - L(x-)) - g.(x+ - x-)| must be
// <= rtol * h * ||g||_2 + atol. x is restored afterwards.
inline void expect_grad_matches(const std::string& what, float* x, const float* grad, int64_t n,
                                const std::function<double()>& loss, double h, double rtol = 2e-2,
                                double atol = 1e-6, int directions = 3, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  double gnorm = 0;
  for (int64_t i = 0; i < n; ++i) gnorm += double(grad[i]) * grad[i];
  gnorm = std::sqrt(gnorm);
  std::vector<float> x0(x, x + n), xp(n), xm(n);
  for (int dir = 0; dir < directions; ++dir) {
    for (int64_t i = 0; i < n; ++i) {
      const float s = (rng() & 1) ? 1.0f : -1.0f;
      xp[i] = x0[i] + static_cast<float>(h) * s;
      xm[i] = x0[i] - static_cast<float>(h) * s;
    }
    std::copy(xp.begin(), xp.end(), x);
    const double lp = loss();
    std::copy(xm.begin(), xm.end(), x);
    const double lm = loss();
    std::copy(x0.begin(), x0.end(), x);
    double analytic = 0;
    for (int64_t i = 0; i < n; ++i) analytic += double(grad[i]) * (double(xp[i]) - xm[i]);
    const double numeric = lp - lm;
    EXPECT_LE(std::abs(numeric - analytic), rtol * 2 * h * gnorm + atol)
        << what << " direction " << dir << ": finite difference " << numeric / (2 * h) << " vs analytic "
        << analytic / (2 * h) << " (|g| = " << gnorm << ")";
  }
  EXPECT_GT(gnorm, 0.0) << what << ": gradient is identically zero";
}

// sum_i r[i] * y[i] in double: the projection loss whose gradient with respect to y is r.
inline double project(const std::vector<float>& r, const float* y) {
  double s = 0;
  for (size_t i = 0; i < r.size(); ++i) s += double(r[i]) * y[i];
  return s;
}

}  // namespace nova::train::test
