#include "train/layers/swiglu.h"

#include <cmath>

#include "core/thread_pool.h"
#include "train/layers/vec_math.h"
#include "train/step_profile.h"

namespace nova::train {

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  PhaseScope scope(Phase::Elementwise);
  ThreadPool::global().parallel_for(n, [&](int64_t b, int64_t e) { swiglu_rows(out + b, gate + b, up + b, e - b); },
                                    8192);
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
  PhaseScope scope(Phase::Elementwise);
  ThreadPool::global().parallel_for(n, [&](int64_t b, int64_t e) {
    swiglu_grad_rows(dgate + b, dup + b, dout + b, gate + b, up + b, e - b);
  }, 8192);
}

}  // namespace nova::train
