// Vectorised exp-based math of the training step (softmax rows of attention and cross-entropy,
// SwiGLU forward and backward): the scalar std::exp cannot be vectorised by the compiler, and
// these hold millions of elements per step. AVX2 + FMA when the CPU has them (and NOVA_ISA does not force scalar),
// else std::exp. The AVX2 path is within 2 ulp of std::exp (tests/train/vec_math_test.cpp).
#pragma once

#include <cstdint>

namespace nova::train {

// x[i] = exp(x[i] * scale - shift) for i < n; returns the sum of the new x[i] (in double, in a
// fixed order, so the result depends only on the input and the ISA tier).
double exp_scaled_sum(float* x, int64_t n, float scale, float shift);

// out[i] = silu(gate[i]) * up[i], silu(g) = g * sigmoid(g).
void swiglu_rows(float* out, const float* gate, const float* up, int64_t n);
// Its backward: dgate[i] = dout up sigmoid(g) (1 + g (1 - sigmoid(g))), dup[i] = dout silu(g).
void swiglu_grad_rows(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);

namespace detail {
double exp_scaled_sum_avx2(float* x, int64_t n, float scale, float shift);
double exp_scaled_sum_scalar(float* x, int64_t n, float scale, float shift);
void swiglu_rows_avx2(float* out, const float* gate, const float* up, int64_t n);
void swiglu_rows_scalar(float* out, const float* gate, const float* up, int64_t n);
void swiglu_grad_rows_avx2(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);
void swiglu_grad_rows_scalar(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                             int64_t n);
}  // namespace detail

}  // namespace nova::train
