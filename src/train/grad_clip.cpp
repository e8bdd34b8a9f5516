#include "train/grad_clip.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"

namespace nova::train {

double global_grad_norm(const ParamStore& params) {
  double total = 0.0;
  for (const Param& p : params.params()) {
    const float* g = p.grad.data_as<float>();
    const int64_t n = p.numel();
    // Fixed chunks summed in order: the result does not depend on the thread count.
    constexpr int64_t kChunk = 1 << 14;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> part(static_cast<size_t>(chunks), 0.0);
    ThreadPool::global().parallel_for(chunks, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        // Four independent sums (a fixed order): one dependent add chain would be latency-bound.
        double s[4] = {0.0, 0.0, 0.0, 0.0};
        const int64_t hi = std::min(n, (c + 1) * kChunk);
        int64_t i = c * kChunk;
        for (; i + 4 <= hi; i += 4)
          for (int l = 0; l < 4; ++l) s[l] += static_cast<double>(g[i + l]) * g[i + l];
        for (; i < hi; ++i) s[0] += static_cast<double>(g[i]) * g[i];
        part[c] = (s[0] + s[1]) + (s[2] + s[3]);
      }
    }, 1);
    for (double s : part) total += s;
  }
  return std::sqrt(total);
}

float clip_factor(double norm, double max_norm) {
  if (max_norm <= 0.0) return 1.0f;
  return std::min(1.0f, static_cast<float>(max_norm / (static_cast<double>(static_cast<float>(norm)) + 1e-6)));
}

float clip_grads(ParamStore& params, double norm, double max_norm) {
  const float coef = clip_factor(norm, max_norm);
  if (coef == 1.0f) return coef;  // torch multiplies by 1.0 then: a no-op
  for (Param& p : params.params()) {
    float* g = p.grad_data();
    ThreadPool::global().parallel_for(p.numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) g[i] *= coef;
    }, 1 << 15);
  }
  return coef;
}

}  // namespace nova::train
