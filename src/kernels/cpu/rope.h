// Rotary position embedding, rotate_half convention (as transformers' apply_rotary_pos_emb):
// for i < half, (a, b) = (x[i], x[i + half]) becomes (a*cos - b*sin, b*cos + a*sin).
#pragma once

#include <cstdint>

namespace nova::kernels::cpu {

// x: [rows, heads, head_dim], rotated in place over its first 2*half features per head;
// cos, sin: [rows, half].
void rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin, int64_t half);

}  // namespace nova::kernels::cpu
