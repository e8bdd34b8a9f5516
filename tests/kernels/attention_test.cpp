#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

// Full score matrix with an explicit mask, in double: the plain definition.
std::vector<double> reference(const std::vector<float>& q, int64_t rows, int64_t hq, int64_t d,
                              const std::vector<float>& k, const std::vector<float>& v, int64_t hkv, int64_t pos0,
                              int64_t window, double scale) {
  std::vector<double> out(q.size(), 0.0);
  const int64_t kv_len = pos0 + rows;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t kh = h / (hq / hkv), p = pos0 + r;
      std::vector<double> s(kv_len, -INFINITY);
      double mx = -INFINITY;
      for (int64_t j = 0; j < kv_len; ++j) {
        const bool visible = j <= p && (window == 0 || p - j < window);
        if (!visible) continue;
        double dot = 0;
        for (int64_t i = 0; i < d; ++i) dot += double{q[(r * hq + h) * d + i]} * k[(j * hkv + kh) * d + i];
        s[j] = dot * scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (double& e : s) sum += (e = std::exp(e - mx));
      for (int64_t j = 0; j < kv_len; ++j)
        for (int64_t i = 0; i < d; ++i) out[(r * hq + h) * d + i] += s[j] / sum * v[(j * hkv + kh) * d + i];
    }
  return out;
}

struct Case {
  int64_t rows, hq, hkv, d, pos0, window;
};

TEST(Attention, MatchesMaskedReference) {
  const Case cases[] = {
      {1, 4, 4, 16, 0, 0},    // first token
      {7, 4, 2, 16, 0, 0},    // GQA prefill
      {5, 6, 1, 8, 9, 0},     // MQA, chunk after 9 cached rows
      {19, 4, 2, 16, 0, 8},   // sliding window crossed
      {1, 4, 2, 16, 18, 8},   // windowed decode
      {3, 2, 2, 33, 4, 3},    // odd head_dim, window shorter than chunk
  };
  uint32_t seed = 100;
  for (const Case& c : cases) {
    const int64_t cap = c.pos0 + c.rows + 2;
    auto q = test::random_floats(c.rows * c.hq * c.d, ++seed);
    auto k = test::random_floats(cap * c.hkv * c.d, ++seed);
    auto v = test::random_floats(cap * c.hkv * c.d, ++seed);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
    std::vector<float> out(q.size());
    kernels::cpu::attention(q.data(), c.rows, c.hq, c.d, k.data(), v.data(), c.hkv, c.pos0, c.window, scale,
                            out.data());
    EXPECT_LT(test::max_abs_diff(out, reference(q, c.rows, c.hq, c.d, k, v, c.hkv, c.pos0, c.window, scale)), 2e-6)
        << "rows " << c.rows << " pos0 " << c.pos0 << " window " << c.window;
  }
}

TEST(Attention, WindowSemanticsMatchTransformers) {
  // Position p sees j iff p - j < window: with window 2, position 5 mixes only v[4] and v[5].
  const int64_t n = 6;
  std::vector<float> q(n, 0.0f), k(n, 0.0f), v(n);
  for (int64_t j = 0; j < n; ++j) v[j] = static_cast<float>(1 << j);
  std::vector<float> out(n);
  kernels::cpu::attention(q.data(), n, 1, 1, k.data(), v.data(), 1, 0, 2, 1.0f, out.data());
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[5], (16.0f + 32.0f) / 2);
}

TEST(Attention, BackendRejectsOverflowAndBadGrouping) {
  auto& be = kernels::CpuBackend::instance();
  Tensor q = Tensor::zeros(DType::F32, {2, 4, 8}), out = Tensor::zeros(DType::F32, {2, 4, 8});
  Tensor kv = Tensor::zeros(DType::F32, {3, 2, 8});
  EXPECT_NO_THROW(be.attention(q, kv, kv, 1, 0, 1.0f, out));
  EXPECT_THROW(be.attention(q, kv, kv, 2, 0, 1.0f, out), Error);  // rows 2..3 beyond capacity 3
  Tensor kv3 = Tensor::zeros(DType::F32, {3, 3, 8});
  EXPECT_THROW(be.attention(q, kv3, kv3, 0, 0, 1.0f, out), Error);
}

}  // namespace
}  // namespace nova
