#include "train/layers/rmsnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/rmsnorm.h"
#include "train/step_profile.h"

namespace nova::train {

void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t groups, int64_t dim, float eps) {
  PhaseScope scope(Phase::Norm);
  kernels::cpu::rmsnorm(x, groups, dim, w, eps, y, rstd);  // the inference kernel, keeping rstd
}

void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, const float* rstd,
                      int64_t groups, int64_t dim) {
  PhaseScope scope(Phase::Norm);
  ThreadPool& pool = ThreadPool::global();
  if (dx) {
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(dim, 1));
    pool.parallel_for(groups, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) {
        const float* xr = x + g * dim;
        const float* dyr = dy + g * dim;
        float* dxr = dx + g * dim;
        const double r = rstd[g];
        // n = x * r; dx = r * (dy*w - n * mean(dy*w*n)).
        double dot = 0.0;
        for (int64_t i = 0; i < dim; ++i) dot += static_cast<double>(dyr[i]) * w[i] * (xr[i] * r);
        const double mean = dot / static_cast<double>(dim);
        for (int64_t i = 0; i < dim; ++i)
          dxr[i] += static_cast<float>(r * (static_cast<double>(dyr[i]) * w[i] - xr[i] * r * mean));
      }
    }, grain);
  }
  // dw[i] = sum_g dy[g, i] * n[g, i]: split over columns so no two threads write one element.
  pool.parallel_for(dim, [&](int64_t begin, int64_t end) {
    std::vector<double> acc(static_cast<size_t>(end - begin), 0.0);
    for (int64_t g = 0; g < groups; ++g) {
      const float* xr = x + g * dim;
      const float* dyr = dy + g * dim;
      const float r = rstd[g];
      for (int64_t i = begin; i < end; ++i) acc[i - begin] += static_cast<double>(dyr[i]) * (xr[i] * r);
    }
    for (int64_t i = begin; i < end; ++i) dw[i] += static_cast<float>(acc[i - begin]);
  }, 16);
}

}  // namespace nova::train
