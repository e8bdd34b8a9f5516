// Rotary position embedding (rotate_half convention), in place. The forward is the inference
// kernel itself (kernels/cpu/rope.h); the backward applies the inverse rotation (the transpose
// of a rotation), i.e. the same pairs rotated by -angle.
#pragma once

#include <cstdint>

namespace nova::train {

// x: [rows, heads, head_dim]; cos, sin: [rows, half] (one table row per x row); the first
// 2*half features of each head are rotated as pairs (i, i + half).
void rope_forward(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                  int64_t half);
// dx (the gradient of the rotated output) becomes the gradient of the input, in place.
void rope_backward(float* dx, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                   int64_t half);

}  // namespace nova::train
