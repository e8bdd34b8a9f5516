#include "kernels/cpu/rope.h"

#include "core/thread_pool.h"

namespace nova::kernels::cpu {

void rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin, int64_t half) {
  ThreadPool::global().parallel_for(rows * heads, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = t / heads;
      float* v = x + t * head_dim;
      const float* c = cos + r * half;
      const float* s = sin + r * half;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        // Two rounded products then a sum, as torch evaluates q*cos + rotate_half(q)*sin.
        const float ac = a * c[i], bs = b * s[i], bc = b * c[i], as = a * s[i];
        v[i] = ac - bs;
        v[i + half] = bc + as;
      }
    }
  }, 64);
}

}  // namespace nova::kernels::cpu
