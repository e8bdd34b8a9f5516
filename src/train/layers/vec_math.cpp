#include "train/layers/vec_math.h"

#include <cmath>

#include "core/cpu_features.h"

namespace nova::train {

namespace detail {
double exp_scaled_sum_scalar(float* x, int64_t n, float scale, float shift) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] * scale - shift);
    s += x[i];
  }
  return s;
}

void swiglu_rows_scalar(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void swiglu_grad_rows_scalar(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                             int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float sig = 1.0f / (1.0f + std::exp(-g));
    dup[i] = dout[i] * (g * sig);
    dgate[i] = dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
  }
}
}  // namespace detail

namespace {
bool use_avx2() {
  static const bool avx2 = active_isa() != IsaTier::Scalar && cpu_features().has_avx2_kernels();
  return avx2;
}
}  // namespace

double exp_scaled_sum(float* x, int64_t n, float scale, float shift) {
  return use_avx2() ? detail::exp_scaled_sum_avx2(x, n, scale, shift) : detail::exp_scaled_sum_scalar(x, n, scale, shift);
}

void swiglu_rows(float* out, const float* gate, const float* up, int64_t n) {
  if (use_avx2()) detail::swiglu_rows_avx2(out, gate, up, n);
  else detail::swiglu_rows_scalar(out, gate, up, n);
}

void swiglu_grad_rows(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
  if (use_avx2()) detail::swiglu_grad_rows_avx2(dgate, dup, dout, gate, up, n);
  else detail::swiglu_grad_rows_scalar(dgate, dup, dout, gate, up, n);
}

}  // namespace nova::train
