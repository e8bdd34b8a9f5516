#include "kernels/cpu/rmsnorm.h"

#include <cmath>

#include "core/thread_pool.h"

namespace nova::kernels::cpu {

void rmsnorm(const float* x, int64_t groups, int64_t dim, const float* w, float eps, float* y, float* rstd) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(dim, 1));
  ThreadPool::global().parallel_for(groups, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const float* xr = x + g * dim;
      float* yr = y + g * dim;
      // Sum of squares in double: at least as accurate as torch's fp32 reduction.
      double ss = 0.0;
      for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float mean = static_cast<float>(ss / static_cast<double>(dim));
      const float inv = 1.0f / std::sqrt(mean + eps);
      if (rstd) rstd[g] = inv;
      for (int64_t i = 0; i < dim; ++i) {
        const float normed = xr[i] * inv;
        yr[i] = w[i] * normed;
      }
    }
  }, grain);
}

}  // namespace nova::kernels::cpu
