// The SwiGLU activation out = silu(gate) * up, silu(g) = g * sigmoid(g), elementwise.
#pragma once

#include <cstdint>

namespace nova::train {

// Vectorised (train/layers/vec_math.h) and threaded; within a few ulp of the inference kernel
// (kernels/cpu/activations.h). out may not alias the inputs when the backward needs them.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
// dgate, dup written: dgate = dout * up * sigmoid(g) * (1 + g * (1 - sigmoid(g))), dup = dout * silu(g).
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);

}  // namespace nova::train
