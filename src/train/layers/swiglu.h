// The SwiGLU activation out = silu(gate) * up, silu(g) = g * sigmoid(g), elementwise.
#pragma once

#include <cstdint>

namespace nova::train {

// The inference kernel's arithmetic (kernels/cpu/activations.h). out may not alias the inputs
// when their values are needed for the backward.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
// dgate, dup written: dgate = dout * up * sigmoid(g) * (1 + g * (1 - sigmoid(g))), dup = dout * silu(g).
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);

}  // namespace nova::train
