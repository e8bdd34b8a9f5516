#include "train/layers/swiglu.h"

#include <cmath>

#include "core/thread_pool.h"
#include "kernels/cpu/activations.h"

namespace nova::train {

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  kernels::cpu::swiglu(gate, up, n, out);
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
  ThreadPool::global().parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = gate[i];
      const float sig = 1.0f / (1.0f + std::exp(-g));
      const float silu = g * sig;
      dup[i] = dout[i] * silu;
      dgate[i] = dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
    }
  }, 4096);
}

}  // namespace nova::train
