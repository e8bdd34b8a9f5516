#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"

namespace nova::kernels::cpu {

namespace {

float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

void attention(const float* q, int64_t rows, int64_t q_heads, int64_t head_dim, const float* k, const float* v,
               int64_t kv_heads, int64_t pos0, int64_t window, float scale, float* out) {
  const int64_t group = q_heads / kv_heads;
  const int64_t kv_stride = kv_heads * head_dim;  // floats between consecutive cache rows
  ThreadPool::global().parallel_for(rows * q_heads, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    std::vector<double> acc(static_cast<size_t>(head_dim));
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = t / q_heads, h = t % q_heads, kvh = h / group;
      const int64_t p = pos0 + r;
      const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      const int64_t n = p + 1 - lo;
      scores.resize(static_cast<size_t>(n));
      const float* qv = q + t * head_dim;
      const float* kb = k + kvh * head_dim;
      const float* vb = v + kvh * head_dim;
      float mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        scores[j] = dot(qv, kb + (lo + j) * kv_stride, head_dim) * scale;
        mx = std::max(mx, scores[j]);
      }
      double sum = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < n; ++j) {
        const float* vr = vb + (lo + j) * kv_stride;
        const double pj = scores[j];
        for (int64_t d = 0; d < head_dim; ++d) acc[d] += pj * vr[d];
      }
      float* o = out + t * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) o[d] = static_cast<float>(acc[d] / sum);
    }
  }, 4);
}

}  // namespace nova::kernels::cpu
