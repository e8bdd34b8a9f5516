#include "kernels/cpu/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace nova::kernels::cpu {

void route_top_k(const float* logits, int64_t rows, int64_t experts, int k, bool normalize, int32_t* expert,
                 float* weight) {
  std::vector<float> p(static_cast<size_t>(experts));
  std::vector<int32_t> order(static_cast<size_t>(experts));
  for (int64_t r = 0; r < rows; ++r) {
    const float* l = logits + r * experts;
    const float mx = *std::max_element(l, l + experts);
    float sum = 0.0f;
    for (int64_t e = 0; e < experts; ++e) {
      p[e] = std::exp(l[e] - mx);
      sum += p[e];
    }
    for (int64_t e = 0; e < experts; ++e) p[e] /= sum;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    float top_sum = 0.0f;
    for (int i = 0; i < k; ++i) top_sum += p[order[i]];
    for (int i = 0; i < k; ++i) {
      expert[r * k + i] = order[i];
      weight[r * k + i] = normalize ? p[order[i]] / top_sum : p[order[i]];
    }
  }
}

void gather_rows(const float* src, int64_t width, const int32_t* rows, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) std::copy_n(src + rows[i] * width, width, dst + i * width);
}

void scatter_add_rows(const float* src, int64_t width, const int32_t* rows, const float* weights, int64_t n,
                      float* dst) {
  for (int64_t i = 0; i < n; ++i) {
    float* d = dst + rows[i] * width;
    const float* s = src + i * width;
    const float w = weights[i];
    for (int64_t j = 0; j < width; ++j) d[j] += w * s[j];
  }
}

}  // namespace nova::kernels::cpu
