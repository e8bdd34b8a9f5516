// Small helpers for the CPU op tests: deterministic random data and tolerant comparisons.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/cpu_features.h"

namespace nova::test {

// Every kernel tier this CPU can run, lowest first (each is tested against the reference).
inline std::vector<IsaTier> available_tiers() {
  std::vector<IsaTier> tiers{IsaTier::Scalar};
  if (cpu_features().has_avx2_kernels()) tiers.push_back(IsaTier::Avx2);
  if (cpu_features().has_avx512_kernels()) tiers.push_back(IsaTier::Avx512);
  return tiers;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// max |a - b| over all elements, asserting equal sizes.
inline double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(double{a[i]} - b[i]));
  return m;
}

}  // namespace nova::test
