#include "kernels/cpu/activations.h"

#include <cmath>

#include "core/thread_pool.h"

namespace nova::kernels::cpu {

namespace {
constexpr int64_t kGrain = 4096;
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  ThreadPool::global().parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = gate[i];
      const float silu = g / (1.0f + std::exp(-g));
      out[i] = silu * up[i];
    }
  }, kGrain);
}

void add(float* a, const float* b, int64_t n) {
  ThreadPool::global().parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) a[i] += b[i];
  }, kGrain * 4);
}

void scale_rows_by_sigmoid(float* x, int64_t rows, int64_t width, const float* g) {
  for (int64_t r = 0; r < rows; ++r) {
    const float s = 1.0f / (1.0f + std::exp(-g[r]));
    float* xr = x + r * width;
    for (int64_t i = 0; i < width; ++i) xr[i] = s * xr[i];
  }
}

}  // namespace nova::kernels::cpu
