#include "train/layers/rope.h"

#include "core/thread_pool.h"
#include "kernels/cpu/rope.h"
#include "train/step_profile.h"

namespace nova::train {

void rope_forward(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                  int64_t half) {
  PhaseScope scope(Phase::Rope);
  kernels::cpu::rope(x, rows, heads, head_dim, cos, sin, half);
}

void rope_backward(float* dx, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                   int64_t half) {
  PhaseScope scope(Phase::Rope);
  ThreadPool::global().parallel_for(rows * heads, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = t / heads;
      float* d = dx + t * head_dim;
      const float* c = cos + r * half;
      const float* s = sin + r * half;
      // y_a = a c - b s, y_b = b c + a s  =>  da = dy_a c + dy_b s, db = dy_b c - dy_a s.
      for (int64_t i = 0; i < half; ++i) {
        const float ga = d[i], gb = d[i + half];
        d[i] = ga * c[i] + gb * s[i];
        d[i + half] = gb * c[i] - ga * s[i];
      }
    }
  }, 64);
}

}  // namespace nova::train
