#include "kernels/cpu/rope.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

TEST(Rope, RotatesHalvesLikeRotateHalfAndPassesTheRestThrough) {
  const int64_t rows = 5, heads = 3, head_dim = 12, half = 4;  // partial: 8 of 12 features rotated
  auto x = test::random_floats(rows * heads * head_dim, 11);
  auto angles = test::random_floats(rows * half, 12, -6.0f, 6.0f);
  std::vector<float> cos(angles.size()), sin(angles.size());
  for (size_t i = 0; i < angles.size(); ++i) {
    cos[i] = std::cos(angles[i]);
    sin[i] = std::sin(angles[i]);
  }
  std::vector<double> want(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h) {
      const float* v = x.data() + (r * heads + h) * head_dim;
      double* o = want.data() + (r * heads + h) * head_dim;
      for (int64_t i = 0; i < head_dim; ++i) o[i] = v[i];
      // q * cos + rotate_half(q) * sin with rotate_half(q) = cat(-q2, q1) over the rotated part.
      for (int64_t i = 0; i < half; ++i) {
        const double c = cos[r * half + i], s = sin[r * half + i];
        o[i] = v[i] * c - v[i + half] * s;
        o[i + half] = v[i + half] * c + v[i] * s;
      }
    }
  kernels::cpu::rope(x.data(), rows, heads, head_dim, cos.data(), sin.data(), half);
  EXPECT_LT(test::max_abs_diff(x, want), 1e-6);
}

TEST(Rope, BackendValidatesTableShape) {
  auto& be = kernels::CpuBackend::instance();
  Tensor x = Tensor::zeros(DType::F32, {2, 2, 8});
  Tensor ok = Tensor::zeros(DType::F32, {2, 4});
  EXPECT_NO_THROW(be.rope(x, ok, ok));
  Tensor too_wide = Tensor::zeros(DType::F32, {2, 5});
  EXPECT_THROW(be.rope(x, too_wide, too_wide), Error);
  Tensor wrong_rows = Tensor::zeros(DType::F32, {3, 4});
  EXPECT_THROW(be.rope(x, wrong_rows, wrong_rows), Error);
}

}  // namespace
}  // namespace nova
